"""The findings check: each seed paper's qualitative finding, decided per model and
language pair from this run's numbers (never forced, never tuned):

* seed 001 (Del & Fishel §6, "first align, then predict"): ANC rises from the embedding
  layer and falls back before the last layer, for the encoder *and* the decoder;
* seed 000 (Mousi et al. §4): CALIGN rises with depth; COLAP with English orders
  French > German > Arabic;
* seed 003 (de Varda & Marelli §5): the top affective neurons of the languages probed in
  context overlap above chance (super exact test).

Each check is a function of one model's results (``results["models"][model]``), so the
sensitivity sweep (:mod:`.sensitivity`) can apply the very same rule to re-run analyses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: Finding key → (seed, claim).
CLAIMS: dict[str, tuple[str, str]] = {
    "anc_rise_fall": ("001 (Del & Fishel)",
                      "ANC rises from the embedding layer, then falls back before the last"),
    "calign_depth": ("000 (Mousi et al.)", "CALIGN rises with depth"),
    "colap_order": ("000 (Mousi et al.)", "COLAP with English: French > German > Arabic"),
    "affective_overlap": ("003 (de Varda & Marelli)",
                          "top affective neurons overlap above chance (in context)"),
}


def _layer_numbers(layers: Sequence[str]) -> np.ndarray:
    return np.array([float(str(x).split("/")[-1]) for x in layers])


def _majority(per_pair: dict[str, dict[str, Any]]) -> bool:
    return sum(p["holds"] for p in per_pair.values()) * 2 > len(per_pair)


def check_anc(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Seed 001: per language pair, ANC at its peak layer exceeds ANC at the first layer
    and at the last layer (the peak is strictly inside). Holds when it does for most pairs.
    """
    sim = entry.get("similarity")
    if not sim:
        return None
    per_pair = {}
    for pair, comp in sim.items():
        layers = comp["layers"]
        anc = np.array([comp["results"]["anc"][layer]["value"] for layer in layers])
        peak = int(np.argmax(anc))
        per_pair[pair] = {"holds": bool(anc[peak] > anc[0] and anc[peak] > anc[-1]),
                          "first": float(anc[0]), "peak": float(anc[peak]),
                          "peak_layer": layers[peak], "last": float(anc[-1]),
                          "drop_after_peak": float(anc[peak] - anc[-1])}
    n = sum(p["holds"] for p in per_pair.values())
    peaks = [p["peak_layer"] for p in per_pair.values()]
    drops = [p["drop_after_peak"] for p in per_pair.values()]
    return {"holds": _majority(per_pair), "pairs": per_pair,
            "numbers": {"pairs_holding": n, "pairs": len(per_pair),
                        "median_drop_after_peak": float(np.median(drops))},
            "text": f"{n}/{len(per_pair)} pairs peak inside; peak layers "
                    f"{', '.join(sorted(set(peaks), key=float))}; median fall from peak to "
                    f"last layer {np.median(drops):.3f}"}


