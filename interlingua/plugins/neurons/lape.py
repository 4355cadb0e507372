"""Language-specific neurons by language activation probability entropy (LAPE).

Tang et al. 2024, "Language-Specific Neurons: The Key to Multilingual Capabilities in
Large Language Models", §2. From :class:`~.activation_probability.ActivationCounts`:

1. ``p_{j,ℓ} = P(act_j > 0)`` over the tokens of language ``ℓ``;
   ``p'_{j,ℓ} = p_{j,ℓ} / Σ_ℓ p_{j,ℓ}``; ``LAPE_j = −Σ_ℓ p'_{j,ℓ} log p'_{j,ℓ}``
   (natural log; ``0 log 0 = 0``; a neuron never active in any language has LAPE 0 and
   is never a candidate).
2. **Activation filter** (first): the *candidates* are the neurons whose
   ``max_ℓ p_{j,ℓ}`` exceeds the ``activation_quantile`` (paper: 0.95) quantile of all
   ``p`` (every neuron × language). The quantile is the ``round(q·n)``-th smallest of the
   ``n`` values, as ``torch.kthvalue`` in Tang et al.'s ``identify.py``; "exceeds" is
   strict.
3. **Entropy quantile** (second): of the candidates, keep the
   ``round(entropy_quantile · N)`` with the lowest LAPE (paper: 1 %), where ``N`` is the
   number of *all* neurons (``entropy_budget="all"``, the rule of ``identify.py``, which
   takes the lowest-entropy ``top_rate`` of all neurons with non-candidates set to +inf),
   or the number of candidates (``entropy_budget="candidates"``). Equal LAPE values are
   ordered by neuron position.
4. **Languages**: a kept neuron is specific to *every* language whose ``p_{j,ℓ}`` exceeds
   the ``language_quantile`` quantile of all ``p`` (``identify.py``'s
   ``activation_bar_ratio``, 0.95; default: the activation quantile), so a neuron can be
   specific to several (related) languages.

Cross-checks only this toolkit has: :meth:`LanguageNeurons.overlaps` runs the registered
super exact test (``get_metric("superexact")``, Wang et al. 2015) on the languages'
neuron sets, over a background of all neurons counted (or of the selected ones); and
:mod:`~interlingua.plugins.neurons.lape_anc` compares the per-neuron ANC correlations of
language-specific neurons with the rest, on module activations stored by
``interlingua extract --modules``. What switching them off does is measured by
:mod:`~interlingua.plugins.neurons.ablation`.

The module is a little over 400 lines: the result class carries its JSON, CSV rows and
figure, and reloading a saved result re-runs the selection to check it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.params import Configurable, Param
from interlingua.core.suggest import did_you_mean
from interlingua.plugins.neurons.activation_counts import ActivationCounts

BUDGETS = ("all", "candidates")
BACKGROUNDS = ("neurons", "selected")
CITATION = ("Tang et al. 2024, Language-Specific Neurons: The Key to Multilingual "
            "Capabilities in Large Language Models, §2")


class LapeSettings(Configurable):
    """The parameters of :func:`select_language_neurons` (and of the ``lape`` command)."""

    name = "lape"
    params = (
        Param("activation_quantile", 0.95, "Candidates: neurons whose highest activation "
              "probability exceeds this quantile of all probabilities (Tang et al.: 0.95).",
              float),
        Param("entropy_quantile", 0.01, "Keep this fraction (of all neurons, see "
              "entropy_budget) with the lowest LAPE among the candidates (Tang et al.: 0.01).",
              float),
        Param("language_quantile", None, "A kept neuron is specific to every language whose "
              "probability exceeds this quantile of all probabilities (null = "
              "activation_quantile).", float),
        Param("entropy_budget", "all", "What entropy_quantile is a fraction of: all neurons "
              "(Tang et al.'s identify.py) or the candidates.", str, BUDGETS),
        Param("overlap_background", "neurons", "Background of the super exact test of "
              "overlaps: all neurons counted, or the selected neurons.", str, BACKGROUNDS),
    )


    def check_params(self) -> None:
        """Check the ranges (before any work).

        Raises
        ------
        InputError
            A quantile outside (0, 1), or ``entropy_quantile`` outside (0, 1].
        """
        for key in ("activation_quantile", "language_quantile"):
            q = getattr(self, key)
            if q is not None and not 0 < q < 1:
                raise InputError(f"{key} must be in (0, 1), got {q}")
        if not 0 < self.entropy_quantile <= 1:
            raise InputError(f"entropy_quantile must be in (0, 1], got {self.entropy_quantile}")


_D = {p.name: p.default for p in LapeSettings.params}


def kth_quantile(values: np.ndarray, q: float) -> float:
    """The ``round(q · n)``-th smallest value (1-based, clipped to 1..n): the threshold of
    Tang et al.'s ``identify.py`` (``torch.kthvalue``)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    k = min(max(round(q * flat.size), 1), flat.size)
    return float(np.partition(flat, k - 1)[k - 1])


