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
batch's positions go through the head in chunks of rows (at most :data:`CHUNK_LOGITS`
floats, 128 MB; a chunk holds positions of one or, for short batches, several layers,
as reading W_U dominates the cost), and per chunk only the log-sum-exp, the true
token's logit, its rank, the arg-max and the entropy are kept, computed in float32
(the head itself runs in the model's dtype, as in its own forward pass).

Language of a token (:class:`TokenLanguages`)
---------------------------------------------
A token is decoded (whitespace and case dropped); then, in this order:

1. no letters, a special token, or a whole tag (``<h1>``, ``<start_of_image>``: markup
   and control tokens some tokenizers do not flag as special) → ``nonword``;
2. letters of a script that English does not use (the majority script of the token's
   letters, from the Unicode character names: CYRILLIC, ARABIC, CJK, ...) → the corpus
   languages written in that script (a script is a language's when it covers ≥ 5 % of
   the letters of its side of the corpus): the input language if it is one of them,
   else ``other``;
3. a Latin token seen in the corpus (tokenized with the model's tokenizer) → the
   languages in whose sides its relative frequency is within a factor
   :data:`DOMINANCE` (2) of the highest: English alone → ``en`` (English at least
   twice as frequent as in any other side: "markedly more"); English with others →
   ``unknown`` ("in", "was": en and de); without English → the input language if it
   is one of them ("la": fr and es, for French or Spanish input), else ``other``;
4. a Latin token unseen in the corpus, with non-ASCII letters (é, ü, ñ, ß ...) → the
   non-English languages whose side contains all of those letters (English is taken to
   be written in ASCII letters): as in rule 3; none → ``other``;
5. anything else (an ASCII token unseen in the corpus) → ``unknown``.

Limits: tokens, not words, are classified, so pieces shared by English and another
language ("in", "a", "was") stay ``unknown``, and a piece shared by the input language
and another one counts as the input language; Latin tokens absent from the corpus are
``unknown`` (the larger the corpus, the fewer), which under-counts English for words
its English side never uses (and leaves the many code and word-fragment tokens of
middle layers undecided); languages sharing a script (ar/fa, ru/uk) are not told apart
— a token of the input language's script counts as the input language; byte-level
pieces of a multi-byte character decode to U+FFFD and count as ``nonword``; the table
is built from the very sentences analysed; and English is recognised only with an
English side in the corpus (without one ``share_en`` is reported as null).

``torch`` and ``transformers`` are imported inside the functions, so importing this
module stays light.
"""

from __future__ import annotations

import copy
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.params import Configurable, Param
from interlingua.core.progress import Progress, as_progress

#: Categories of a top-1 token (see the module docstring); the shares sum to 1.
CATEGORIES = ("en", "lang", "other", "nonword", "unknown")
#: A Latin token belongs to the language where it is this many times more frequent.
DOMINANCE = 2.0
#: A script is a language's when it covers at least this share of its letters.
MIN_SCRIPT_SHARE = 0.05
#: Largest chunk of logits (positions × vocabulary floats) held at once.
CHUNK_LOGITS = 2**25
#: A whole markup / control token: "<h1>", "<start_of_image>", "</s>".
_TAG = re.compile(r"^</?[^<>\s]+>$")
#: Tokens of the sentence that checks the head when a model is loaded.
_CHECK_TOKENS = 16
#: Post-processing of the head's logits by model type: multiply by a config value.
_SCALE_BY = {"cohere": "logit_scale", "cohere2": "logit_scale"}
_DIVIDE_BY = {"granite": "logits_scaling", "granitemoe": "logits_scaling",
              "granitemoeshared": "logits_scaling", "granitemoehybrid": "logits_scaling"}


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
        import torch

        z = logits.float()
        if self.scale is not None:
            z = z * self.scale
        if self.softcap is not None:
            z = torch.tanh(z / self.softcap) * self.softcap
        return z

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
    causal, reloaded = _causal_lm(loaded, model_dtype, revision, trust_remote_code,
                                  allow_pickle)
    config = causal.config
    model_type = loaded.model_type
    softcap = getattr(config, "final_logit_softcapping", None)
    scale = None
    if model_type in _SCALE_BY:
        scale = float(getattr(config, _SCALE_BY[model_type]))
    elif model_type in _DIVIDE_BY:
        scale = 1.0 / float(getattr(config, _DIVIDE_BY[model_type]))
    lm = LensModel(name=name, loaded=loaded, causal=causal, norm=None, norm_name="",
                   last_state_post_norm=True,
                   softcap=float(softcap) if softcap is not None else None, scale=scale)
    with torch.inference_mode():
        _check_head(lm)
    lm.meta = {"model": name, "model_type": model_type, "n_states": lm.n_states,
               "final_norm": lm.norm_name, "last_state_post_norm": lm.last_state_post_norm,
               "final_logit_softcapping": lm.softcap, "logit_scale": lm.scale,
               "head_reloaded": reloaded, "model_dtype": model_dtype,
               "vocab_size": int(lm.head.weight.shape[0])}
    return lm


def _causal_lm(loaded: Any, model_dtype: str, revision: str | None, trust_remote_code: bool,
               allow_pickle: bool) -> tuple[Any, bool]:
    """The ``*ForCausalLM`` around ``loaded.model``; True when weights were reloaded."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    from interlingua.plugins.extraction.loading import check_weights

    base = loaded.model
    config = base.config
    try:
        with torch.device("meta"):  # no memory: every tensor is replaced or refused
            causal = AutoModelForCausalLM.from_config(copy.deepcopy(config),
                                                      trust_remote_code=trust_remote_code)
    except ValueError as exc:
        raise InputError(f"model {loaded.name!r} ({loaded.model_type}) has no causal-LM "
                         f"head class in transformers: {exc}") from None
    prefix = causal.base_model_prefix
    if type(getattr(causal, prefix, None)) is type(base):
        setattr(causal, prefix, base)
        causal.tie_weights()
        if not any(t.is_meta for t in (*causal.parameters(), *causal.buffers())):
            return causal.eval(), False
    causal = None  # it may hold the base model: one copy in memory at a time
    # An untied (or biased) head: load the checkpoint as a causal LM, once.
    local = Path(loaded.source)
    common: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if local.is_dir():
        use_safetensors = check_weights(local, allow_pickle)
    else:  # a hub id load_model has just fetched: the local cache has every file
        use_safetensors = None if allow_pickle else True
        common["local_files_only"] = True
        if revision:
            common["revision"] = revision
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    loaded.model = base = None
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        causal = AutoModelForCausalLM.from_pretrained(
            loaded.source, use_safetensors=use_safetensors, dtype=dtypes[model_dtype],
            **common)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot load the LM head of {loaded.name!r}: {exc}") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()
    causal.eval().to(loaded.device)
    loaded.model = causal.base_model
    return causal, True


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


# -- the language of a token -----------------------------------------------------------
def _script(ch: str) -> str:
    """First word of the Unicode name of a letter: LATIN, CYRILLIC, ARABIC, CJK, ..."""
    return unicodedata.name(ch, "UNKNOWN").split(" ")[0]


def _letters(text: str) -> list[str]:
    return [c for c in text if c.isalpha()]


class TokenLanguages:
    """The language of a token, from its script and a frequency table of the corpus
    (rules and limits in the module docstring).

    Parameters
    ----------
    tokenizer : transformers tokenizer
        Decodes token ids.
    token_ids : mapping of str -> iterable of sequence of int
        Per language, the token ids of its sentences (the model's tokenization).
    texts : mapping of str -> iterable of str
        Per language, its sentences (for its scripts and letters).
    english : str
        Code of the English side (need not be among the languages).
    dominance : float
        Rule 3's "markedly more" factor.
    """

    def __init__(self, tokenizer: Any, token_ids: Mapping[str, Iterable[Sequence[int]]],
                 texts: Mapping[str, Iterable[str]], *, english: str = "en",
                 dominance: float = DOMINANCE) -> None:
        self.tokenizer = tokenizer
        self.english = english
        self.dominance = float(dominance)
        self._keys: dict[int, str] = {}
        self._labels: dict[int, tuple[str, frozenset[str]]] = {}
        self.special = set(getattr(tokenizer, "all_special_ids", []) or [])
        for tid, added in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
            if getattr(added, "special", False):
                self.special.add(int(tid))
        self.scripts: dict[str, set[str]] = {}
        self.letters: dict[str, set[str]] = {}
        for lang, sentences in texts.items():
            letters = Counter(c.lower() for s in sentences for c in _letters(
                unicodedata.normalize("NFC", s)))
            total = sum(letters.values()) or 1
            by_script: Counter[str] = Counter()
            for c, n in letters.items():
                by_script[_script(c)] += n
            self.scripts[lang] = {s for s, n in by_script.items() if n / total >= MIN_SCRIPT_SHARE}
            floor = max(2, 1e-4 * total)
            self.letters[lang] = {c for c, n in letters.items() if n >= floor}
        self.english_scripts = self.scripts.get(english) or {"LATIN"}
        self.counts: dict[str, Counter[str]] = {}
        self.totals: dict[str, int] = {}
        for lang, seqs in token_ids.items():
            ids: Counter[int] = Counter(i for seq in seqs for i in seq if i not in self.special)
            keys: Counter[str] = Counter()
            for i, n in ids.items():
                keys[self.key(i)] += n
            self.counts[lang] = keys
            self.totals[lang] = sum(ids.values()) or 1

    @property
    def languages(self) -> list[str]:
        return list(self.counts)

    def key(self, token_id: int) -> str:
        """The token decoded, NFC, stripped of whitespace, lower case."""
        tid = int(token_id)
        key = self._keys.get(tid)
        if key is None:
            text = self.tokenizer.decode([tid], skip_special_tokens=False,
                                         clean_up_tokenization_spaces=False)
            key = unicodedata.normalize("NFC", text).replace("▁", " ").strip().lower()
            self._keys[tid] = key
        return key

    def label(self, token_id: int) -> tuple[str, frozenset[str]]:
        """``("nonword", ∅)``, ``("unknown", ∅)`` or ``("known", languages)``: the
        languages it may belong to (empty: a language outside the corpus)."""
        tid = int(token_id)
        found = self._labels.get(tid)
        if found is None:
            found = self._label(tid)
            self._labels[tid] = found
        return found

    def _label(self, tid: int) -> tuple[str, frozenset[str]]:
        key = self.key(tid)
        letters = _letters(key)
        if tid in self.special or not letters or _TAG.match(key):
            return "nonword", frozenset()
        script = Counter(_script(c) for c in letters).most_common(1)[0][0]
        if script not in self.english_scripts:  # rule 2
            return "known", frozenset(lang for lang, s in self.scripts.items() if script in s)
        freqs = {lang: self.counts[lang][key] / self.totals[lang] for lang in self.counts}
        top = max(freqs.values(), default=0.0)
        if top > 0:  # rule 3
            # The top side, and any side more than 1/dominance as frequent.
            return "known", frozenset(lang for lang, f in freqs.items()
                                      if f == top or f * self.dominance > top)
        marked = {c for c in letters if ord(c) > 127}
        if marked:  # rule 4
            return "known", frozenset(lang for lang, have in self.letters.items()
                                      if lang != self.english and marked <= have)
        return "unknown", frozenset()  # rule 5

    def category(self, token_id: int, lang: str) -> str:
        """One of :data:`CATEGORIES` for a top-1 token on input in ``lang``."""
        status, langs = self.label(token_id)
        if status != "known":
            return status
        if self.english in langs:  # English, or English and another language
            return "en" if len(langs) == 1 else "unknown"
        return "lang" if lang in langs else "other"


# -- the result --------------------------------------------------------------------------
_METRICS = ("prob", "rank_mean", "rank_median", "top1", "entropy",
            *(f"share_{c}" for c in CATEGORIES))


@dataclass
class LogitLensResult:
    """Per language and layer: the lens metrics (module docstring).

    ``stats[lang][layer]`` holds ``n`` (predicted positions), ``prob``, ``rank_mean``,
    ``rank_median``, ``top1``, ``entropy``, ``share_en`` ... ``share_unknown`` and
    ``top_tokens`` (the most frequent top-1 tokens with their shares).
    """

    model: str
    layers: list[str]
    languages: list[str]
    english: str
    stats: dict[str, dict[str, dict[str, Any]]]
    meta: dict[str, Any] = field(default_factory=dict)

    def curve(self, metric: str, lang: str) -> list[float | None]:
        """``metric`` of ``lang`` over the layers."""
        return [self.stats[lang][layer][metric] for layer in self.layers]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "layers": list(self.layers),
                "languages": list(self.languages), "english": self.english,
                "categories": list(CATEGORIES), "meta": dict(self.meta),
                "results": self.stats}

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per language and layer (for CSV): metrics and the top token."""
        out = []
        for lang in self.languages:
            for layer in self.layers:
                s = self.stats[lang][layer]
                top = s["top_tokens"][0] if s["top_tokens"] else None
                out.append({"language": lang, "layer": layer, "n": s["n"],
                            **{m: s[m] for m in _METRICS},
                            "top_token": top["token"] if top else None,
                            "top_token_share": top["share"] if top else None})
        return out

    def plot(self, path: str | os.PathLike, *, title: str | None = None,
             inputs: Iterable[str | os.PathLike | None] = (), overwrite: bool = True) -> Path:
        """See :func:`plot_logit_lens`."""
        return plot_logit_lens(self, path, title=title, inputs=inputs, overwrite=overwrite)


def plot_logit_lens(result: LogitLensResult, path: str | os.PathLike, *,
                    title: str | None = None,
                    inputs: Iterable[str | os.PathLike | None] = (),
                    overwrite: bool = True) -> Path:
    """Curves over layers in the style of Wendler et al. (2024), one per language:
    the probability of the true next token, the English share of top-1 tokens and the
    input language's share (same colour per language in the three panels).

    ``inputs`` are never written; an existing ``path`` is replaced only with
    ``overwrite`` (the library default; the command checks first).
    """
    from interlingua.core.outputs import check_outputs
    from interlingua.core.plotting import plot_layer_panels

    check_outputs([path], list(inputs), overwrite=overwrite)
    layers = result.layers

    def panel(metric: str) -> tuple[list[str], dict[str, list[float | None]]]:
        return layers, {lang: result.curve(metric, lang) for lang in result.languages}

    panels = {"p(true next token)": panel("prob"),
              f"top-1 is English ({result.english})": panel("share_en"),
              "top-1 is the input language": panel("share_lang")}
    return plot_layer_panels(panels, ylabel="probability / share of positions",
                             title=title or f"logit lens: {result.model}", path=path,
                             ylim=(0.0, 1.0))


# -- the lens ----------------------------------------------------------------------------
class _Accumulator:
    """Sums of one language's metrics over positions, per selected layer."""

    def __init__(self, n_layers: int) -> None:
        self.n = 0
        self.prob = np.zeros(n_layers)
        self.rank = np.zeros(n_layers)
        self.top1 = np.zeros(n_layers)
        self.entropy = np.zeros(n_layers)
        self.ranks: list[list[np.ndarray]] = [[] for _ in range(n_layers)]
        self.tops: list[Counter[int]] = [Counter() for _ in range(n_layers)]

    def add(self, k: int, prob: np.ndarray, rank: np.ndarray, top: np.ndarray,
            target: np.ndarray, entropy: np.ndarray) -> None:
        self.prob[k] += prob.sum()
        self.rank[k] += rank.sum()
        self.top1[k] += (top == target).sum()
        self.entropy[k] += entropy.sum()
        self.ranks[k].append(rank)
        self.tops[k].update(top.tolist())


def _tokenize(lm: LensModel, sentences: Sequence[str]) -> tuple[list[list[int]],
                                                                 list[list[int]], int]:
    """Token ids, special-token masks and the number of truncated sentences."""
    limit = lm.loaded.max_length
    enc = lm.tokenizer(list(sentences), add_special_tokens=True, truncation=False,
                       return_special_tokens_mask=True)
    ids, special, truncated = [], [], 0
    for seq, mask in zip(enc["input_ids"], enc["special_tokens_mask"]):
        if len(seq) > limit:
            truncated += 1
            seq, mask = seq[:limit], mask[:limit]
        ids.append(list(seq))
        special.append(list(mask))
    return ids, special, truncated


def _batch_stats(lm: LensModel, batch: list[list[int]], special: list[list[int]],
                 layer_idx: list[int], acc: _Accumulator) -> None:
    """One forward pass and the lens over its positions, layer by layer, in chunks."""
    import torch

    dev = lm.loaded.device
    width = max(len(s) for s in batch)
    ids = np.full((len(batch), width), lm.loaded.pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    rows, cols, targets = [], [], []
    for r, (seq, sp) in enumerate(zip(batch, special)):
        ids[r, :len(seq)] = seq
        mask[r, :len(seq)] = 1
        for t in range(len(seq) - 1):
            if not sp[t + 1]:  # special tokens are never targets
                rows.append(r)
                cols.append(t)
                targets.append(seq[t + 1])
    if not targets:
        return
    # Right padding: every sentence at positions 0..n-1, as when it runs alone.
    out = lm.base(input_ids=torch.from_numpy(ids).to(dev),
                  attention_mask=torch.from_numpy(mask).to(dev), output_hidden_states=True)
    r_t = torch.tensor(rows, device=dev)
    c_t = torch.tensor(cols, device=dev)
    tgt = torch.tensor(targets, device=dev)
    target_np = np.asarray(targets)
    n = len(targets)
    chunk = max(1, CHUNK_LOGITS // int(lm.head.weight.shape[0]))
    # Several layers share one pass over W_U when a batch has few positions (the head
    # matmul dominates the cost), never more than `chunk` rows of logits at once.
    per_pass = max(1, chunk // n)
    for g in range(0, len(layer_idx), per_pass):
        group = layer_idx[g:g + per_pass]
        x = torch.cat([lm.lens_input(lm.states(out, layer)[r_t, c_t], layer)
                       for layer in group])
        t_all = tgt.repeat(len(group))
        parts: list[list[np.ndarray]] = [[], [], [], []]
        for s in range(0, len(x), chunk):
            z = lm.head_logits(x[s:s + chunk])  # (rows, vocab) float32
            t = t_all[s:s + chunk, None]
            zt = z.gather(1, t)
            rank = (z > zt).sum(dim=-1) + 1
            top = z.argmax(dim=-1, keepdim=True)
            # One fused softmax gives the rest (elementwise exp is far slower on CPU):
            # log-sum-exp = z_max - log p_max (p_max >= 1/vocab never underflows).
            p = torch.softmax(z, dim=-1)
            lse = z.gather(1, top)[:, 0] - torch.log(p.gather(1, top)[:, 0])
            entropy = lse - torch.einsum("ij,ij->i", p, z)
            for part, value in zip(parts, (p.gather(1, t)[:, 0], rank, top[:, 0], entropy)):
                part.append(value.cpu().numpy())
            del z, p
        prob, rank, top, entropy = (np.concatenate(p) for p in parts)
        for j in range(len(group)):
            rows_j = slice(j * n, (j + 1) * n)
            acc.add(g + j, prob[rows_j].astype(np.float64), rank[rows_j].astype(np.int64),
                    top[rows_j].astype(np.int64), target_np,
                    entropy[rows_j].astype(np.float64))
    acc.n += n


def _finish(acc: _Accumulator, layer_names: list[str], lang: str, langs: TokenLanguages,
            has_english: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    n = acc.n
    for k, name in enumerate(layer_names):
        if n == 0:
            out[name] = {"n": 0, **dict.fromkeys(_METRICS), "top_tokens": []}
            continue
        shares: Counter[str] = Counter()
        for tid, count in acc.tops[k].items():
            shares[langs.category(tid, lang)] += count
        s = {"n": n, "prob": acc.prob[k] / n, "rank_mean": acc.rank[k] / n,
             "rank_median": float(np.median(np.concatenate(acc.ranks[k]))),
             "top1": acc.top1[k] / n, "entropy": acc.entropy[k] / n}
        for c in CATEGORIES:
            s[f"share_{c}"] = shares[c] / n
        if lang == langs.english:
            s["share_lang"] = s["share_en"]
        if not has_english:
            s["share_en"] = None
        s["top_tokens"] = [{"token": langs.tokenizer.decode([tid]), "id": int(tid),
                            "share": c / n, "category": langs.category(tid, lang)}
                           for tid, c in acc.tops[k].most_common(5)]
        out[name] = {key: float(v) if isinstance(v, (np.floating, float)) else v
                     for key, v in s.items()}
    return out


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
