"""The logit lens for decoders (nostalgebraist 2020; Wendler et al. 2024, "Do Llamas Work
in English?"): every hidden state read through the model's own output head.

Definition
----------
For hidden state ``h_l`` (``l`` = 0 the embeddings ... ``L`` the last layer) the lens
distribution is ``softmax(post(W_U · norm_final(h_l)))``: the model's final norm, its
unembedding (the LM head, often tied to the input embedding) and its logit
post-processing ``post`` (Gemma 2/3 ``final_logit_softcapping``: ``c·tanh(z/c)``;
Cohere ``logit_scale``; Granite ``1/logits_scaling``). Transformers returns the last
hidden state *after* the final norm for most models (GPT-2, Llama, Gemma): the last
layer is therefore read from ``last_hidden_state`` without a second norm, so that the
lens at the last layer *is* the model's output distribution. When a model is loaded,
one short sentence checks this (the lens at the last layer must reproduce the logits
of the model's own forward pass) and locates the final norm (the norm module whose
output is ``last_hidden_state``); a model whose head does something else (e.g. OPT-350m's
projection after the norm) is refused rather than misread.

For each sentence, each position ``t`` predicts token ``t+1`` (special tokens are never
targets). Per language and layer: the mean probability of the true next token, its
rank (1 + the number of logits strictly greater than its logit: 1 = top choice; mean
and median), top-1 accuracy, the mean entropy of the lens distribution (nats), and the
language of the top-1 token: shares ``en`` (English), ``lang`` (the input language),
``other`` (any other language), ``nonword`` (no letters: punctuation, digits, special
tokens, byte fragments) and ``unknown`` (letters, but the heuristic cannot tell), which
sum to 1. For English input ``lang`` = ``en``.

Memory: the (layers × positions × vocabulary) logits are never materialised: one
batch's positions go through the head in chunks of rows (at most
:data:`~interlingua.plugins.neurons.lens_stats.CHUNK_LOGITS`
floats, 128 MB; a chunk holds positions of one or, for short batches, several layers,
as reading W_U dominates the cost), and per chunk only the log-sum-exp, the true
token's logit, its rank, the arg-max and the entropy are kept, computed in float32
(the head itself runs in the model's dtype, as in its own forward pass).

The language of a top-1 token is decided by
:class:`~interlingua.plugins.neurons.token_languages.TokenLanguages` (rules and limits
there); the per-position statistics and the result live in
:mod:`~interlingua.plugins.neurons.lens_stats`. This module holds the settings, the
model with its head (loading and the check; the head itself comes from
:mod:`~interlingua.plugins.neurons.lm_head`, shared with the LM loss), and the lens loop.

``torch`` and ``transformers`` are imported inside the functions, so importing this
module stays light.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.params import Configurable, Param
from interlingua.core.progress import Progress, as_progress
from interlingua.plugins.neurons.lens_stats import (
    LogitLensResult,
    _Accumulator,
    _batch_stats,
    _finish,
    _tokenize,
    plot_logit_lens,
)
from interlingua.plugins.neurons.lm_head import (
    causal_lm,
    logit_postprocessing,
    postprocess_logits,
)
from interlingua.plugins.neurons.token_languages import (
    CATEGORIES,
    DOMINANCE,
    MIN_SCRIPT_SHARE,
    TokenLanguages,
)

#: Tokens of the sentence that checks the head when a model is loaded.
_CHECK_TOKENS = 16

class LensSettings(Configurable):
    """The settings of :func:`logit_lens`, declared once: they give the function's
    keyword defaults and the ``logit-lens`` command's options (``param_options``)."""

    name: ClassVar[str] = "logit-lens"
    params: ClassVar[tuple[Param, ...]] = (
        Param("batch_size", 8, "sentences per forward pass", int),
        Param("model_dtype", "float32", "dtype the model runs in (logits are float32)", str,
              ("float32", "float16", "bfloat16")),
        Param("device", "auto", "auto, cpu, cuda or cuda:N", str),
        Param("max_length", None, "max tokens per sentence incl. special tokens (null = the "
              "model's limit); longer sentences are truncated", int),
        Param("english", "en", "language code of the corpus's English side", str),
        Param("revision", None, "hub revision (branch, tag or commit)", str),
        Param("trust_remote_code", False, "allow code shipped with the checkpoint", bool),
        Param("allow_pickle", False, "allow pickled (.bin) weights", bool),
    )


