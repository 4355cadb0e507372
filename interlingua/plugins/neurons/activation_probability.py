"""Activation probabilities per neuron and language, counted streaming (Tang et al.
2024, "Language-Specific Neurons: The Key to Multilingual Capabilities in Large Language
Models", §2).

For neuron ``j`` (one output unit of a watched module, by default the FFN
activation-function output: see :mod:`~interlingua.plugins.extraction.modules`) and
language ``ℓ``, ``p_{j,ℓ} = P(act_j > 0)`` over the tokens of ``ℓ``'s text.
:func:`count_activations` runs a model over each language's sentences and keeps, per
module, the int64 number of tokens on which each neuron is positive, per language, and
the int64 number of tokens per language: memory is modules × neurons × languages and
never grows with the corpus. The counts (:class:`ActivationCounts`) merge by addition
(two halves of a corpus, or languages run separately, like Tang et al.'s per-language
runs) and are saved as HDF5 (no pickle).

Which tokens count: the tokens of the sentence's words — attention mask 1 (no padding)
and not a special token (the tokenizer's special-tokens mask: BOS/CLS/SEP/EOS/PAD) and
not part of a ``prefix`` (e.g. e5's ``"passage: "``). Tokenization, the subword → word
map and length-sorted batching are the extraction family's
(:func:`~interlingua.plugins.extraction.words.tokenize_window`,
:func:`~interlingua.plugins.extraction.forward.plan_batches`,
:func:`~interlingua.plugins.extraction.forward.run_model`: right padding, so a
sentence's tokens sit where they would sit alone), and so is model loading
(:func:`~interlingua.plugins.extraction.loading.load_model`: safetensors only unless
``allow_pickle``, no remote code unless ``trust_remote_code``, Gemma refused in float16).
Encoder–decoder models count encoder modules on the sentence and decoder modules on the
teacher-forced sentence (decoder input = start token + the sentence), the start token
excluded.

Differences from Tang et al.'s code (``activation.py``): they count every position of
fixed-length windows of concatenated text; here sentences are counted one by one,
without special tokens. ``torch``, ``transformers`` and ``h5py`` are imported inside
functions only.

This module is longer than ~400 lines because :class:`ActivationCounts` (merge, checks,
HDF5 round trip) and the counting loop share one validated layout; splitting the
container into its own module is planned with the interventions of issue 13.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError, StoreError
from interlingua.core.params import Configurable, Param
from interlingua.core.progress import Progress, as_progress
from interlingua.core.suggest import did_you_mean
from interlingua.plugins.extraction.modules import layer_labels, record, resolve_modules

#: ``format`` attribute of a counts file, and its version.
FORMAT = "interlingua-activation-counts"
FORMAT_VERSION = 1
MODEL_DTYPES = ("float32", "float16", "bfloat16")


class CountSettings(Configurable):
    """The settings of :func:`count_activations`, declared once: they give the
    function's keyword defaults and the ``lape`` command's options."""

    name = "lape-counts"
    params = (
        Param("modules", "mlp-act", "Modules whose outputs are the neurons, comma "
              "separated: a preset (mlp-act = the FFN activation-function output of the "
              "architecture), globs such as 'layers.*.mlp.act_fn' (* = one name part, "
              "** = any), or module names.", str),
        Param("batch_size", 32, "Sentences per forward pass.", int),
        Param("max_batch_tokens", 8192, "Max tokens per forward pass incl. padding.", int),
        Param("max_length", None, "Max tokens per sentence incl. special tokens (null = "
              "the model's limit); longer sentences are truncated and counted.", int),
        Param("sort_window", 256, "Sentences tokenized and length-sorted together.", int),
        Param("model_dtype", "float32", "dtype the model runs in.", str, MODEL_DTYPES),
        Param("device", "auto", "auto, cpu, cuda or cuda:N.", str),
        Param("prefix", "", "Text put before every sentence, not counted (e.g. "
              "'passage: ' for e5 models).", str),
        Param("revision", None, "Hub revision (branch, tag or commit).", str),
        Param("trust_remote_code", False, "Allow code shipped with the checkpoint.", bool),
        Param("allow_pickle", False, "Allow pickled (.bin) weights.", bool),
    )


    def check_params(self) -> None:
        """Check the ranges (before any work).

        Raises
        ------
        InputError
            A size below its minimum.
        """
        for key in ("batch_size", "sort_window", "max_batch_tokens"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise InputError(f"{key} must be >= 1, got {value}")
        if self.max_length is not None and self.max_length < 2:
            raise InputError(f"max_length must be >= 2, got {self.max_length}")


_D = {p.name: p.default for p in CountSettings.params}


def _integer_counts(what: str, values: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``values`` as non-negative int64 of ``shape``, or one-line InputError."""
    arr = np.asarray(values)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == np.bool_):
        raise InputError(f"{what}: expected integer counts, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise InputError(f"{what}: expected shape {shape}, got {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.complexfloating):
        if np.isnan(arr).any():
            raise InputError(f"{what} contain NaN; counts are whole numbers of tokens")
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise InputError(f"{what} are not whole numbers")
    arr = arr.astype(np.int64)
    if (arr < 0).any():
        raise InputError(f"{what} contain negative values")
    return arr


class ActivationCounts:
    """How often each neuron is positive, per language, and tokens per language.

    Parameters
    ----------
    languages : sequence of str
        Language codes (unique), the row order of every count array.
    modules : sequence of str
        Module names (unique), in model order; each module's outputs are its neurons.
    active : mapping or sequence of array-like
        Per module (by name, or in ``modules`` order): ``(n_languages, n_neurons)``
        integer counts of tokens with activation > 0.
    tokens : array-like
        ``(n_languages,)`` counted tokens per language (each > 0).
    sentences : array-like, optional
        ``(n_languages,)`` sentences per language (bookkeeping; default zeros).
    meta : dict, optional
        JSON-ready description of the run (model, dtype, modules spec, ...).

    Raises
    ------
    InputError
        Duplicate or missing languages/modules, a language without tokens, counts that
        are NaN, fractional, negative, of the wrong shape, or larger than the tokens.
    """

    def __init__(self, languages: Sequence[str], modules: Sequence[str],
                 active: Mapping[str, Any] | Sequence[Any], tokens: Any,
                 sentences: Any = None, meta: dict[str, Any] | None = None) -> None:
        self.languages = [str(x) for x in languages]
        self.modules = [str(m) for m in modules]
        if not self.languages:
            raise InputError("activation counts need at least one language")
        if not self.modules:
            raise InputError("activation counts need at least one module")
        for what, items in (("language", self.languages), ("module", self.modules)):
            dup = sorted({x for x in items if items.count(x) > 1})
            if dup:
                raise InputError(f"duplicate {what} {dup[0]!r} in activation counts")
        n = len(self.languages)
        self.tokens = _integer_counts("token counts", tokens, (n,))
        self.sentences = (np.zeros(n, dtype=np.int64) if sentences is None
                          else _integer_counts("sentence counts", sentences, (n,)))
        empty = [lang for lang, t in zip(self.languages, self.tokens) if t == 0]
        if empty:
            raise InputError(f"language {empty[0]!r} has no counted tokens; activation "
                             "probabilities need at least one token per language")
        if isinstance(active, Mapping):
            extra = sorted(set(active) - set(self.modules))
            if extra:
                raise InputError(f"counts for unknown module {extra[0]!r} (modules: "
                                 f"{', '.join(self.modules)})")
            missing = [m for m in self.modules if m not in active]
            if missing:
                raise InputError(f"no counts for module {missing[0]!r}")
            arrays = [active[m] for m in self.modules]
        else:
            arrays = list(active)
            if len(arrays) != len(self.modules):
                raise InputError(f"{len(arrays)} count arrays for {len(self.modules)} modules")
        self.active: dict[str, np.ndarray] = {}
        for name, values in zip(self.modules, arrays):
            arr = np.asarray(values)
            width = arr.shape[1] if arr.ndim == 2 else -1
            if width < 1:
                raise InputError(f"counts of module {name!r}: expected shape (languages, "
                                 f"neurons) = ({n}, d), got {arr.shape}")
            arr = _integer_counts(f"counts of module {name!r}", arr, (n, width))
            over = np.flatnonzero((arr > self.tokens[:, None]).any(axis=1))
            if over.size:
                raise InputError(f"counts of module {name!r} exceed the token count of "
                                 f"language {self.languages[over[0]]!r}")
            self.active[name] = arr
        self.meta: dict[str, Any] = dict(meta or {})

    # -- shape ---------------------------------------------------------------------
    @property
    def widths(self) -> list[int]:
        """Neurons per module, in module order."""
        return [self.active[m].shape[1] for m in self.modules]

    @property
    def offsets(self) -> np.ndarray:
        """Start of each module in the flat neuron numbering (plus the total at the end)."""
        return np.concatenate([[0], np.cumsum(self.widths)]).astype(np.int64)

    @property
    def n_neurons(self) -> int:
        """Neurons over all modules."""
        return int(sum(self.widths))

    @property
    def layers(self) -> list[str]:
        """Layer label of each module: its block index (``encoder/i`` / ``decoder/i`` in
        encoder–decoder models), see :func:`~interlingua.plugins.extraction.modules.layer_labels`."""
        return layer_labels(self.modules)

    def _module(self, module: str) -> str:
        if module not in self.active:
            hint = did_you_mean(module, self.modules)
            more = ", ..." if len(self.modules) > 4 else ""
            raise InputError(f"unknown module {module!r}{hint} (counted: "
                             f"{', '.join(self.modules[:4])}{more})")
        return module

    def locate(self, flat: Any) -> tuple[str, int]:
        """``(module, neuron index within the module)`` of a flat neuron index."""
        j = int(flat)
        if not 0 <= j < self.n_neurons:
            raise InputError(f"neuron {j} out of range 0..{self.n_neurons - 1}")
        k = int(np.searchsorted(self.offsets, j, side="right") - 1)
        return self.modules[k], j - int(self.offsets[k])

    # -- values --------------------------------------------------------------------
    def positive(self, module: str | None = None) -> np.ndarray:
        """Counts of activation > 0, ``(n_languages, n_neurons)`` int64 (all modules
        concatenated in module order when ``module`` is None)."""
        if module is not None:
            return self.active[self._module(module)]
        return np.concatenate([self.active[m] for m in self.modules], axis=1)

    def probabilities(self, module: str | None = None) -> np.ndarray:
        """``p[ℓ, j] = P(act_j > 0)`` over the tokens of language ``ℓ``: float64,
        ``(n_languages, n_neurons)`` (all modules concatenated when ``module`` is None)."""
        return self.positive(module) / self.tokens[:, None].astype(np.float64)

    # -- combining -----------------------------------------------------------------
    def merge(self, other: ActivationCounts) -> ActivationCounts:
        """Counts over both corpora: languages in ``self``'s order, then ``other``'s new
        ones; a language in both gets the sum.

        Raises
        ------
        InputError
            Different modules or neuron counts, or different models (``meta["model"]``).
        """
        if not isinstance(other, ActivationCounts):
            raise InputError(f"cannot merge activation counts with {type(other).__name__}")
        if other.modules != self.modules or other.widths != self.widths:
            raise InputError("cannot merge activation counts of different modules or "
                             "neuron counts")
        a, b = self.meta.get("model"), other.meta.get("model")
        if a and b and a != b:
            raise InputError(f"cannot merge activation counts of different models "
                             f"({a!r} and {b!r})")
        languages = self.languages + [x for x in other.languages if x not in self.languages]
        rows = {lang: i for i, lang in enumerate(languages)}
        n = len(languages)
        tokens = np.zeros(n, dtype=np.int64)
        sentences = np.zeros(n, dtype=np.int64)
        active = {m: np.zeros((n, w), dtype=np.int64) for m, w in zip(self.modules, self.widths)}
        for part in (self, other):
            idx = np.array([rows[x] for x in part.languages])
            tokens[idx] += part.tokens
            sentences[idx] += part.sentences
            for m in self.modules:
                active[m][idx] += part.active[m]
        meta = dict(self.meta)
        if other.meta.get("n_truncated") or self.meta.get("n_truncated"):
            trunc = dict(self.meta.get("n_truncated") or {})
            for lang, k in (other.meta.get("n_truncated") or {}).items():
                trunc[lang] = trunc.get(lang, 0) + k
            meta["n_truncated"] = trunc
        return ActivationCounts(languages, self.modules, active, tokens, sentences, meta)

    def __add__(self, other: ActivationCounts) -> ActivationCounts:
        return self.merge(other)

    def select(self, languages: Iterable[str]) -> ActivationCounts:
        """The counts of some languages only, in the given order."""
        wanted = [str(x) for x in languages]
        for lang in wanted:
            if lang not in self.languages:
                raise InputError(f"unknown language {lang!r}{did_you_mean(lang, self.languages)}"
                                 f" (counted: {', '.join(self.languages)})")
        idx = [self.languages.index(x) for x in wanted]
        return ActivationCounts(wanted, self.modules, {m: a[idx] for m, a in self.active.items()},
                                self.tokens[idx], self.sentences[idx], self.meta)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActivationCounts):
            return NotImplemented
        return (self.languages == other.languages and self.modules == other.modules
                and np.array_equal(self.tokens, other.tokens)
                and np.array_equal(self.sentences, other.sentences)
                and all(np.array_equal(self.active[m], other.active[m]) for m in self.modules))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"ActivationCounts({len(self.languages)} languages, {len(self.modules)} "
                f"modules, {self.n_neurons} neurons, {int(self.tokens.sum())} tokens)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no count arrays)."""
        return {"languages": self.languages, "modules": self.modules, "layers": self.layers,
                "widths": self.widths, "n_neurons": self.n_neurons,
                "tokens": dict(zip(self.languages, self.tokens.tolist())),
                "sentences": dict(zip(self.languages, self.sentences.tolist())),
                "meta": self.meta}

    # -- files ---------------------------------------------------------------------
    def to_hdf5(self, path: str | Path, *, overwrite: bool = False,
                inputs: Iterable[str | Path | None] = ()) -> Path:
        """Write the counts to an HDF5 file, atomically (no pickle).

        Layout: root attributes ``format`` (:data:`FORMAT`), ``version``,
        ``languages``, ``modules`` and ``meta`` (JSON text); datasets ``tokens`` and
        ``sentences`` ``(n_languages,)`` and ``active/<k>`` ``(n_languages, n_neurons)``
        (int64, one per module in order, attribute ``module`` = its name).

        Raises
        ------
        OutputError
            ``path`` exists (without ``overwrite``) or is one of ``inputs``.
        """
        import h5py

        from interlingua.core.outputs import atomic_output
        from interlingua.core.result import to_jsonable

        with atomic_output(path, inputs=inputs, overwrite=overwrite) as tmp:
            with h5py.File(tmp, "w") as fh:
                fh.attrs["format"] = FORMAT
                fh.attrs["version"] = FORMAT_VERSION
                fh.attrs["languages"] = json.dumps(self.languages)
                fh.attrs["modules"] = json.dumps(self.modules)
                fh.attrs["meta"] = json.dumps(to_jsonable(self.meta))
                fh.create_dataset("tokens", data=self.tokens)
                fh.create_dataset("sentences", data=self.sentences)
                group = fh.create_group("active")
                for k, name in enumerate(self.modules):
                    ds = group.create_dataset(f"{k:04d}", data=self.active[name],
                                              compression="gzip", shuffle=True)
                    ds.attrs["module"] = name
        return Path(path)

    @classmethod
    def from_hdf5(cls, path: str | Path) -> ActivationCounts:
        """Read counts written by :meth:`to_hdf5`.

        Raises
        ------
        StoreError
            Not a counts file (or a newer version), or a corrupt one.
        """
        import h5py

        from interlingua.core.h5files import open_hdf5

        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path}: no such file")
        if not h5py.is_hdf5(path):
            raise StoreError(f"{path}: not an HDF5 file")
        with open_hdf5(path) as fh:
            if fh.attrs.get("format") != FORMAT:
                raise StoreError(f"{path}: not an activation counts file (format "
                                 f"{fh.attrs.get('format')!r}, expected {FORMAT!r})")
            version = int(fh.attrs.get("version", 0))
            if version > FORMAT_VERSION:
                raise StoreError(f"{path}: counts format version {version} is newer than "
                                 f"this interlingua reads ({FORMAT_VERSION}); upgrade")
            try:
                languages = json.loads(fh.attrs["languages"])
                modules = json.loads(fh.attrs["modules"])
                meta = json.loads(fh.attrs.get("meta", "{}"))
                tokens = fh["tokens"][()]
                sentences = fh["sentences"][()]
                group = fh["active"]
                keys = sorted(group)
                if len(keys) != len(modules):
                    raise StoreError(f"{path}: {len(keys)} count arrays for "
                                     f"{len(modules)} modules")
                active = {}
                for key, name in zip(keys, modules):
                    if group[key].attrs.get("module") != name:
                        raise StoreError(f"{path}: count array {key} is not module {name!r}")
                    active[name] = group[key][()]
            except (KeyError, ValueError, TypeError) as exc:
                raise StoreError(f"{path}: damaged activation counts file ({exc})") from None
        try:
            return cls(languages, modules, active, tokens, sentences, meta)
        except InputError as exc:
            raise StoreError(f"{path}: {exc}") from None


