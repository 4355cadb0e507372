"""The demo's stage runners, each a thin driver over another family's public functions:
extraction (the ``hf`` extractor, cached), sentence similarity
(:func:`~interlingua.plugins.similarity.compare.compare_layers`), dictionary induction
(:func:`~interlingua.plugins.concepts.dictionary_induction.induce_from_store`), Procrustes
word translation
(:func:`~interlingua.plugins.similarity.word_translation.evaluate_word_translation`) and
latent concepts are in :mod:`.concepts_stage`, the affective stage in
:mod:`.affective_stage`.

Every runner takes the :class:`~interlingua.plugins.demo.config.DemoConfig`, a
:class:`Reporter` (tables and messages on a console, or nothing) and a
:class:`~interlingua.core.progress.Progress`, and returns the JSON-ready entry of
``results.json``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.progress import Progress
from interlingua.plugins.demo.config import DemoConfig

#: Metric specs of the similarity stage (seeds 001, 002).
SIMILARITY_METRICS = ("anc", "cka", "cka:debiased=true", "svcca", "pwcca",
                      "retrieval", "retrieval:method=csls")


class Reporter:
    """Headings, messages and tables on a rich console (``None`` = silent)."""

    def __init__(self, console: Any = None) -> None:
        self.console = console

    def rule(self, text: str) -> None:
        """A heading line."""
        if self.console is not None:
            self.console.rule(f"[bold]{text}")

    def print(self, text: str) -> None:
        """One message (rich markup)."""
        if self.console is not None:
            self.console.print(text, highlight=False)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A table (:func:`interlingua.registry.commands.make_table`)."""
        if self.console is not None:
            from interlingua.registry.commands import make_table

            self.console.print(make_table(title, columns, rows))


def cache_name(cfg: DemoConfig, what: str, extra: Any = None) -> str:
    """File name of a cached store: ``<what>-<model>-<hash of the settings>.h5``.

    Parameters
    ----------
    cfg : DemoConfig
        The settings that determine the store (model, data, pairs, layers, pooling).
    what : str
        ``"bible"`` (the parallel verses) or ``"words"`` (the affective words).
    extra : Any
        More JSON-serialisable settings that determine the store.
    """
    key = json.dumps([what, cfg.model, str(Path(cfg.data).resolve()), cfg.pairs, cfg.layers,
                      cfg.sentence_pooling, cfg.languages, cfg.model_dtype, extra],
                     sort_keys=True, default=str)
    name = cfg.model.replace("builtin:", "").replace("/", "_")
    return f"{what}-{name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.h5"


def read_pairs(cfg: DemoConfig) -> tuple[list[str], list[str]]:
    """The first ``cfg.pairs`` rows of the parallel TSV as (lang_a texts, lang_b texts).

    Raises
    ------
    InputError
        The file has no ``lang_a``–``lang_b`` pair.
    """
    from interlingua.plugins.extraction.corpus import read_corpus

    corpus = read_corpus(cfg.data, format="tsv")
    by_pair: dict[int, dict[str, str]] = {}
    for s in corpus:
        by_pair.setdefault(s.pair_id, {})[s.lang] = s.text or " ".join(s.words)
    ids = sorted(p for p, d in by_pair.items() if cfg.lang_a in d and cfg.lang_b in d)
    if not ids:
        raise InputError(f"{cfg.data}: no {cfg.lang_a}-{cfg.lang_b} sentence pairs")
    if cfg.pairs is not None:
        ids = ids[: cfg.pairs]
    return [by_pair[i][cfg.lang_a] for i in ids], [by_pair[i][cfg.lang_b] for i in ids]