def lape_entropy(probabilities: np.ndarray) -> np.ndarray:
    """LAPE of each neuron: entropy (nats) of its activation probabilities normalised
    over languages; ``probabilities`` is ``(n_languages, n_neurons)``. All-zero columns
    give 0 (as in Tang et al.'s code)."""
    p = np.asarray(probabilities, dtype=np.float64)
    total = p.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(total > 0, p / total, 0.0)
        terms = np.where(q > 0, q * np.log(q), 0.0)
    return 0.0 - terms.sum(axis=0)  # 0.0 - x: no negative zero


@dataclass(eq=False)
class LanguageNeurons:
    """Language-specific neurons found by :func:`select_language_neurons`.

    Attributes
    ----------
    counts : ActivationCounts
        The counts the selection was made from.
    probabilities : numpy.ndarray
        ``(n_languages, n_neurons)`` activation probabilities (modules concatenated).
    lape : numpy.ndarray
        ``(n_neurons,)`` LAPE of every neuron.
    candidates : numpy.ndarray
        ``(n_neurons,)`` bool: passed the activation filter.
    selected : numpy.ndarray
        Flat indices of the kept neurons, by increasing LAPE.
    specific : numpy.ndarray
        ``(n_languages, n_selected)`` bool: kept neuron ``s`` is specific to language ``ℓ``.
    thresholds : dict
        ``activation`` and ``language`` probability thresholds, ``budget`` (neurons to
        keep), ``entropy_cutoff`` (largest kept LAPE).
    settings : dict
        The parameters used.
    """

    counts: ActivationCounts
    probabilities: np.ndarray
    lape: np.ndarray
    candidates: np.ndarray
    selected: np.ndarray
    specific: np.ndarray
    thresholds: dict[str, Any]
    settings: dict[str, Any]
    _overlaps: Any = field(default=None, repr=False)

    @property
    def languages(self) -> list[str]:
        return self.counts.languages

    def _row(self, language: str) -> int:
        if language not in self.languages:
            hint = did_you_mean(language, self.languages)
            raise InputError(f"unknown language {language!r}{hint} (languages: "
                             f"{', '.join(self.languages)})")
        return self.languages.index(language)

    def flat(self, language: str) -> np.ndarray:
        """Flat neuron indices specific to ``language``, ascending."""
        return np.sort(self.selected[self.specific[self._row(language)]])

    def sets(self) -> dict[str, np.ndarray]:
        """``{language: flat neuron indices}`` for every language."""
        return {lang: self.flat(lang) for lang in self.languages}

    def neurons(self, language: str) -> list[tuple[str, int]]:
        """``(module, index)`` of the neurons specific to ``language``, in model order."""
        return [self.counts.locate(j) for j in self.flat(language)]

    def per_layer(self) -> np.ndarray:
        """``(n_modules, n_languages)`` int: language-specific neurons per module."""
        module_of = np.searchsorted(self.counts.offsets, self.selected, side="right") - 1
        out = np.zeros((len(self.counts.modules), len(self.languages)), dtype=np.int64)
        for li in range(len(self.languages)):
            np.add.at(out[:, li], module_of[self.specific[li]], 1)
        return out

    @property
    def n_per_language(self) -> dict[str, int]:
        return dict(zip(self.languages, self.specific.sum(axis=1).astype(int).tolist()))

    def overlaps(self, background: str | None = None) -> Any:
        """Super exact test of the overlaps of the languages' neuron sets.

        Parameters
        ----------
        background : {"neurons", "selected"}, optional
            The elements the sets are drawn from: every neuron counted (default from
            the settings), or only the selected neurons (do languages share more of the
            selected pool than chance?).

        Returns
        -------
        MetricResult or None
            The ``superexact`` metric's result (``details["pairwise"]`` and
            ``details["intersections"]``); None when fewer than two languages have
            neurons (it needs two non-empty sets).
        """
        from interlingua.registry import get_metric

        kind = background or self.settings["overlap_background"]
        if kind not in BACKGROUNDS:
            raise InputError(f"background must be one of {', '.join(BACKGROUNDS)}, got {kind!r}")
        if background is None and self._overlaps is not None:
            return self._overlaps
        sets = {k: v for k, v in self.sets().items() if v.size}
        if len(sets) < 2:
            return None
        if kind == "selected":
            position = {int(j): i for i, j in enumerate(np.sort(self.selected))}
            sets = {k: [position[int(j)] for j in v] for k, v in sets.items()}
            n = int(self.selected.size)
        else:
            sets = {k: v.tolist() for k, v in sets.items()}
            n = self.counts.n_neurons
        metric = get_metric("superexact", nonempty_only=len(sets) > 8)
        result = metric(sets, background=n)
        result.details["background_kind"] = kind
        if background is None:
            self._overlaps = result
        return result

    # -- output --------------------------------------------------------------------
    def layer_rows(self) -> list[dict[str, Any]]:
        """One CSV row per module: layer, module, neurons, one column per language
        (its specific neurons there), and ``selected`` (distinct kept neurons there)."""
        table = self.per_layer()
        module_of = np.searchsorted(self.counts.offsets, self.selected, side="right") - 1
        kept = np.bincount(module_of, minlength=len(self.counts.modules))
        rows = []
        for k, (module, layer, width) in enumerate(zip(self.counts.modules, self.counts.layers,
                                                       self.counts.widths)):
            row: dict[str, Any] = {"layer": layer, "module": module, "neurons": width}
            row.update({lang: int(table[k, li]) for li, lang in enumerate(self.languages)})
            row["selected"] = int(kept[k])
            rows.append(row)
        return rows

    def to_dict(self, *, overlaps: bool = True) -> dict[str, Any]:
        """JSON-ready result: settings, thresholds, counts per language and layer, every
        kept neuron (module, layer, index, LAPE, languages, probabilities) by increasing
        LAPE, and (``overlaps``) the super exact test."""
        table = self.per_layer()
        neurons = []
        for s, j in enumerate(self.selected.tolist()):
            module, index = self.counts.locate(j)
            langs = [lang for li, lang in enumerate(self.languages) if self.specific[li, s]]
            neurons.append({"module": module, "layer": self.counts.layers[
                self.counts.modules.index(module)], "index": index, "flat": j,
                "lape": float(self.lape[j]), "languages": langs,
                "p": {lang: float(self.probabilities[li, j])
                      for li, lang in enumerate(self.languages)}})
        n_langs = self.specific.sum(axis=0)
        data: dict[str, Any] = {
            "method": "LAPE",
            "reference": CITATION,
            "settings": self.settings,
            "languages": self.languages,
            "n_neurons": self.counts.n_neurons,
            "n_candidates": int(self.candidates.sum()),
            "n_selected": int(self.selected.size),
            "n_shared": int((n_langs >= 2).sum()),
            "n_unassigned": int((n_langs == 0).sum()),
            "thresholds": self.thresholds,
            "per_language": self.n_per_language,
            "per_layer": {"layers": self.counts.layers, "modules": self.counts.modules,
                          "counts": {lang: table[:, li].tolist()
                                     for li, lang in enumerate(self.languages)}},
            "neurons": neurons,
            "counts": self.counts.to_dict(),
        }
        if overlaps:
            result = self.overlaps()
            data["overlaps"] = None if result is None else {
                "test": "superexact (Wang et al. 2015)",
                "background": result.details["background"],
                "background_kind": result.details["background_kind"],
                "pairwise": result.details["pairwise"],
                "intersections": result.details["intersections"],
                "full": result.details["full"],
            }
            if result is None:
                data["overlaps_note"] = "fewer than two languages have specific neurons"
        return data

    def plot(self, path: str | os.PathLike, *, title: str = "") -> Path:
        """Stacked bars of language-specific neurons per layer, one colour per language
        (in the manner of Tang et al.'s Fig. 2), written atomically as PNG."""
        from interlingua.core.plotting import pyplot, save_figure

        plt = pyplot()
        table = self.per_layer()
        layers = self.counts.layers
        fig, ax = plt.subplots(figsize=(max(6.4, 0.35 * len(layers) + 2), 4.0), dpi=120)
        x = np.arange(len(layers))
        bottom = np.zeros(len(layers))
        for li, lang in enumerate(self.languages):
            ax.bar(x, table[:, li], bottom=bottom, label=f"{lang} ({int(table[:, li].sum())})",
                   width=0.8)
            bottom += table[:, li]
        ax.set_xticks(x)
        ax.set_xticklabels(layers, rotation=90 if len(layers) > 24 else 0, fontsize=8)
        ax.set_xlabel("layer (block index)")
        ax.set_ylabel("language-specific neurons")
        ax.set_title(title or f"LAPE: {int(self.selected.size)} of {self.counts.n_neurons} "
                              "neurons")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8, ncol=2 if len(self.languages) > 6 else 1)
        fig.tight_layout()
        try:
            return save_figure(fig, path)
        finally:
            plt.close(fig)


