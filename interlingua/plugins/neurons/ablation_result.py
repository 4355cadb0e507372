"""The statistics and the result of :mod:`.ablation`: the paired percentile bootstrap
over sentences, the headline contrasts and :class:`AblationResult` (JSON, CSV rows and
the heat map).

Perplexity ratios are recomputed per resample from summed NLLs and token counts in
float64 (:func:`bootstrap_ratios`); the resamples of one evaluated language are shared
by every condition (baseline, ablation, controls), so the comparisons stay paired.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError

CITATION = ("Tang et al. 2024, Language-Specific Neurons: The Key to Multilingual "
            "Capabilities in Large Language Models, §3")
#: Resampled indices held at once by the bootstrap (resamples × sentences).
_BOOT_BLOCK = 2**22


# -- bootstrap ---------------------------------------------------------------------------
def bootstrap_ratios(deltas: np.ndarray, tokens: np.ndarray, *, resamples: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Perplexity ratios ``exp(Σ δ* / Σ t*)`` over bootstrap resamples of sentences.

    Parameters
    ----------
    deltas : array-like
        ``(k, n)`` per-sentence NLL differences (condition − baseline) of ``k``
        conditions, paired over the same ``n`` sentences.
    tokens : array-like
        ``(n,)`` targets per sentence.
    resamples : int
        Number of resamples; resample ``b`` is ``rng.integers(0, n, size=n)`` in turn
        (drawn in blocks of whole resamples, the same stream).
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        ``(k, resamples)`` float64 (NaN for a resample without targets).
    """
    d = np.atleast_2d(np.asarray(deltas, dtype=np.float64))
    t = np.asarray(tokens, dtype=np.float64)
    n = t.size
    out = np.empty((d.shape[0], resamples), dtype=np.float64)
    block = max(1, _BOOT_BLOCK // max(n, 1))
    for s in range(0, resamples, block):
        b = min(block, resamples - s)
        idx = rng.integers(0, n, size=(b, n))
        # Multiplicity of each sentence in each resample: sums become one matmul.
        mult = np.bincount((np.arange(b)[:, None] * n + idx).ravel(),
                           minlength=b * n).reshape(b, n).astype(np.float64)
        tok = mult @ t
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, s:s + b] = np.exp((d @ mult.T) / tok)
    return out