# -- counting -----------------------------------------------------------------------
def _by_language(sentences_by_language: Any) -> dict[str, list[Any]]:
    """``{lang: [CorpusSentence, ...]}`` from a mapping or a Corpus (checked)."""
    from interlingua.plugins.extraction.corpus import Corpus

    if isinstance(sentences_by_language, Corpus):
        groups: dict[str, list[Any]] = {}
        for s in sentences_by_language:
            groups.setdefault(s.lang, []).append(s)
        if not groups:
            raise InputError("the corpus has no sentences")
        return groups
    if not isinstance(sentences_by_language, Mapping):
        raise InputError("sentences_by_language must be a dict {language: [sentences]} or "
                         f"a Corpus, got {type(sentences_by_language).__name__}")
    if not sentences_by_language:
        raise InputError("no languages given")
    out = {}
    for lang, items in sentences_by_language.items():
        if isinstance(items, (str, bytes)):
            raise InputError(f"language {lang!r}: expected a list of sentences, got one string")
        items = list(items)
        if not items:
            raise InputError(f"language {lang!r} has no sentences")
        out[str(lang)] = Corpus.from_sentences(items, lang=str(lang)).sentences
    return out


class _Counter:
    """The hook function: adds (act > 0) on counted tokens to int64 tensors.

    Per module and batch: the counted rows are gathered once (``index_select`` of the
    positions to count), ``relu(rows).sign_()`` is 1 exactly where act > 0, and its
    column sums (float32: exact below 2^24 rows) are added to the int64 counts. A NaN
    column sum (cheap) triggers the exact NaN check of the rows.
    """

    def __init__(self, names: list[str], languages: list[str], seq2seq: bool,
                 model_dtype: str) -> None:
        self.names = names
        self.languages = languages
        self.model_dtype = model_dtype
        self.stack = {n: "decoder" if seq2seq and "decoder" in n.split(".") else "encoder"
                      for n in names}
        self.acc: dict[str, Any] = {}
        self.calls: dict[str, int] = {}
        self.masks: dict[str, tuple[Any, Any]] = {}
        self.lang = 0

    def start_batch(self, lang: int, masks: dict[str, Any]) -> None:
        self.lang = lang
        self.masks = {k: (m, m.reshape(-1).nonzero().squeeze(1)) for k, m in masks.items()}
        self.calls = dict.fromkeys(self.names, 0)

    def __call__(self, name: str, output: Any) -> None:
        import torch

        if not isinstance(output, torch.Tensor):
            raise InputError(f"module {name!r} returned {type(output).__name__}, not a "
                             "tensor; choose modules whose output is the activations")
        mask, rows_index = self.masks[self.stack[name]]
        if output.dim() < 2 or tuple(output.shape[:-1]) != tuple(mask.shape):
            raise InputError(f"module {name!r} returned shape {tuple(output.shape)}, not "
                             f"(batch, tokens, neurons) = {(*mask.shape, '...')}; choose "
                             "modules with one output row per token")
        self.calls[name] += 1
        if self.calls[name] > 1:
            raise InputError(f"module {name!r} ran more than once in one forward pass "
                             "(shared or reused); its counts would mix uses")
        rows = output.reshape(-1, output.shape[-1]).index_select(0, rows_index)
        if torch.isnan(rows.sum(0, dtype=torch.float32)).any() and torch.isnan(rows).any():
            raise InputError(f"module {name!r} produced NaN activations on tokens of "
                             f"language {self.languages[self.lang]!r} (model dtype "
                             f"{self.model_dtype}); NaN is never > 0, so the counts would "
                             "be wrong")
        positive = torch.relu(rows).sign_().sum(0, dtype=torch.float32)
        acc = self.acc.get(name)
        if acc is None:
            acc = self.acc[name] = torch.zeros(len(self.languages), output.shape[-1],
                                               dtype=torch.int64, device=output.device)
        acc[self.lang] += positive.to(torch.int64)
        return None

    def end_batch(self) -> None:
        missing = [n for n, c in self.calls.items() if c == 0]
        if missing:
            raise InputError(f"module {missing[0]!r} did not run in the forward pass; "
                             "choose modules the model uses")


