"""Switching language-specific neurons off: the change in per-language perplexity
(Tang et al. 2024, "Language-Specific Neurons", §3).

For every language ``L`` with at least one LAPE neuron (:mod:`.lape`), its neurons (in
all modules) are deactivated (:func:`~.intervention.intervene`, mode ``zero`` by
default: the activation set to 0 in the forward pass) and every language ``E`` is
evaluated on the same sentences as the baseline (:mod:`.lm_loss`: next-token loss for
decoders, masked-token loss for encoders, with identical masked positions in every
condition). Per ``(L, E)``: the baseline perplexity, the perplexity with ``L``'s
neurons off, their ratio (and difference, and Δ log-perplexity = log ratio), and the
mean ratio of ``control_draws`` random-neuron controls — per module the same number of
neurons as ``L`` has there, drawn uniformly from that module's neurons that LAPE
selected for no language (seeded) — an ablation of the same size that is not
language-specific.

Confidence intervals: a paired percentile bootstrap over sentences. For each
evaluated language ``E`` one set of ``bootstrap`` resamples of its sentences (with
replacement, seeded per language) is drawn, and every ratio of ``E`` is recomputed from
the resampled summed NLLs and token counts (float64) of the same resamples — baseline,
ablation and controls stay paired. Headline per ``L``: the own-language ratio against
the mean ratio of the other languages (``contrast`` = own − mean of others, "does
switching ``L``'s neurons off hurt ``L`` more?") and against the control
(``own_vs_control`` = own − mean control ratio), each with its bootstrap CI; the
languages are resampled independently of each other (also for a parallel corpus).

``torch`` is imported inside the functions (through :mod:`.lm_loss`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.params import Configurable, Param
from interlingua.core.progress import Progress, as_progress
from interlingua.plugins.neurons.ablation_result import (
    CITATION,
    AblationResult,
    bootstrap_ratios,
    headline_contrasts,
    percentile_ci,
)
from interlingua.plugins.neurons.intervention import Edit, check_modules, intervene
from interlingua.plugins.neurons.lape import LanguageNeurons

ABLATION_MODES = ("zero", "constant", "scale")
MODEL_DTYPES = ("float32", "float16", "bfloat16")


class AblationSettings(Configurable):
    """The settings of :func:`ablate_languages`, declared once: they give the
    function's keyword defaults and the ``ablate`` command's options."""

    name = "ablate"
    params = (
        Param("mode", "zero", "What switching a neuron off does: zero (Tang et al.), set to "
              "a constant, or scale (by value).", str, ABLATION_MODES),
        Param("value", 0.0, "The constant (mode constant) or factor (mode scale).", float),
        Param("control_draws", 3, "Random-neuron controls per language (same number of "
              "neurons per module, none of them selected by LAPE); 0 = no control.", int),
        Param("bootstrap", 1000, "Bootstrap resamples of the sentences for the CIs; 0 = no "
              "CI.", int),
        Param("confidence", 0.95, "Level of the bootstrap CIs.", float),
        Param("seed", 0, "Seed of the controls, the bootstrap and the masked positions.", int),
        Param("mask_fraction", 0.15, "Encoders: share of each sentence's tokens masked and "
              "predicted (at least one).", float),
        Param("batch_size", 16, "Sentences per forward pass.", int),
        Param("max_length", None, "Max tokens per sentence incl. special tokens (null = the "
              "model's limit); longer sentences are truncated.", int),
        Param("model_dtype", "float32", "dtype the model runs in (losses are float32 per "
              "token, summed in float64).", str, MODEL_DTYPES),
        Param("device", "auto", "auto, cpu, cuda or cuda:N.", str),
        Param("revision", None, "Hub revision (branch, tag or commit).", str),
        Param("trust_remote_code", False, "Allow code shipped with the checkpoint.", bool),
        Param("allow_pickle", False, "Allow pickled (.bin) weights.", bool),
    )

    def check_params(self) -> None:
        """Check the ranges (before any work).

        Raises
        ------
        InputError
            A count below its minimum, a level or fraction out of range.
        """
        for key, low in (("control_draws", 0), ("bootstrap", 0), ("batch_size", 1)):
            if getattr(self, key) < low:
                raise InputError(f"{key} must be >= {low}, got {getattr(self, key)}")
        if not 0 < self.confidence < 1:
            raise InputError(f"confidence must be in (0, 1), got {self.confidence}")
        if not 0 < self.mask_fraction <= 1:
            raise InputError(f"mask_fraction must be in (0, 1], got {self.mask_fraction}")
        if self.max_length is not None and self.max_length < 2:
            raise InputError(f"max_length must be >= 2, got {self.max_length}")


_D = {p.name: p.default for p in AblationSettings.params}


# -- neurons to switch off ---------------------------------------------------------------
def _by_module(pairs: Sequence[tuple[str, int]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for module, index in pairs:
        out.setdefault(module, []).append(int(index))
    return out


def random_control(neurons: LanguageNeurons, language: str, *, seed: int = 0,
                   draw: int = 0) -> list[tuple[str, int]]:
    """A random-neuron control for ``language``: per module as many neurons as the
    language has there, drawn uniformly without replacement from the module's neurons
    that LAPE selected for no language (generator ``default_rng([seed, row, draw])``,
    ``row`` = the language's index in the LAPE result).

    Raises
    ------
    InputError
        A module with fewer unselected neurons than needed.
    """
    counts = neurons.counts
    mine = neurons.flat(language)  # an unknown language: one-line error
    rng = np.random.default_rng([seed, neurons.languages.index(language), draw])
    taken = np.zeros(counts.n_neurons, dtype=bool)
    taken[neurons.selected] = True
    offsets = counts.offsets
    wanted = np.bincount(np.searchsorted(offsets, mine, side="right") - 1,
                         minlength=len(counts.modules))
    out: list[tuple[str, int]] = []
    for k, module in enumerate(counts.modules):
        if not wanted[k]:
            continue
        pool = np.flatnonzero(~taken[offsets[k]:offsets[k + 1]])
        if pool.size < wanted[k]:
            raise InputError(f"module {module!r} has {pool.size} neurons not selected by LAPE, "
                             f"fewer than the {int(wanted[k])} a control for {language!r} needs")
        chosen = np.sort(rng.choice(pool, size=int(wanted[k]), replace=False))
        out.extend((module, int(j)) for j in chosen)
    return out


def edits_for(pairs: Sequence[tuple[str, int]], *, mode: str = "zero",
              value: float = 0.0) -> list[Edit]:
    """One :class:`~.intervention.Edit` per module of ``(module, index)`` pairs."""
    return [Edit(module, tuple(idx), mode=mode, value=value)
            for module, idx in _by_module(pairs).items()]


# -- the experiment ----------------------------------------------------------------------
def _texts(sentences_by_language: Mapping[str, Sequence[Any]]) -> dict[str, list[str]]:
    if not isinstance(sentences_by_language, Mapping) or not sentences_by_language:
        raise InputError("sentences_by_language must be a non-empty dict {language: "
                         "[sentences]}")
    out = {}
    for lang, items in sentences_by_language.items():
        if isinstance(items, (str, bytes)):
            raise InputError(f"language {lang!r}: expected a list of sentences, got one string")
        texts = [s if isinstance(s, str) else (getattr(s, "text", None)
                                               or " ".join(getattr(s, "words", s)))
                 for s in items]
        texts = [t for t in texts if t.strip()]
        if not texts:
            raise InputError(f"language {lang!r} has no sentences")
        out[str(lang)] = texts
    return out


def _check_widths(lm: Any, modules: list[str], widths: list[int]) -> None:
    """The LAPE modules must exist in the model with the counted widths."""
    import torch

    from interlingua.plugins.neurons.intervention import capture

    try:
        check_modules(lm.base, modules)
    except InputError as exc:
        raise InputError(f"the LAPE neurons are not this model's: {exc}") from None
    ids = lm.tokenizer("a b", return_tensors="pt")["input_ids"].to(lm.device)
    with torch.inference_mode():
        outputs = capture(lm.base, modules, input_ids=ids)
    for module, width in zip(modules, widths):
        if outputs[module].shape[-1] != width:
            raise InputError(f"the LAPE neurons are not this model's: module {module!r} has "
                             f"{outputs[module].shape[-1]} outputs, the LAPE result counted "
                             f"{width}")


def ablate_languages(
    model: Any,
    sentences_by_language: Mapping[str, Sequence[Any]],
    neurons: LanguageNeurons,
    *,
    languages_off: Sequence[str] | None = None,
    mode: str = _D["mode"],
    value: float = _D["value"],
    control_draws: int = _D["control_draws"],
    bootstrap: int = _D["bootstrap"],
    confidence: float = _D["confidence"],
    seed: int = _D["seed"],
    mask_fraction: float = _D["mask_fraction"],
    batch_size: int = _D["batch_size"],
    max_length: int | None = _D["max_length"],
    model_dtype: str = _D["model_dtype"],
    device: str = _D["device"],
    revision: str | None = _D["revision"],
    trust_remote_code: bool = _D["trust_remote_code"],
    allow_pickle: bool = _D["allow_pickle"],
    progress: Progress | bool | None = None,
) -> AblationResult:
    """Switch each language's LAPE neurons off and measure every language's perplexity
    (Tang et al. 2024, §3; module docstring).

    Parameters
    ----------
    model : str, path or LossModel
        A model name (loaded by :func:`~.lm_loss.load_loss_model` with the loading
        settings) or a loaded :class:`~.lm_loss.LossModel` (then those are ignored).
    sentences_by_language : dict of str -> list of str
        Sentences evaluated per language (a parallel corpus, ideally).
    neurons : LanguageNeurons
        From :func:`~.lape.select_language_neurons` or
        :func:`~.lape.load_language_neurons`, for this model.
    languages_off : sequence of str, optional
        Languages whose neurons are switched off (default: every LAPE language with
        neurons).
    mode, value : str, float
        ``zero`` (default), ``constant`` (= value) or ``scale`` (× value).
    control_draws, bootstrap, confidence, seed, mask_fraction, batch_size
        See :class:`AblationSettings`.
    max_length, model_dtype, device, revision, trust_remote_code, allow_pickle
        Loading settings (as for ``load_model``).
    progress : Progress or bool, optional
        Reports sentences evaluated (:mod:`interlingua.core.progress`).

    Returns
    -------
    AblationResult

    Raises
    ------
    InputError
        Bad settings, no sentences, LAPE modules the model does not have (or of other
        widths), an unknown language to switch off, no language with neurons.
    """
    from interlingua.plugins.neurons.lm_loss import (
        LossModel,
        encode,
        load_loss_model,
        perplexity,
        sentence_losses,
    )

    spec = AblationSettings(mode=mode, value=value, control_draws=control_draws,
                            bootstrap=bootstrap, confidence=confidence, seed=seed,
                            mask_fraction=mask_fraction, batch_size=batch_size,
                            max_length=max_length, model_dtype=model_dtype, device=device,
                            revision=revision, trust_remote_code=trust_remote_code,
                            allow_pickle=allow_pickle)
    spec.check_params()
    if not isinstance(neurons, LanguageNeurons):
        raise InputError(f"expected LanguageNeurons (a LAPE result), got "
                         f"{type(neurons).__name__}")
    data = _texts(sentences_by_language)
    per_language = neurons.n_per_language
    if languages_off is None:
        off = [lang for lang in neurons.languages if per_language[lang]]
    else:
        off = list(dict.fromkeys(str(x) for x in languages_off))
        for lang in off:
            neurons.flat(lang)  # unknown language: one line
    without = [lang for lang in neurons.languages if not per_language[lang]]
    off = [lang for lang in off if per_language[lang]]
    if not off:
        raise InputError("no language to switch off has LAPE neurons (none: "
                         f"{', '.join(without) or '-'})")
    lm = model if isinstance(model, LossModel) else load_loss_model(
        model, device=device, model_dtype=model_dtype, revision=revision,
        trust_remote_code=trust_remote_code, allow_pickle=allow_pickle, max_length=max_length)
    counts = neurons.counts
    _check_widths(lm, counts.modules, counts.widths)
    inputs = {lang: encode(lm, texts, seed=seed, mask_fraction=mask_fraction)
              for lang, texts in data.items()}
    tokens = {lang: inp.tokens for lang, inp in inputs.items()}
    empty = [lang for lang, t in tokens.items() if t.sum() == 0]
    if empty:
        raise InputError(f"language {empty[0]!r} has no tokens to predict")
    languages = list(data)
    pairs = {lang: neurons.neurons(lang) for lang in off}
    controls = {lang: [random_control(neurons, lang, seed=seed, draw=d)
                       for d in range(control_draws)] for lang in off}
    conditions: list[tuple[str, str, int, list[Edit]]] = [("baseline", "", -1, [])]
    for lang in off:
        conditions.append((f"{lang} off", lang, -1, edits_for(pairs[lang], mode=mode,
                                                               value=value)))
        conditions += [(f"{lang} control {d + 1}", lang, d, edits_for(c, mode=mode,
                                                                      value=value))
                       for d, c in enumerate(controls[lang])]
    n_sent = sum(len(v) for v in inputs.values())
    losses: dict[str, Any] = {"baseline": {}, "off": {lang: {} for lang in off},
                              "control": {lang: [{} for _ in range(control_draws)]
                                          for lang in off}}
    seconds: dict[str, float] = {}
    done_tok = 0
    t_start = time.perf_counter()
    with as_progress(progress).task("ablation", total=n_sent * len(conditions)) as task:
        for label, lang, draw, edits in conditions:
            task.update(description=f"ablation: {label}")
            t0 = time.perf_counter()
            with intervene(lm.base, edits):
                got = {e: sentence_losses(lm, inputs[e], batch_size=batch_size, task=task)
                       for e in languages}
            seconds[label] = time.perf_counter() - t0
            done_tok += sum(int(t.sum()) for t in tokens.values())
            task.advance(0, rate=f"{done_tok / (time.perf_counter() - t_start):,.0f} tok/s")
            if not lang:
                losses["baseline"] = got
            elif draw < 0:
                losses["off"][lang] = got
            else:
                losses["control"][lang][draw] = got
    base = losses["baseline"]
    baseline = {e: {"ppl": perplexity(base[e], tokens[e]), "sentences": len(inputs[e]),
                    "tokens": int(tokens[e].sum()), "nll": float(base[e].sum())}
                for e in languages}
    # Paired bootstrap: one set of resamples per evaluated language, for every row.
    boot: dict[str, np.ndarray] = {}
    if bootstrap:
        for j, e in enumerate(languages):
            rows = [losses["off"][lang][e] - base[e] for lang in off]
            rows += [c[e] - base[e] for lang in off for c in losses["control"][lang]]
            boot[e] = bootstrap_ratios(np.stack(rows), tokens[e], resamples=bootstrap,
                                       rng=np.random.default_rng([seed, 1, j]))
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for i, lang in enumerate(off):
        cells[lang] = {}
        for e in languages:
            total = float(tokens[e].sum())
            delta = float((losses["off"][lang][e] - base[e]).sum()) / total
            ctrl = [float((c[e] - base[e]).sum()) / total for c in losses["control"][lang]]
            ppl_off = perplexity(losses["off"][lang][e], tokens[e])
            cells[lang][e] = {
                "ppl_base": baseline[e]["ppl"], "ppl_off": ppl_off,
                "ratio": float(np.exp(delta)), "diff": ppl_off - baseline[e]["ppl"],
                "delta_log": delta,
                "ratio_ci": percentile_ci(boot[e][i], confidence) if bootstrap else None,
                "control_ratio": float(np.mean(np.exp(ctrl))) if ctrl else None,
                "control_ratios": [float(np.exp(c)) for c in ctrl],
                "control_delta_log": float(np.mean(ctrl)) if ctrl else None,
                "sentences": len(inputs[e]), "tokens": int(total)}
    headline = headline_contrasts(off, languages, cells, boot, control_draws, confidence)
    neuron_counts = {lang: {m: len(v) for m, v in _by_module(pairs[lang]).items()}
                     for lang in off}
    meta = {**lm.meta, "lape": {"settings": neurons.settings, "modules": counts.modules,
                                "model": counts.meta.get("model")},
            "n_truncated": {lang: inp.n_truncated for lang, inp in inputs.items()},
            "seconds": seconds,
            "controls": {lang: [[list(p) for p in c] for c in controls[lang]]
                         for lang in off}}
    return AblationResult(model=lm.name, objective=lm.objective, languages=languages,
                          off=off, without_neurons=without, neurons=neuron_counts,
                          baseline=baseline, cells=cells, headline=headline,
                          settings=spec.get_params(), meta=meta, losses=losses,
                          tokens=tokens)


__all__ = ["ABLATION_MODES", "CITATION", "AblationResult", "AblationSettings", "ablate_languages",
           "bootstrap_ratios", "edits_for", "percentile_ci", "random_control"]