def check_calign(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Seed 000: per pivot–language pair, Spearman ρ(layer, CALIGN) > 0 and the last
    layer's CALIGN exceeds the first's. Holds when it does for most pairs."""
    from scipy import stats

    conc = entry.get("concepts")
    if not conc:
        return None
    per_pair = {}
    for pair, cal in conc["calign"].items():
        layers = list(cal["layers"])
        vals = [cal["layers"][layer]["value"] for layer in layers]
        rho = float(stats.spearmanr(_layer_numbers(layers), vals).statistic) \
            if len(set(vals)) > 1 and len(vals) > 1 else 0.0
        per_pair[pair] = {"holds": bool(rho > 0 and vals[-1] > vals[0]), "first": vals[0],
                          "last": vals[-1], "spearman_rho": rho,
                          "peak_layer": layers[int(np.argmax(vals))]}
    n = sum(p["holds"] for p in per_pair.values())
    text = "; ".join(f"{pair} {p['first']:.1f}→{p['last']:.1f}% (ρ {p['spearman_rho']:.2f})"
                     for pair, p in per_pair.items())
    return {"holds": _majority(per_pair), "pairs": per_pair,
            "numbers": {"pairs_holding": n, "pairs": len(per_pair)},
            "text": f"{n}/{len(per_pair)} pairs rise: {text}"}


def check_colap_order(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Seed 000: COLAP(en, X) averaged over the clustered layers orders fr > de > ar.
    Skipped when the run lacks English, French, German or Arabic."""
    conc = entry.get("concepts")
    if not conc:
        return None
    pivot = conc["languages"][0]
    wanted = ("fr", "de", "ar")
    means = {}
    for pair, col in conc["colap"].items():
        lang = pair.split("-", 1)[1]
        means[lang] = float(np.mean([v["value"] for v in col["layers"].values()]))
    if pivot != "en" or not all(x in means for x in wanted):
        return None
    fr, de, ar = (means[x] for x in wanted)
    order = sorted(means, key=means.get, reverse=True)
    return {"holds": bool(fr > de > ar), "numbers": {"mean_colap_with_en": means,
                                                     "order": order},
            "text": f"mean COLAP with en: fr {fr:.1f}%, de {de:.1f}%, ar {ar:.1f}% "
                    f"(all: {' > '.join(f'{x} {means[x]:.1f}' for x in order)})"}


def check_affective(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Seed 003: over the language pairs probed *in context* (both languages' words in
    Bible verses), the mean pairwise fold enrichment of the top-k sets is > 1 and most
    pairs are significant (super exact test, p < 0.05)."""
    aff = entry.get("affective")
    if not aff or "pairwise_fold_enrichment" not in aff:
        return None
    pf = aff["pairwise_fold_enrichment"]
    names = pf["languages"]
    ctx = [i for i, lang in enumerate(names)
           if aff["languages"].get(lang, {}).get("mode") == "bible contexts"]
    if len(ctx) < 2:
        return None
    m = np.array(pf["matrix"], dtype=float)[np.ix_(ctx, ctx)]
    p = np.array(pf["pvalues"], dtype=float)[np.ix_(ctx, ctx)]
    iu = np.triu_indices_from(m, k=1)
    fe, pv = m[iu], p[iu]
    frac = float(np.mean(pv < 0.05))
    return {"holds": bool(np.mean(fe) > 1 and frac > 0.5),
            "numbers": {"mean_pairwise_fe": float(np.mean(fe)), "min_pairwise_fe":
                        float(np.min(fe)), "max_pairwise_fe": float(np.max(fe)),
                        "share_pairs_p_below_0.05": frac, "layer": aff["top_sets"]["layer"],
                        "k": aff["top_sets"]["k"],
                        "languages_in_context": [names[i] for i in ctx]},
            "text": f"{len(ctx)} languages in context ({', '.join(names[i] for i in ctx)}): "
                    f"mean pairwise fold enrichment {np.mean(fe):.2f} (range "
                    f"{np.min(fe):.2f}–{np.max(fe):.2f}), {100 * frac:.0f}% of {fe.size} pairs "
                    f"p < 0.05 (layer {aff['top_sets']['layer']}, top-{aff['top_sets']['k']})"}


#: Finding key → its check on one model's results.
CHECKS: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
    "anc_rise_fall": check_anc, "calign_depth": check_calign,
    "colap_order": check_colap_order, "affective_overlap": check_affective,
}


def findings_check(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The seeds' findings, checked per model against this run's numbers.

    Parameters
    ----------
    results : dict
        The demo's results (``models`` → per model ``similarity``, ``concepts``,
        ``affective``; a missing analysis is skipped).

    Returns
    -------
    list of dict
        One per (finding, model): ``key``, ``seed``, ``claim``, ``model``, ``holds``,
        ``numbers``, ``text`` and, for pair-wise findings, ``pairs``.
    """
    out: list[dict[str, Any]] = []
    for key, check in CHECKS.items():
        seed, claim = CLAIMS[key]
        for model, entry in results.get("models", {}).items():
            verdict = check(entry)
            if verdict is not None:
                out.append({"key": key, "seed": seed, "claim": claim, "model": model,
                            **verdict})
    return out


__all__ = ["CHECKS", "CLAIMS", "check_affective", "check_anc", "check_calign",
           "check_colap_order", "findings_check"]