def extract_store(cfg: DemoConfig, corpus: Any, path: Path, rep: Reporter,
                  progress: Progress) -> dict[str, Any]:
    """Extract into ``path`` unless a complete store with these settings is there.

    Parameters
    ----------
    cfg : DemoConfig
        Model, layers, batch size and sentence pooling of the ``hf`` extractor.
    corpus : Corpus or sequence of SentenceRecord
        What to extract.
    path : Path
        The cached store (an interrupted one is resumed, or redone if that fails).
    rep : Reporter
        Messages.
    progress : Progress
        Passed to the extractor.

    Returns
    -------
    dict
        ``path``, ``state`` (``new``, ``cached``, ``resumed`` or ``redone``), ``seconds``
        and the extractor's run summary.
    """
    import warnings

    from interlingua.core.store import ActivationStore
    from interlingua.registry import get_extractor

    ex = get_extractor("hf", model=cfg.model, layers=cfg.layers, batch_size=cfg.batch_size,
                       sentence_pooling=cfg.sentence_pooling, model_dtype=cfg.model_dtype,
                       progress=rep.console is not None)
    start = time.perf_counter()
    state = "new"
    if path.exists():
        try:
            with ActivationStore.open(path):
                state = "cached"
        except Exception:  # incomplete (interrupted) or unreadable: resume / redo
            state = "resumed"
    if state == "cached":
        rep.print(f"reusing cached store [cyan]{path}[/cyan]")
        return {"path": str(path), "state": "cached", "seconds": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            ex.extract(corpus, path, resume=state == "resumed", progress=progress)
        except InputError:
            if state != "resumed":
                raise
            state = "redone"
            ex.extract(corpus, path, overwrite=True, progress=progress)
    return {"path": str(path), "state": state, "seconds": time.perf_counter() - start,
            **{k: v for k, v in getattr(ex, "last_run_", {}).items()
               if isinstance(v, (int, float, str))}}


def similarity_stage(cfg: DemoConfig, store: Any, layers: list[str], rep: Reporter,
                     progress: Progress) -> dict[str, Any]:
    """Layer-wise ANC, CKA, SVCCA/PWCCA and sentence retrieval between the two languages'
    verse representations (seed 001 §4.1, seed 002 §5.2).

    Parameters
    ----------
    cfg : DemoConfig
        The run's settings.
    store : ActivationStore
        The open store of the parallel verses.
    layers : list of str
        Layers to compare.
    rep, progress
        Tables and progress.

    Returns
    -------
    dict
        The JSON of ``interlingua compare`` (meta, layers, metrics, results).
    """
    from interlingua.plugins.similarity.compare import compare_layers
    from interlingua.plugins.similarity.comparison import comparison_json

    n = len(store.parallel_rows(cfg.lang_a, cfg.lang_b)[0])
    dim = int(store.layer(layers[-1], "sentences").dim)
    # CCA over all neurons needs more verse pairs than neurons (seed 001 §3.1).
    metrics = [m for m in SIMILARITY_METRICS if m != "pwcca" or n > dim]
    if len(metrics) < len(SIMILARITY_METRICS):
        rep.print(f"[yellow]PWCCA skipped: {n} verse pairs for {dim} neurons (CCA needs more "
                  "rows than neurons)[/yellow]")
    comp = compare_layers(store, None, metrics, lang_a=cfg.lang_a,
                          lang_b=cfg.lang_b, level="sentences", layers=layers,
                          progress=progress)
    labels = list(comp.results)
    rows = [[layer, *[comp.results[m][layer].value for m in labels]] for layer in layers]
    rep.table(f"sentence similarity {cfg.lang_a}-{cfg.lang_b} ({comp.meta['n']} verse pairs)",
              ["layer", *labels], rows)
    return comparison_json(comp)


def dictionary_stage(cfg: DemoConfig, store: Any, out: Path, rep: Reporter,
                     progress: Progress) -> tuple[Any, str]:
    """Induce a lexical table from the store's ``lang_a``–``lang_b`` verses (eflomal, else
    IBM 1) and write ``out/dictionary-<lang_a>-<lang_b>.txt`` (10-best translations per
    word).

    Parameters
    ----------
    cfg : DemoConfig
        The run's settings.
    store : ActivationStore
        The open store of the parallel verses.
    out : Path
        The report directory.
    rep, progress
        Messages and progress.

    Returns
    -------
    table : LexicalTable
        The induced table (:meth:`dictionary` gives p(t|s)).
    backend : str
        ``"eflomal"`` or ``"ibm1"``.
    """
    from interlingua.plugins.concepts.dictionary_induction import induce_from_store

    try:
        import eflomal  # noqa: F401

        backend = "eflomal"
    except ImportError:
        backend = "ibm1"
        rep.print("[yellow]eflomal is not installed: using the IBM Model 1 aligner[/yellow]")
    table = induce_from_store(store, cfg.lang_a, cfg.lang_b, backend=backend, progress=progress)
    table.write_arrow(out / dictionary_file(cfg.lang_a, cfg.lang_b), nbest=10)
    return table, backend


def dictionary_file(lang_a: str, lang_b: str) -> str:
    """File name of the induced ``lang_a`` → ``lang_b`` dictionary in the report."""
    return f"dictionary-{lang_a}-{lang_b}.txt"


def model_slug(model: str) -> str:
    """A model name usable in file names (``builtin:gemma-3-270m`` → ``gemma-3-270m``)."""
    return str(model).replace("builtin:", "").replace("/", "_").replace(":", "_")


def _type_vectors(store: Any, layer: str, rows: np.ndarray, index: np.ndarray,
                  n_types: int) -> np.ndarray:
    """Mean occurrence row per word type (``index`` = type of each row)."""
    X = store.layer(layer, "words").read(rows).astype(np.float64)
    sums = np.zeros((n_types, X.shape[1]))
    np.add.at(sums, index, X)
    return sums / np.bincount(index, minlength=n_types)[:, None]


def _vocab(store: Any, lang: str, min_count: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Word types with ≥ min_count occurrences: (types, their occurrence rows, type index)."""
    rows = store.word_rows(lang)
    words = store.words.text[rows]
    types, inverse, counts = np.unique(words, return_inverse=True, return_counts=True)
    keep_type = counts >= min_count
    new_id = np.cumsum(keep_type) - 1
    mask = keep_type[inverse]
    return [str(t) for t in types[keep_type]], rows[mask], new_id[inverse[mask]]


def word_translation_stage(cfg: DemoConfig, store: Any, layers: list[str], table: Any,
                           rep: Reporter, progress: Progress) -> dict[str, Any]:
    """Procrustes word translation per layer (seed 002 §5.1): word vectors = mean of a
    type's occurrence rows; the map is fitted on 80 % of the dictionary's 1-best pairs
    inside both vocabularies, P@k by cosine and CSLS on the rest.

    Parameters
    ----------
    cfg : DemoConfig
        The run's settings.
    store : ActivationStore
        The open store of the parallel verses.
    layers : list of str
        Layers to evaluate.
    table : LexicalTable
        From :func:`dictionary_stage`.
    rep, progress
        Tables and progress.

    Returns
    -------
    dict
        Per-layer precision, the train/test/gold pairs and vocabulary sizes.
    """
    from interlingua.plugins.similarity.word_translation import evaluate_word_translation

    src_types, src_rows, src_idx = _vocab(store, cfg.lang_a, cfg.wt_min_count)
    tgt_types, tgt_rows, tgt_idx = _vocab(store, cfg.lang_b, cfg.wt_min_count)
    tgt_set = set(tgt_types)
    dictionary = table.dictionary()
    pairs = []
    for s in src_types:
        if not any(ch.isalpha() for ch in s):
            continue  # punctuation and numbers translate trivially
        best = dictionary.translations(s, 1)
        if best and best[0] in tgt_set:
            pairs.append((s, best[0]))
    if len(pairs) < 20:
        raise InputError(f"only {len(pairs)} dictionary pairs inside the vocabularies")
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(pairs))
    n_test = max(10, len(pairs) // 5)
    test = [pairs[i] for i in order[:n_test]]
    train = [pairs[i] for i in order[n_test:]]
    # Gold: every translation with p(t|s) >= 0.1 counts (seed 002 counts any gold
    # translation); the 1-best is always among them.
    gold_test = [(s, t) for s, _ in test for t in dictionary.translations(s, 10)
                 if t in tgt_set and (dictionary.probability(s, t) or 0.0) >= 0.1]
    results: dict[str, Any] = {}
    with progress.task("word translation", total=len(layers)) as task:
        for layer in layers:
            S = _type_vectors(store, layer, src_rows, src_idx, len(src_types))
            T = _type_vectors(store, layer, tgt_rows, tgt_idx, len(tgt_types))
            res = evaluate_word_translation(S, src_types, T, tgt_types, train, gold_test,
                                            ks=(1, 5, 10))
            results[layer] = res.to_dict()
            task.update(description=f"word translation: {layer}")
            task.advance()
    rows = [[layer, results[layer]["precision"]["cosine"]["p@1"],
             results[layer]["precision"]["csls"]["p@1"],
             results[layer]["precision"]["csls"]["p@10"]] for layer in layers]
    rep.table(f"Procrustes word translation {cfg.lang_a}->{cfg.lang_b} "
              f"({len(train)} train pairs, {len(test)} test words)",
              ["layer", "P@1 cosine", "P@1 CSLS", "P@10 CSLS"], rows)
    return {"layers": layers, "results": results, "n_train": len(train), "n_test": len(test),
            "n_src_types": len(src_types), "n_tgt_types": len(tgt_types),
            "min_count": cfg.wt_min_count, "test_pairs": test, "train_pairs": train,
            "gold_test_pairs": gold_test}


__all__ = ["SIMILARITY_METRICS", "Reporter", "cache_name", "dictionary_file",
           "dictionary_stage", "extract_store", "model_slug", "read_pairs", "similarity_stage",
           "word_translation_stage"]