_D = {p.name: p.default for p in LensSettings.params}


# -- the model ---------------------------------------------------------------------------
@dataclass
class LensModel:
    """A causal LM ready for the lens (:func:`load_lens_model`)."""

    name: str
    loaded: Any  # extraction.loading.LoadedModel: tokenizer, base model, limits
    causal: Any  # the *ForCausalLM module (shares the base model)
    norm: Any  # the final norm module (its output is last_hidden_state)
    norm_name: str
    last_state_post_norm: bool  # hidden_states[-1] is already normed (== last_hidden_state)
    softcap: float | None = None
    scale: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    @property
    def base(self) -> Any:
        return self.loaded.model

    @property
    def n_states(self) -> int:
        """Hidden states per forward pass (layers + 1, 0 = the embeddings)."""
        return int(self.loaded.n_layers[""])

    @property
    def head(self) -> Any:
        return self.causal.get_output_embeddings()

    def post(self, logits: Any) -> Any:
        """The head's post-processing, on float32 logits."""
        return postprocess_logits(logits, self.softcap, self.scale)

    def lens_input(self, states: Any, layer: int) -> Any:
        """What the head reads for hidden states of ``layer``: the final norm applied,
        except for the last layer, whose states must be ``last_hidden_state`` (already
        normed by the model)."""
        return states if layer == self.n_states - 1 else self.norm(states)

    def head_logits(self, x: Any) -> Any:
        """float32 logits ``(..., vocab)`` of head inputs (:meth:`lens_input`)."""
        return self.post(self.head(x))

    def logits(self, states: Any, layer: int) -> Any:
        """float32 lens logits ``(..., vocab)`` of hidden states of ``layer``."""
        return self.head_logits(self.lens_input(states, layer))

    def states(self, output: Any, layer: int) -> Any:
        """Hidden states of ``layer`` in a base-model output: ``last_hidden_state`` for
        the last layer (already normed by the model), ``hidden_states[layer]`` else."""
        if layer == self.n_states - 1:
            return output.last_hidden_state
        return output.hidden_states[layer]

    def sentence_logits(self, text: str, layer: int) -> np.ndarray:
        """float32 lens logits ``(tokens, vocab)`` of one sentence at hidden state
        ``layer`` (0 = embeddings, negative from the end): row ``t`` predicts token
        ``t+1``. Holds tokens × vocabulary floats: for inspection and tests."""
        import torch

        n = self.n_states
        if not -n <= layer < n:
            raise InputError(f"layer {layer} out of range: the model has hidden states "
                             f"0..{n - 1} (0 = embeddings)")
        layer %= n
        ids = self.tokenizer(text)["input_ids"][:self.loaded.max_length]
        with torch.inference_mode():
            out = self.base(input_ids=torch.tensor([ids], device=self.loaded.device),
                            output_hidden_states=True)
            return self.logits(self.states(out, layer)[0], layer).cpu().numpy()


