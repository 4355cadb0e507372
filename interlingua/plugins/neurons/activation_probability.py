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

The counts container (merge, checks, HDF5 round trip) is
:class:`~interlingua.plugins.neurons.activation_counts.ActivationCounts`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.params import Configurable, Param
from interlingua.core.progress import Progress, as_progress
from interlingua.plugins.extraction.modules import record, resolve_modules
from interlingua.plugins.neurons.activation_counts import FORMAT, ActivationCounts

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