def percentile_ci(samples: np.ndarray, confidence: float) -> list[float] | None:
    """The percentile interval of bootstrap ``samples`` (None when there are none)."""
    x = np.asarray(samples, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return None
    alpha = (1.0 - confidence) / 2
    return [float(v) for v in np.quantile(x, [alpha, 1.0 - alpha])]


# -- the result --------------------------------------------------------------------------
@dataclass
class AblationResult:
    """Perplexity changes when each language's neurons are switched off.

    ``cells[L][E]``: ``ppl_base``, ``ppl_off``, ``ratio`` (off / base), ``ratio_ci``,
    ``diff`` (off − base), ``delta_log`` (log ratio), ``control_ratio`` (mean over
    draws), ``control_ratios``, ``control_delta_log``, ``sentences``, ``tokens``.
    ``headline[L]``: ``own_ratio``, ``others_ratio``, ``contrast`` (own − others) with
    ``contrast_ci``, ``control_ratio`` and ``own_vs_control`` with its CI.
    ``losses`` holds the per-sentence NLLs (float64) of every condition and ``tokens``
    the per-sentence targets (not in :meth:`to_dict`).
    """

    model: str
    objective: str
    languages: list[str]
    off: list[str]
    without_neurons: list[str]
    neurons: dict[str, dict[str, int]]
    baseline: dict[str, dict[str, Any]]
    cells: dict[str, dict[str, dict[str, Any]]]
    headline: dict[str, dict[str, Any]]
    settings: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    losses: dict[str, Any] = field(default_factory=dict, repr=False)
    tokens: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def matrix(self, key: str = "ratio") -> np.ndarray:
        """``(len(off), len(languages))`` float64 of one cell value."""
        return np.array([[np.nan if self.cells[lang][e][key] is None
                          else self.cells[lang][e][key] for e in self.languages]
                         for lang in self.off], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: model, settings, neurons per language (and module), baseline,
        every cell and the headline per language switched off."""
        return {"method": "language-neuron ablation", "reference": CITATION,
                "model": self.model, "objective": self.objective,
                "settings": dict(self.settings), "languages": list(self.languages),
                "off": list(self.off), "without_neurons": list(self.without_neurons),
                "neurons": {lang: {"total": sum(m.values()), "per_module": m}
                            for lang, m in self.neurons.items()},
                "baseline": self.baseline, "cells": self.cells, "headline": self.headline,
                "meta": dict(self.meta)}

    def rows(self) -> list[dict[str, Any]]:
        """One CSV row per (language off, language evaluated)."""
        out = []
        for lang in self.off:
            for e in self.languages:
                c = self.cells[lang][e]
                ci = c["ratio_ci"] or [None, None]
                out.append({"off": lang, "evaluated": e, "own": lang == e,
                            "neurons": sum(self.neurons[lang].values()),
                            "sentences": c["sentences"], "tokens": c["tokens"],
                            "ppl_base": c["ppl_base"], "ppl_off": c["ppl_off"],
                            "ratio": c["ratio"], "ratio_ci_low": ci[0], "ratio_ci_high": ci[1],
                            "diff": c["diff"], "delta_log": c["delta_log"],
                            "control_ratio": c["control_ratio"],
                            "control_delta_log": c["control_delta_log"]})
        return out

    def plot(self, path: str | os.PathLike, *, title: str = "") -> Path:
        """Heat map languages off × languages evaluated of Δ log-perplexity (colour,
        centred at 0) annotated with the perplexity ratio; own-language cells framed.
        Written atomically (PNG unless the suffix says otherwise)."""
        from interlingua.core.plotting import pyplot, save_figure

        if not self.off:
            raise InputError("nothing to plot: no language has neurons to switch off")
        plt = pyplot()
        delta = self.matrix("delta_log")
        ratio = self.matrix("ratio")
        fig, ax = plt.subplots(figsize=(max(4.5, 0.7 * len(self.languages) + 2.5),
                                        max(2.8, 0.55 * len(self.off) + 1.8)), dpi=120)
        bound = float(np.nanmax(np.abs(delta))) if np.isfinite(delta).any() else 1.0
        image = ax.imshow(delta, cmap="RdBu_r", vmin=-(bound or 1.0), vmax=bound or 1.0,
                          aspect="auto")
        ax.set_xticks(range(len(self.languages)))
        ax.set_xticklabels(self.languages)
        ax.set_yticks(range(len(self.off)))
        ax.set_yticklabels(self.off)
        ax.set_xlabel("language evaluated")
        ax.set_ylabel("neurons switched off")
        for i, lang in enumerate(self.off):
            for j, e in enumerate(self.languages):
                if np.isfinite(ratio[i, j]):
                    dark = abs(delta[i, j]) > 0.6 * (bound or 1.0)  # readable on deep colours
                    ax.text(j, i, f"×{ratio[i, j]:.3f}", ha="center", va="center", fontsize=8,
                            color="white" if dark else "black")
                if lang == e:
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                               edgecolor="black", linewidth=1.5))
        fig.colorbar(image, ax=ax).set_label("Δ log perplexity (off − base)")
        ax.set_title(title or f"{self.settings['mode']} language neurons: {self.model}",
                     fontsize=9)
        fig.tight_layout()
        try:
            return save_figure(fig, path)
        finally:
            plt.close(fig)


def headline_contrasts(off: list[str], languages: list[str], cells: dict[str, Any],
              boot: dict[str, np.ndarray], draws: int,
              confidence: float) -> dict[str, dict[str, Any]]:
    """Own-language ratio against the other languages and against the control."""
    n_off = len(off)
    out: dict[str, dict[str, Any]] = {}
    for i, lang in enumerate(off):
        others = [e for e in languages if e != lang]
        own = cells[lang][lang] if lang in languages else None
        h: dict[str, Any] = {
            "own_ratio": own["ratio"] if own else None,
            "others_ratio": float(np.mean([cells[lang][e]["ratio"] for e in others]))
            if others else None,
            "control_ratio": own["control_ratio"] if own else None}
        h["contrast"] = (h["own_ratio"] - h["others_ratio"]
                         if own and others else None)
        h["own_vs_control"] = (h["own_ratio"] - h["control_ratio"]
                               if own and draws else None)
        h["contrast_ci"] = h["own_vs_control_ci"] = None
        if boot and own:
            if others:
                h["contrast_ci"] = percentile_ci(
                    boot[lang][i] - np.mean([boot[e][i] for e in others], axis=0), confidence)
            if draws:
                ctrl = boot[lang][n_off + i * draws:n_off + (i + 1) * draws].mean(axis=0)
                h["own_vs_control_ci"] = percentile_ci(boot[lang][i] - ctrl, confidence)
        out[lang] = h
    return out


__all__ = ["CITATION", "AblationResult", "bootstrap_ratios", "headline_contrasts",
           "percentile_ci"]