def select_language_neurons(
    counts: ActivationCounts,
    *,
    activation_quantile: float = _D["activation_quantile"],
    entropy_quantile: float = _D["entropy_quantile"],
    language_quantile: float | None = _D["language_quantile"],
    entropy_budget: str = _D["entropy_budget"],
    overlap_background: str = _D["overlap_background"],
) -> LanguageNeurons:
    """Language-specific neurons by LAPE (Tang et al. 2024, §2; see the module docstring
    for the exact rule order: activation filter, then entropy quantile, then languages).

    Parameters
    ----------
    counts : ActivationCounts
        From :func:`~.activation_probability.count_activations` (two languages or more).
    activation_quantile : float
        In (0, 1): quantile of all probabilities a candidate's highest one must exceed.
    entropy_quantile : float
        In (0, 1]: fraction kept, of all neurons or of the candidates (``entropy_budget``).
    language_quantile : float, optional
        In (0, 1): quantile of all probabilities above which a kept neuron is specific to
        a language (default: ``activation_quantile``).
    entropy_budget : {"all", "candidates"}
        See the module docstring.
    overlap_background : {"neurons", "selected"}
        Background of :meth:`LanguageNeurons.overlaps`.

    Returns
    -------
    LanguageNeurons

    Raises
    ------
    InputError
        Fewer than two languages, or a parameter out of range.
    """
    spec = LapeSettings(activation_quantile=activation_quantile,
                        entropy_quantile=entropy_quantile, language_quantile=language_quantile,
                        entropy_budget=entropy_budget, overlap_background=overlap_background)
    spec.check_params()
    settings = spec.get_params()
    if not isinstance(counts, ActivationCounts):
        raise InputError(f"expected ActivationCounts, got {type(counts).__name__}")
    if len(counts.languages) < 2:
        raise InputError("LAPE compares languages: the counts need at least two languages, "
                         f"got {len(counts.languages)} ({', '.join(counts.languages)})")
    lang_q = activation_quantile if language_quantile is None else language_quantile
    p = counts.probabilities()
    lape = lape_entropy(p)
    threshold = kth_quantile(p, activation_quantile)
    bar = threshold if lang_q == activation_quantile else kth_quantile(p, lang_q)
    candidates = (p > threshold).any(axis=0)
    cand = np.flatnonzero(candidates)
    base = p.shape[1] if entropy_budget == "all" else cand.size
    budget = round(entropy_quantile * base)
    order = cand[np.lexsort((cand, lape[cand]))]
    selected = order[:budget].astype(np.int64)
    specific = p[:, selected] > bar
    thresholds = {"activation": threshold, "language": bar, "budget": int(budget),
                  "entropy_cutoff": float(lape[selected].max()) if selected.size else None}
    return LanguageNeurons(counts, p, lape, candidates, selected, specific, thresholds,
                           settings)


