"""Are language-specific neurons less correlated across languages? LAPE × ANC.

A cross-check that needs both halves of this toolkit: the language-specific neurons of
LAPE (Tang et al. 2024, §2; :mod:`~interlingua.plugins.neurons.lape`) and the per-neuron
correlations of ANC (Del & Fishel 2022, seed 001 §5: ``r_i`` = Pearson correlation of
neuron ``i`` across aligned rows of two languages, from the registered ``anc`` metric's
``per_unit``). If a neuron is specific to language A (it fires on A's tokens and rarely
on B's), its activation on a sentence and on that sentence's translation should agree
less than a shared neuron's — a prediction of the "interlingua" reading of both papers
that neither paper tests.

Inputs: a LAPE result (``interlingua lape`` output, reloaded with
:func:`~.lape.load_language_neurons`) and activation stores extracted **with module
groups** (``interlingua extract --modules mlp=mlp-act``), so that a LAPE neuron
``(layers.3.mlp.act_fn, 5)`` is column 5 of the store layer that the store's root
attribute ``modules`` maps to that module (``mlp/3``). Rows are paired as
``interlingua compare`` pairs them (:func:`~interlingua.plugins.similarity.pairing.pair_rows`:
one store with two languages by ``pair_id``, or two stores).

Per module layer and over all of them, the neurons fall in three categories:

* ``pair`` — specific to language A or B (LAPE may make a neuron specific to several);
* ``other`` — selected by LAPE, but specific to neither A nor B (another language, or
  none above the language threshold);
* ``unselected`` — not selected by LAPE.

Each category's ``|r|`` is compared with the rest's (all neurons of the other two
categories): n, mean and median ``|r|``, the difference in means with a percentile
bootstrap CI (each group resampled on its own, seeded), and the two-sided Mann–Whitney U
test (``scipy.stats.mannwhitneyu``). Neurons constant in either language have no
correlation; ANC gives them ``r = 0``, which would pull a group towards 0, so they are
left out of every group and counted (``n_constant``) instead. All statistics in float64.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError

CATEGORIES = ("pair", "other", "unselected")
LEVELS = ("sentences", "words")


@dataclass
class LapeAncResult:
    """Per-neuron ``|r|`` by LAPE category and their comparison, per layer and overall.

    Attributes
    ----------
    lang_a, lang_b : str
        The languages compared (store sides A and B).
    layers : list of str
        Store layers used (A's names), in store order; ``modules`` their modules.
    stats : list of dict
        One row per (layer, category) and per category over ``"all"`` layers: ``n``,
        ``n_constant``, ``mean_abs_r``, ``median_abs_r``, ``rest_n``, ``rest_mean_abs_r``,
        ``rest_median_abs_r``, ``diff`` (mean − rest mean), ``ci_low``/``ci_high``,
        ``u``, ``pvalue`` (None where a group is empty).
    r : dict
        ``{layer: signed per-neuron r}`` (float64; NaN for constant neurons).
    category : dict
        ``{layer: category index per neuron}`` (into :data:`CATEGORIES`).
    meta : dict
        Pairing, level, stores, LAPE settings, skipped modules, bootstrap settings.
    """

    lang_a: str
    lang_b: str
    layers: list[str]
    modules: list[str]
    stats: list[dict[str, Any]]
    r: dict[str, np.ndarray] = field(repr=False)
    category: dict[str, np.ndarray] = field(repr=False)
    meta: dict[str, Any] = field(default_factory=dict)

    def row(self, layer: str, category: str) -> dict[str, Any]:
        """The statistics of one (layer or ``"all"``, category)."""
        for row in self.stats:
            if row["layer"] == layer and row["category"] == category:
                return row
        raise InputError(f"no statistics for layer {layer!r}, category {category!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: languages, layers and modules, the statistics, and meta."""
        return {"method": "LAPE x ANC", "reference": (
                    "LAPE: Tang et al. 2024 §2; ANC: Del & Fishel 2022 §5"),
                "lang_a": self.lang_a, "lang_b": self.lang_b, "categories": list(CATEGORIES),
                "layers": self.layers, "modules": self.modules, "stats": self.stats,
                "meta": self.meta}

    def rows(self) -> list[dict[str, Any]]:
        """CSV rows: one per (layer, category), then the ``all`` rows."""
        return [dict(row) for row in self.stats]

    def plot(self, path: str | os.PathLike, *, title: str = "",
             overwrite: bool = True, inputs: Any = ()) -> Path:
        """Box plots of ``|r|`` per layer, one box per category (points for small
        groups), written atomically as PNG."""
        from interlingua.core.plotting import pyplot, save_figure

        plt = pyplot()
        colours = {"pair": "tab:red", "other": "tab:orange", "unselected": "tab:gray"}
        fig, ax = plt.subplots(figsize=(max(6.4, 0.9 * len(self.layers) + 2), 4.0), dpi=120)
        width = 0.25
        rng = np.random.default_rng(0)
        for k, cat in enumerate(CATEGORIES):
            for x, layer in enumerate(self.layers):
                ok = (self.category[layer] == k) & np.isfinite(self.r[layer])
                values = np.abs(self.r[layer][ok])
                pos = x + (k - 1) * width
                if values.size >= 10:
                    ax.boxplot([values], positions=[pos], widths=width * 0.9,
                               showfliers=False, patch_artist=True,
                               boxprops={"facecolor": colours[cat], "alpha": 0.5},
                               medianprops={"color": "black"})
                elif values.size:
                    ax.scatter(pos + rng.uniform(-0.05, 0.05, values.size), values, s=12,
                               color=colours[cat], zorder=3)
            ax.plot([], [], color=colours[cat], lw=6, alpha=0.6,
                    label=f"{cat} (n={self.row('all', cat)['n']})")
        ax.set_xticks(np.arange(len(self.layers)))
        ax.set_xticklabels(self.layers, rotation=90 if len(self.layers) > 12 else 0, fontsize=8)
        ax.set_xlim(-0.6, len(self.layers) - 0.4)
        ax.set_ylabel(f"|r| per neuron ({self.lang_a}–{self.lang_b})")
        ax.set_title(title or f"ANC of LAPE neurons: {self.lang_a}–{self.lang_b}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        try:
            return save_figure(fig, path, overwrite=overwrite, inputs=inputs)
        finally:
            plt.close(fig)


def _categories(lape: Any, lang_a: str, lang_b: str) -> np.ndarray:
    """Category index (into :data:`CATEGORIES`) of every neuron of the LAPE counts."""
    cat = np.full(lape.counts.n_neurons, 2, dtype=np.int64)
    cat[lape.selected] = 1
    for lang in (lang_a, lang_b):
        if lang in lape.languages:
            cat[lape.flat(lang)] = 0
    return cat


def _module_layers(store: Any, side: str) -> dict[str, str]:
    """Module → store layer of a store's module groups (refused when it has none)."""
    from interlingua.plugins.extraction.module_capture import stored_modules

    layers = stored_modules(store)
    if not layers:
        raise InputError(f"store {side} ({store.path.name}) has no module groups; extract it "
                         "with module activations (interlingua extract ... --modules "
                         "mlp=mlp-act)")
    return {module: layer for layer, module in layers.items()}


def _compare(values: np.ndarray, rest: np.ndarray, n_bootstrap: int,
             rng: np.random.Generator) -> dict[str, Any]:
    """Mean/median of both groups, difference in means with a bootstrap CI, and the
    two-sided Mann–Whitney U test (None where a group is empty)."""
    from scipy.stats import mannwhitneyu

    out: dict[str, Any] = {
        "n": int(values.size), "mean_abs_r": _mean(values), "median_abs_r": _median(values),
        "rest_n": int(rest.size), "rest_mean_abs_r": _mean(rest),
        "rest_median_abs_r": _median(rest), "diff": None, "ci_low": None, "ci_high": None,
        "u": None, "pvalue": None}
    if not values.size or not rest.size:
        return out
    out["diff"] = float(values.mean() - rest.mean())
    test = mannwhitneyu(values, rest, alternative="two-sided")
    out["u"], out["pvalue"] = float(test.statistic), float(test.pvalue)
    if n_bootstrap:
        diffs = np.empty(n_bootstrap)
        step = max(1, 2_000_000 // (values.size + rest.size))  # bounded memory per chunk
        for lo in range(0, n_bootstrap, step):
            k = min(step, n_bootstrap - lo)
            a = values[rng.integers(0, values.size, (k, values.size))].mean(axis=1)
            b = rest[rng.integers(0, rest.size, (k, rest.size))].mean(axis=1)
            diffs[lo:lo + k] = a - b
        out["ci_low"], out["ci_high"] = (float(v) for v in np.quantile(diffs, [0.025, 0.975]))
    return out


def _mean(x: np.ndarray) -> float | None:
    return float(x.mean()) if x.size else None


def _median(x: np.ndarray) -> float | None:
    return float(np.median(x)) if x.size else None


def lape_anc(
    lape: Any,
    store_a: Any,
    store_b: Any = None,
    *,
    lang_a: str | None = None,
    lang_b: str | None = None,
    level: str = "sentences",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> LapeAncResult:
    """Per-neuron ANC correlations of LAPE's language-specific neurons vs the rest.

    Parameters
    ----------
    lape : LanguageNeurons or path-like
        A LAPE result (:func:`~.lape.select_language_neurons`), or the directory /
        ``lape.json`` written by ``interlingua lape`` (reloaded and checked).
    store_a, store_b : path or ActivationStore
        One store holding both languages (paired by ``pair_id``), or two stores (paired
        by ``pair_id`` of the given languages, else row by row), as ``interlingua
        compare`` pairs them. Both need module groups covering LAPE's modules.
    lang_a, lang_b : str, optional
        Languages of the two sides; ``pair`` neurons are those specific to either.
    level : {"sentences", "words"}
        Row level (words: word by word where paired sentences have the same words,
        else the flagged target words; see the pairing module).
    n_bootstrap : int
        Bootstrap resamples of the difference in means (0 = no CI).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    LapeAncResult

    Raises
    ------
    InputError
        A store without module groups, none of LAPE's modules in the stores, a stored
        layer whose width or model type differs from the LAPE counts (another model), a
        module mapped differently by the two stores, bad languages or level, fewer than
        3 paired rows.
    """
    from interlingua.plugins.neurons.lape import LanguageNeurons, load_language_neurons
    from interlingua.plugins.similarity.pairing import open_store, pair_rows, read_paired
    from interlingua.registry import get_metric

    if level not in LEVELS:
        raise InputError(f"level must be 'sentences' or 'words', got {level!r}")
    if n_bootstrap < 0:
        raise InputError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if not isinstance(lape, LanguageNeurons):
        lape = load_language_neurons(lape)
    st_a, close_a = open_store(store_a)
    st_b, close_b = (st_a, False) if store_b is None else open_store(store_b)
    try:
        sides = [("A", st_a)] if store_b is None else [("A", st_a), ("B", st_b)]
        maps = {side: _module_layers(st, side) for side, st in sides}
        counts = lape.counts
        kind = counts.meta.get("model_type")
        for side, st in sides:
            stored = st.attrs.get("model_type")
            if kind and stored and kind != stored:
                raise InputError(f"store {side} ({st.path.name}) is of model type {stored!r} "
                                 f"but the LAPE counts of {kind!r}: another model")
        map_b = maps.get("B", maps["A"])
        used = [m for m in counts.modules if m in maps["A"] and m in map_b]
        skipped = [m for m in counts.modules if m not in used]
        if not used:
            have = ", ".join(sorted(set(maps["A"]) | set(map_b))[:4])
            raise InputError(f"none of the LAPE result's modules ({counts.modules[0]}, …) is "
                             f"in the module groups of the stores (they hold {have}, …); "
                             "extract with the modules LAPE counted (--modules mlp=mlp-act)")
        if store_b is not None and lang_a is None and lang_b is None \
                and len(st_a.languages) == 1 and len(st_b.languages) == 1:
            lang_a, lang_b = st_a.languages[0], st_b.languages[0]  # one language per store
        pairing = pair_rows(st_a, None if store_b is None else st_b, lang_a=lang_a,
                            lang_b=lang_b, level=level)
        if pairing.n < 3:
            raise InputError(f"only {pairing.n} paired {level}; correlations need at least 3")
        la, lb = pairing.lang_a, pairing.lang_b
        if la is None or lb is None:  # two stores paired row by row
            raise InputError("give lang_a and lang_b (--lang-a/--lang-b): the neurons "
                             "compared are those specific to either language")
        cat_all = _categories(lape, la, lb)
        metric = get_metric("anc")
        offsets = counts.offsets
        rng = np.random.default_rng(seed)
        layers, r_by, cat_by, stats = [], {}, {}, []
        pooled: dict[int, list[np.ndarray]] = {k: [] for k in range(len(CATEGORIES))}
        n_const = dict.fromkeys(CATEGORIES, 0)
        for module in used:
            k = counts.modules.index(module)
            width = counts.widths[k]
            name_a, name_b = maps["A"][module], map_b[module]
            x = read_paired(st_a.layer(name_a, level), pairing.rows_a, pairing.n)
            y = read_paired(st_b.layer(name_b, level), pairing.rows_b, pairing.n)
            for side, name, arr in (("A", name_a, x), ("B", name_b, y)):
                if arr.shape[1] != width:
                    raise InputError(f"store {side} layer {name!r} ({module}) has {arr.shape[1]}"
                                     f" neurons but the LAPE counts {width}: another model")
            # A neuron is constant iff its min equals its max (as the anc metric decides).
            constant = (x.min(0) == x.max(0)) | (y.min(0) == y.max(0))
            r = np.asarray(metric(x, y).per_unit, dtype=np.float64).copy()
            r[constant] = np.nan
            cat = cat_all[offsets[k]:offsets[k] + width]
            layers.append(name_a)
            r_by[name_a], cat_by[name_a] = r, cat
            for c, label in enumerate(CATEGORIES):
                ok = (cat == c) & ~constant
                rest = (cat != c) & ~constant
                row = {"layer": name_a, "module": module, "category": label,
                       "n_constant": int(((cat == c) & constant).sum()),
                       **_compare(np.abs(r[ok]), np.abs(r[rest]), n_bootstrap, rng)}
                stats.append(row)
                pooled[c].append(np.abs(r[ok]))
                n_const[label] += row["n_constant"]
        every = [np.concatenate(pooled[c]) for c in range(len(CATEGORIES))]
        for c, label in enumerate(CATEGORIES):
            rest = np.concatenate([every[o] for o in range(len(CATEGORIES)) if o != c])
            stats.append({"layer": "all", "module": "", "category": label,
                          "n_constant": n_const[label],
                          **_compare(every[c], rest, n_bootstrap, rng)})
        meta = {"level": level, "n_rows": int(pairing.n), "pairing": pairing.how,
                "store_a": str(st_a.path), "store_b": str(st_b.path),
                "lape_languages": lape.languages, "lape_settings": lape.settings,
                "lape_model": counts.meta.get("model"), "store_model": st_a.attrs.get("model"),
                "skipped_modules": skipped, "n_bootstrap": int(n_bootstrap), "seed": int(seed),
                "constant": "neurons constant in either language: no correlation; left out "
                            "of every group and counted in n_constant",
                "languages_without_lape": [g for g in (la, lb) if g not in lape.languages]}
        return LapeAncResult(la, lb, layers, used, stats, r_by, cat_by, meta)
    finally:
        if close_a:
            st_a.close()
        if close_b:
            st_b.close()


__all__ = ["CATEGORIES", "LEVELS", "LapeAncResult", "lape_anc"]