def load_lens_model(name: str | os.PathLike, *, device: str = _D["device"],
                    model_dtype: str = _D["model_dtype"], revision: str | None = None,
                    trust_remote_code: bool = False, allow_pickle: bool = False,
                    max_length: int | None = None) -> LensModel:
    """Load a decoder-only causal LM, its tokenizer and its head for the lens.

    The model is loaded by :func:`~interlingua.plugins.extraction.loading.load_model`
    (same sources, safety rules and float16 refusal); the LM head wraps that base model
    without loading its weights again when the head is tied to the input embedding,
    else the checkpoint is loaded once more as ``AutoModelForCausalLM`` (same safety
    flags; the first copy is dropped first). One short sentence then checks the head
    (see the module docstring).

    Raises
    ------
    InputError
        Not a decoder-only model (encoders and encoder–decoder models are refused), no
        causal-LM class, or a head the lens cannot reproduce; and everything
        ``load_model`` refuses.
    """
    import torch

    from interlingua.plugins.extraction.loading import load_model

    name = str(name)
    loaded = load_model(name, device=device, model_dtype=model_dtype, revision=revision,
                        trust_remote_code=trust_remote_code, allow_pickle=allow_pickle,
                        max_length=max_length)
    if loaded.architecture != "decoder":
        raise InputError(f"the logit lens needs a decoder-only causal LM; {name!r} is not "
                         f"one ({loaded.model_type}: {loaded.architecture})")
    causal, reloaded = causal_lm(loaded, model_dtype, revision, trust_remote_code,
                                  allow_pickle)
    config = causal.config
    model_type = loaded.model_type
    softcap, scale = logit_postprocessing(config, model_type)
    lm = LensModel(name=name, loaded=loaded, causal=causal, norm=None, norm_name="",
                   last_state_post_norm=True,
                   softcap=softcap, scale=scale)
    with torch.inference_mode():
        _check_head(lm)
    lm.meta = {"model": name, "model_type": model_type, "n_states": lm.n_states,
               "final_norm": lm.norm_name, "last_state_post_norm": lm.last_state_post_norm,
               "final_logit_softcapping": lm.softcap, "logit_scale": lm.scale,
               "head_reloaded": reloaded, "model_dtype": model_dtype,
               "vocab_size": int(lm.head.weight.shape[0])}
    return lm


def _check_head(lm: LensModel) -> None:
    """Locate the final norm and check that the lens reproduces the model's logits."""
    import torch

    tok = lm.tokenizer
    ids = tok("The logit lens reads every layer through the output head.",
              truncation=True, max_length=_CHECK_TOKENS)["input_ids"][:_CHECK_TOKENS]
    ids_t = torch.tensor([ids], device=lm.loaded.device)
    captured: list[tuple[str, Any, Any]] = []
    hooks = []
    for mod_name, module in lm.base.named_modules():
        if "norm" in type(module).__name__.lower():
            def hook(module: Any, args: Any, output: Any, _name: str = mod_name) -> None:
                if isinstance(output, torch.Tensor):
                    captured.append((_name, module, output))
            hooks.append(module.register_forward_hook(hook))
    try:
        out = lm.base(input_ids=ids_t, output_hidden_states=True)
    finally:
        for h in hooks:
            h.remove()
    last = out.last_hidden_state
    if len(out.hidden_states) != lm.n_states:
        raise InputError(f"model {lm.name!r} returned {len(out.hidden_states)} hidden states, "
                         f"expected {lm.n_states}")
    finals = [(n, m) for n, m, o in captured if o.shape == last.shape and torch.equal(o, last)]
    if not finals:
        raise InputError(f"cannot find the final norm of model {lm.name!r} "
                         f"({lm.loaded.model_type}): no norm module outputs its last hidden "
                         "state, so the logit lens cannot read its layers")
    lm.norm_name, lm.norm = finals[-1]
    lm.last_state_post_norm = bool(torch.equal(out.hidden_states[-1], last))
    real = lm.causal(input_ids=ids_t).logits.float()
    mine = lm.logits(last, lm.n_states - 1)
    tol = 1e-4 if real.dtype == torch.float32 and lm.base.dtype == torch.float32 else 2e-2
    scale = float(real.abs().max()) or 1.0
    if real.shape != mine.shape or not torch.allclose(mine, real, rtol=tol, atol=tol * scale):
        raise InputError(f"the logit lens cannot reproduce the output logits of model "
                         f"{lm.name!r} ({lm.loaded.model_type}): its head does more than "
                         "final norm → unembedding → soft-capping/scaling")