def lape_result_files(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(lape.json, counts.h5)`` of a LAPE result: a ``lape`` output directory, or its
    ``.json`` file with the counts beside it as ``X.counts.h5`` (else ``counts.h5`` in
    its directory)."""
    path = Path(path)
    if path.is_dir():
        return path / "lape.json", path / "counts.h5"
    h5 = path.with_suffix(".counts.h5")
    return path, h5 if h5.exists() else path.parent / "counts.h5"


def load_language_neurons(path: str | os.PathLike) -> LanguageNeurons:
    """Reload the result of ``interlingua lape`` (or of :meth:`LanguageNeurons.to_dict`
    written next to :meth:`ActivationCounts.to_hdf5`).

    The selection is recomputed from the stored counts with the stored settings (exact:
    counts are integers, the rule is deterministic) and checked against the neurons the
    JSON lists, so a ``lape.json`` paired with counts of another run is refused.

    Parameters
    ----------
    path : path-like
        A ``lape`` output directory (``counts.h5`` + ``lape.json``), or the ``.json``
        file (its counts beside it as ``X.counts.h5``, or ``counts.h5`` in its directory).

    Returns
    -------
    LanguageNeurons

    Raises
    ------
    InputError
        Missing files, a JSON that is not a LAPE result, or counts that do not give the
        neurons the JSON lists.
    """
    import json

    json_path, h5 = lape_result_files(path)
    for needed in (json_path, h5):
        if not needed.is_file():
            raise InputError(f"{needed}: not found (a LAPE result is the directory written "
                             "by 'interlingua lape': lape.json and counts.h5)")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{json_path}: not a readable LAPE result ({exc})") from None
    if not isinstance(data, dict) or data.get("method") != "LAPE" \
            or not isinstance(data.get("settings"), dict):
        raise InputError(f"{json_path}: not a LAPE result (no method 'LAPE' with settings)")
    counts = ActivationCounts.from_hdf5(h5)
    known = {p.name for p in LapeSettings.params}
    result = select_language_neurons(
        counts, **{k: v for k, v in data["settings"].items() if k in known})
    listed = sorted(int(n["flat"]) for n in data.get("neurons", []))
    if listed != sorted(result.selected.tolist()) or data.get("languages") != result.languages:
        raise InputError(f"{json_path} does not match {h5}: the counts give other neurons "
                         "(files of different runs?)")
    return result


__all__ = ["CITATION", "LanguageNeurons", "LapeSettings", "kth_quantile", "lape_entropy",
           "lape_result_files", "load_language_neurons", "select_language_neurons"]