def count_activations(
    model: Any,
    sentences_by_language: Any,
    *,
    modules: str | Sequence[str] = _D["modules"],
    batch_size: int = _D["batch_size"],
    max_batch_tokens: int | None = _D["max_batch_tokens"],
    max_length: int | None = _D["max_length"],
    sort_window: int = _D["sort_window"],
    model_dtype: str = _D["model_dtype"],
    device: str = _D["device"],
    prefix: str = _D["prefix"],
    revision: str | None = _D["revision"],
    trust_remote_code: bool = _D["trust_remote_code"],
    allow_pickle: bool = _D["allow_pickle"],
    progress: Progress | bool | None = None,
) -> ActivationCounts:
    """Count, per neuron and language, the tokens on which the neuron is positive.

    Tang et al. 2024, §2: ``p_{j,ℓ} = P(act_j > 0)`` over the tokens of ``ℓ``'s text
    (:meth:`ActivationCounts.probabilities`). Streaming: memory is modules × neurons
    × languages (int64) plus one batch, whatever the number of sentences.

    Parameters
    ----------
    model : str or LoadedModel
        A local model directory, hub id or ``builtin:`` name (loaded with
        :func:`~interlingua.plugins.extraction.loading.load_model` and its safety
        checks), or an already loaded
        :class:`~interlingua.plugins.extraction.loading.LoadedModel` (then the loading
        parameters are ignored).
    sentences_by_language : dict or Corpus
        ``{language: [sentence, ...]}`` (strings are split on whitespace, or word lists,
        or :class:`~interlingua.plugins.extraction.sentences.CorpusSentence`), or a
        :class:`~interlingua.plugins.extraction.sentences.Corpus` (grouped by ``lang``).
    modules : str or sequence of str
        Module spec (:func:`~interlingua.plugins.extraction.modules.resolve_modules`);
        default ``"mlp-act"``, the FFN activation-function output.
    batch_size, max_batch_tokens, sort_window : int
        Batching: sentences of one window are sorted by length and batched (at most
        ``batch_size`` sentences and ``max_batch_tokens`` tokens with padding).
    max_length : int, optional
        Tokens per sentence (default: the model's limit); truncations are counted in
        ``meta["n_truncated"]`` and warned about.
    model_dtype, device, prefix, revision, trust_remote_code, allow_pickle
        As for the ``hf`` extractor (:class:`CountSettings`).
    progress : Progress or bool, optional
        Where to report (:mod:`interlingua.core.progress`); ``True`` = a rich bar.

    Returns
    -------
    ActivationCounts
        Languages in the order given; modules in model order.

    Raises
    ------
    InputError
        Bad settings, a language without sentences or without counted tokens, module
        patterns matching nothing, modules that do not give one row per token or run
        more than once per pass, NaN activations.
    """
    import torch

    from interlingua.plugins.extraction.forward import plan_batches, run_model
    from interlingua.plugins.extraction.loading import LoadedModel, load_model
    from interlingua.plugins.extraction.words import tokenize_window

    settings = CountSettings(modules=modules if isinstance(modules, str) else ",".join(modules),
                             batch_size=batch_size, max_batch_tokens=max_batch_tokens,
                             max_length=max_length, sort_window=sort_window,
                             model_dtype=model_dtype, device=device, prefix=prefix,
                             revision=revision, trust_remote_code=trust_remote_code,
                             allow_pickle=allow_pickle)
    settings.check_params()
    groups = _by_language(sentences_by_language)
    if isinstance(model, LoadedModel):
        loaded = model
        model_dtype = str(next(loaded.model.parameters()).dtype).removeprefix("torch.")
    else:
        loaded = load_model(str(model), device=device, model_dtype=model_dtype,
                            revision=revision, trust_remote_code=trust_remote_code,
                            allow_pickle=allow_pickle, max_length=max_length)
    limit = loaded.max_length if max_length is None else min(max_length, loaded.max_length)
    names = resolve_modules(loaded.model, settings.modules)
    languages = list(groups)
    counter = _Counter(names, languages, loaded.seq2seq, model_dtype)
    tokens = np.zeros(len(languages), dtype=np.int64)
    n_sentences = np.zeros(len(languages), dtype=np.int64)
    truncated = dict.fromkeys(languages, 0)
    total = sum(len(v) for v in groups.values())
    dev = loaded.device
    done = n_tok = 0
    t0 = time.perf_counter()
    with as_progress(progress).task("counting activations", total=total) as task, \
            record(loaded.model, names, counter), torch.inference_mode():
        for li, lang in enumerate(languages):
            items = groups[lang]
            for lo in range(0, len(items), settings.sort_window):
                toks = tokenize_window(loaded.tokenizer, items[lo:lo + settings.sort_window],
                                       lo, prefix=prefix, max_length=limit,
                                       seq2seq=loaded.seq2seq)
                truncated[lang] += sum(t.truncated for t in toks)
                for batch in plan_batches(toks, settings.batch_size, max_batch_tokens):
                    bt = [toks[i] for i in batch]
                    width = max(t.n_tokens for t in bt)
                    counted = np.zeros((len(bt), width), dtype=bool)
                    for r, t in enumerate(bt):
                        counted[r, :t.n_tokens] = t.token_word >= 0
                    enc = torch.from_numpy(counted).to(dev)
                    masks = {"encoder": enc}
                    if loaded.seq2seq:  # decoder input: start token + the sentence
                        masks["decoder"] = torch.nn.functional.pad(enc, (1, 0))
                    counter.start_batch(li, masks)
                    run_model(loaded, bt)
                    counter.end_batch()
                    k = int(counted.sum())
                    tokens[li] += k
                    n_sentences[li] += len(bt)
                    done += len(bt)
                    n_tok += k
                    rate = max(time.perf_counter() - t0, 1e-9)
                    task.advance(len(bt), rate=f"{done / rate:,.1f} sent/s "
                                               f"{n_tok / rate:,.0f} tok/s")
    lost = {lang: n for lang, n in truncated.items() if n}
    if lost:
        where = ", ".join(f"{k}: {v}" for k, v in lost.items())
        warnings.warn(f"{sum(lost.values())} sentence(s) exceeded max_length={limit} "
                      f"tokens and were truncated ({where})", stacklevel=2)
    import transformers

    meta = {"model": loaded.name, "model_source": loaded.source, "revision": loaded.revision,
            "model_type": loaded.model_type, "architecture": loaded.architecture,
            "model_dtype": model_dtype, "modules_spec": settings.modules,
            "max_length": int(limit), "prefix": prefix, "n_truncated": truncated,
            "counted": "tokens of the sentence's words: attention mask 1, not special, "
                       "not prefix",
            "torch_version": str(torch.__version__),
            "transformers_version": str(transformers.__version__)}
    active = {n: counter.acc[n].cpu().numpy() for n in names}
    return ActivationCounts(languages, names, active, tokens, n_sentences, meta)


__all__ = ["FORMAT", "ActivationCounts", "CountSettings", "count_activations"]