def logit_lens(
    model: str | os.PathLike | LensModel,
    sentences_by_language: Mapping[str, Sequence[str]],
    *,
    layers: Any = None,
    batch_size: int = _D["batch_size"],
    model_dtype: str = _D["model_dtype"],
    device: str = _D["device"],
    max_length: int | None = _D["max_length"],
    english: str = _D["english"],
    revision: str | None = _D["revision"],
    trust_remote_code: bool = _D["trust_remote_code"],
    allow_pickle: bool = _D["allow_pickle"],
    progress: Progress | bool | None = None,
) -> LogitLensResult:
    """Run the logit lens of a decoder over parallel sentences (module docstring).

    Parameters
    ----------
    model : str, path or LensModel
        A local directory, hub id or ``builtin:`` name, or a :func:`load_lens_model`
        result (then ``model_dtype``, ``device``, ``max_length``, ``revision``,
        ``trust_remote_code`` and ``allow_pickle`` are those it was loaded with).
    sentences_by_language : mapping of str -> sequence of str
        Sentences per language code (parallel, ideally, and with an English side).
    layers : None, str, int or sequence
        Hidden states to read (None = all; ``"0,6,-1"``; 0 = embeddings).
    batch_size : int
        Sentences per forward pass.
    english : str
        Code of the English side (the ``en`` share; see :class:`TokenLanguages`).
    progress : Progress or bool, optional
        Reports sentences done (:mod:`interlingua.core.progress`).

    Returns
    -------
    LogitLensResult

    Raises
    ------
    InputError
        No sentences, a bad ``batch_size`` or layer, a model that is not a decoder or
        whose head the lens cannot reproduce.
    """
    import torch

    from interlingua.plugins.extraction.loading import select_layers

    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    data = {str(lang): [str(s) for s in sents if str(s).strip()]
            for lang, sents in sentences_by_language.items()}
    data = {lang: sents for lang, sents in data.items() if sents}
    if not data:
        raise InputError("no sentences given to the logit lens")
    lm = model if isinstance(model, LensModel) else load_lens_model(
        model, device=device, model_dtype=model_dtype, revision=revision,
        trust_remote_code=trust_remote_code, allow_pickle=allow_pickle, max_length=max_length)
    layer_names = select_layers(layers, lm.loaded.n_layers)
    layer_idx = [int(n) for n in layer_names]
    tokenized = {lang: _tokenize(lm, sents) for lang, sents in data.items()}
    langs = TokenLanguages(lm.tokenizer, {lang: t[0] for lang, t in tokenized.items()}, data,
                           english=english)
    has_english = english in data
    stats: dict[str, dict[str, dict[str, Any]]] = {}
    n_total = sum(len(s) for s in data.values())
    with torch.inference_mode(), as_progress(progress).task("logit lens",
                                                            total=n_total) as task:
        for lang, (ids, special, _trunc) in tokenized.items():
            acc = _Accumulator(len(layer_idx))
            order = sorted(range(len(ids)), key=lambda i: (-len(ids[i]), i))
            for start in range(0, len(order), batch_size):
                chosen = order[start:start + batch_size]
                _batch_stats(lm, [ids[i] for i in chosen], [special[i] for i in chosen],
                             layer_idx, acc)
                task.advance(len(chosen))
            stats[lang] = _finish(acc, layer_names, lang, langs, has_english)
    meta = {**lm.meta, "batch_size": batch_size, "max_length": lm.loaded.max_length,
            "n_sentences": {lang: len(s) for lang, s in data.items()},
            "n_truncated": {lang: t[2] for lang, t in tokenized.items()},
            "heuristic": {"dominance": DOMINANCE, "min_script_share": MIN_SCRIPT_SHARE,
                          "scripts": {lang: sorted(s) for lang, s in langs.scripts.items()},
                          "english_in_corpus": has_english}}
    return LogitLensResult(model=lm.name, layers=layer_names, languages=list(data),
                           english=english, stats=stats, meta=meta)


__all__ = ["CATEGORIES", "LensModel", "LensSettings", "LogitLensResult", "TokenLanguages",
           "load_lens_model", "logit_lens", "plot_logit_lens"]
