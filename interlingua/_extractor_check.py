"""The extractor contract check; public as :func:`interlingua.testing.check_extractor`.

Kept apart from :mod:`interlingua.testing` (which holds the checks that need no model)
because it runs a real model: a tiny local one built with
:func:`~interlingua.plugins.extraction.models.tiny.build_tiny_model` unless a model
directory is given.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interlingua._check_common import check_declarations, fail
from interlingua.core.errors import InterlinguaError
from interlingua.core.interfaces import Extractor

#: Two languages, three translation pairs (words the tiny models' tokenizers know).
CORPUS: tuple[tuple[str, int, str], ...] = (
    ("en", 0, "Hello world , this is a small test sentence ."),
    ("de", 0, "Der schnelle braune Fuchs springt ."),
    ("en", 1, "The quick brown fox jumps over the lazy dog ."),
    ("de", 1, "über den faulen Hund ."),
    ("en", 2, "the dog"),
    ("de", 2, "Hund"),
)
_SIMPLE = (type(None), bool, int, float, str, Path)


def _is_simple(value: Any) -> bool:
    if isinstance(value, _SIMPLE):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_simple(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_simple(v) for k, v in value.items())
    return False


def _listing(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_mtime_ns
            for p in directory.rglob("*")}


def _digest(path: Path) -> tuple[str, int, int]:
    """Content hash, inode and modification time: any rewrite changes one of them."""
    stat = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_ino, stat.st_mtime_ns


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _records() -> list[Any]:
    from interlingua.core.store import SentenceRecord

    return [SentenceRecord(words=text.split(), lang=lang, pair_id=pid)
            for lang, pid, text in CORPUS]


def check_extractor(
    extractor: Extractor | Callable[..., Extractor],
    model_dir: str | os.PathLike | None = None,
    *,
    expected_layers: Sequence[str] | None = None,
    workdir: str | os.PathLike | None = None,
) -> None:
    """Check an extractor against the :class:`~interlingua.core.Extractor` contract.

    Runs the extractor on a tiny two-language corpus (six sentences, three translation
    pairs, given as :class:`~interlingua.core.store.SentenceRecord` objects) with a
    tiny local model, and checks:

    * declared parameters, the ``get_params`` / constructor and ``set_params`` /
      ``get_params`` round trips;
    * ``__init__`` does no work: no file created, no model loaded (construction
      succeeds with a model path that does not exist and stores only plain values);
    * ``extract`` returns the output path of a complete store that
      :meth:`~interlingua.core.store.ActivationStore.open` reads: every layer at both
      levels with one row per word / sentence, the corpus' words, languages and pair
      ids;
    * determinism: a second run gives identical arrays;
    * an existing output is refused without ``overwrite`` and left untouched;
    * ``resume=True`` on a complete store returns it unchanged.

    Parameters
    ----------
    extractor : Extractor or callable
        An instance (its parameters are used, with ``model`` replaced), or a factory
        (class) called with keyword parameters.
    model_dir : path-like, optional
        A local model directory the extractor can run. ``None`` builds a tiny random
        BERT (needs torch, transformers and tokenizers).
    expected_layers : sequence of str, optional
        The layer names the store must hold (e.g. ``["0", "1", "2"]`` for a two-layer
        model with embeddings); by default any non-empty set of layers.
    workdir : path-like, optional
        Directory for the stores (they go to a new subdirectory; a temporary directory,
        removed afterwards, by default).

    Raises
    ------
    AssertionError
        Naming the extractor and the broken part of the contract.
    """
    from interlingua.core.store import ActivationStore

    factory = type(extractor) if isinstance(extractor, Extractor) else extractor
    base = extractor.get_params() if isinstance(extractor, Extractor) else {}
    with contextlib.ExitStack() as stack:
        if workdir is None:
            work = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="interlingua-check-")))
        else:  # a fresh directory inside, so that a second check starts clean
            Path(workdir).mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix="check-extractor-", dir=workdir))
        if model_dir is None:
            from interlingua.plugins.extraction.models.tiny import build_tiny_model

            model_dir = build_tiny_model("bert", work / "tiny-bert")
        model_dir = Path(model_dir)
        declared = {p.name for p in getattr(factory, "params", ())}
        params = {**base}
        if "model" in declared:
            params["model"] = str(model_dir)
        if "progress" in declared:
            params["progress"] = False

        def make(**overrides: Any) -> Extractor:
            return factory(**{**params, **overrides})

        # First construction in an empty directory: a busy __init__ leaves files there.
        _check_lazy_init(make, factory, model_dir, work, "model" in declared)
        sample = make()
        check_declarations(sample, Extractor)
        _check_set_params(make(), "model" in declared)

        out = work / "first.h5"
        returned = make().extract(_records(), out)
        if Path(returned) != out:
            raise fail(sample, f"extract() returned {returned!r}, expected the output {out}")
        with ActivationStore.open(out) as store:
            arrays = _check_store(sample, store, expected_layers)
        with ActivationStore.open(make().extract(_records(), work / "second.h5")) as again:
            for key, values in arrays.items():
                other = again.layer(*key)[:]
                if not np.array_equal(values, other):
                    raise fail(sample, f"not deterministic: layer {key[0]!r} ({key[1]}) differs "
                                        "between two runs")
        digest = _digest(out)
        try:
            make().extract(_records(), out)
        except (ValueError, InterlinguaError) as exc:
            if not str(exc):
                raise fail(sample, "refusing an existing output: no message") from None
        else:
            raise fail(sample, "extract() overwrote an existing store without overwrite=True")
        if _digest(out) != digest:
            raise fail(sample, "refusing an existing output changed the file")
        resumed = make().extract(_records(), out, resume=True)
        if Path(resumed) != out or _digest(out) != digest:
            raise fail(sample, "resume=True on a complete store must return it unchanged")


def _check_set_params(obj: Extractor, takes_model: bool) -> None:
    """``set_params`` returns the instance and ``get_params`` reads the new values back."""
    params = obj.get_params()
    if obj.set_params(**params) is not obj or obj.get_params() != params:
        raise fail(obj, "set_params(**get_params()) must return self and change nothing")
    if takes_model:
        obj.set_params(model="elsewhere")
        if obj.get_params()["model"] != "elsewhere":
            raise fail(obj, "set_params(model=...) is not reflected by get_params()")


def _check_lazy_init(make: Callable[..., Extractor], factory: Any, model_dir: Path,
                     work: Path, takes_model: bool) -> None:
    """``__init__`` stores parameters only: no file, no model, no failure on a bad path."""
    empty = work / "init-cwd"
    empty.mkdir(exist_ok=True)
    before = _listing(model_dir)
    with _cwd(empty):
        obj = make(model=str(work / "no-such-model")) if takes_model else make()
    if any(empty.iterdir()):
        raise fail(factory, f"__init__ created files: {sorted(p.name for p in empty.iterdir())}")
    if _listing(model_dir) != before:
        raise fail(factory, "__init__ changed the model directory")
    heavy = sorted(k for k, v in vars(obj).items() if not _is_simple(v))
    if heavy:
        raise fail(factory, f"__init__ stored non-parameter objects {heavy} (load models in "
                             "extract(), not in __init__)")


def _check_store(plugin: Extractor, store: Any, expected_layers: Sequence[str] | None,
                 ) -> dict[tuple[str, str], np.ndarray]:
    """Check the metadata and rows of the first run; returns every layer's rows."""
    if not store.complete:
        raise fail(plugin, "the store is not marked complete")
    if store.attrs.get("extractor") != plugin.name:
        raise fail(plugin, f"store attribute extractor={store.attrs.get('extractor')!r}, "
                            f"expected {plugin.name!r}")
    records = _records()
    if store.n_sentences != len(records):
        raise fail(plugin, f"{store.n_sentences} sentences stored for {len(records)}")
    if list(store.sentences.lang) != [r.lang for r in records] or \
            store.sentences.pair_id.tolist() != [r.pair_id for r in records]:
        raise fail(plugin, "languages / pair ids of the stored sentences differ from the corpus")
    lengths = np.diff(store.sentences.word_offsets).tolist()
    if lengths != [len(r.words) for r in records]:
        raise fail(plugin, f"words per sentence {lengths}, corpus has "
                            f"{[len(r.words) for r in records]}")
    if list(store.words.text) != [w for r in records for w in r.words]:
        raise fail(plugin, "stored words differ from the corpus words")
    if store.words.sentence.tolist() != np.repeat(np.arange(len(records)), lengths).tolist():
        raise fail(plugin, "words/sentence does not match the word offsets")
    layers = store.layers
    if not layers or (expected_layers is not None and layers != list(expected_layers)):
        raise fail(plugin, f"layers {layers}, expected {list(expected_layers or ['(any)'])}")
    arrays: dict[tuple[str, str], np.ndarray] = {}
    for name in layers:
        if store.levels(name) != ["words", "sentences"]:
            raise fail(plugin, f"layer {name!r} has levels {store.levels(name)}, expected "
                                "words and sentences")
        for level, rows in (("words", store.n_words), ("sentences", store.n_sentences)):
            values = store.layer(name, level)[:]
            if values.shape[0] != rows or values.shape[1] < 1 or not np.isfinite(values).all():
                raise fail(plugin, f"layer {name!r} ({level}): shape {values.shape} for "
                                    f"{rows} rows, or non-finite values")
            arrays[(name, level)] = values
    return arrays


__all__ = ["CORPUS", "check_extractor"]
