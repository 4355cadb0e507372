"""The findings check: each seed paper's qualitative finding, decided per model and
language pair from this run's numbers (never forced, never tuned):

* seed 001 (Del & Fishel §6, "first align, then predict"): ANC rises from the embedding
  layer and falls back before the last layer, for the encoder *and* the decoder;
* seed 000 (Mousi et al. §4): CALIGN rises with depth; COLAP with English orders
  French > German > Arabic;
* seed 003 (de Varda & Marelli §5): the top affective neurons of the languages probed in
  context overlap above chance (super exact test);

and, beyond the seeds, on decoders (the neurons stage):

* Tang et al. 2024 (§4): language-specific neurons exist for every language and sit
  mostly in the bottom and top layers; switching a language's neurons off raises its own
  perplexity more than the other languages' (§3), and more than random neurons do;
* Wendler et al. 2024: in the middle layers the logit lens decodes non-English input to
  English tokens more often than to the input language's, which takes over at the end.

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
    "lape_layers": ("Tang et al. 2024 (beyond the seeds)",
                    "every language has specific neurons, mostly in the bottom and top layers"),
    "lape_ablation": ("Tang et al. 2024 (beyond the seeds)",
                      "switching a language's neurons off hurts that language most"),
    "lens_english": ("Wendler et al. 2024 (beyond the seeds)",
                     "middle layers decode non-English input to English"),
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


def check_lape_layers(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Tang et al. 2024 §4: every language has LAPE neurons, and the bottom and top
    quarters of the layers hold more than half of them (half would be uniform)."""
    lape = entry.get("neurons", {}).get("lape")
    if not lape:
        return None
    counts = lape["per_layer"]["counts"]
    table = np.array([counts[lang] for lang in lape["languages"]], dtype=float)  # (ℓ, L)
    n_layers = table.shape[1]
    edge = max(1, n_layers // 4)
    outer = np.r_[0:edge, n_layers - edge:n_layers]
    total = float(table.sum())
    share = float(table[:, outer].sum() / total) if total else 0.0
    per_lang = lape["per_language"]
    every = all(n > 0 for n in per_lang.values())
    return {"holds": bool(every and share > 0.5),
            "numbers": {"per_language": per_lang, "n_selected": lape["n_selected"],
                        "outer_layers": [lape["per_layer"]["layers"][i] for i in outer],
                        "share_in_outer_layers": share},
            "text": f"{lape['n_selected']} neurons ("
                    + ", ".join(f"{k} {v}" for k, v in per_lang.items())
                    + f"); {100 * share:.0f}% in the bottom and top {edge} of {n_layers} "
                      "layers"}


def check_ablation(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Tang et al. 2024 §3: per language with neurons, switching them off raises its own
    perplexity more than the other languages' (the bootstrap CI of the own − others'
    mean ratio lies above 0) and more than random neurons of the same number per layer
    do to it (CI of own − control above 0, when controls ran). Holds when it does for
    most such languages."""
    abl = entry.get("neurons", {}).get("ablation")
    if not abl or not abl.get("headline"):
        return None
    per_lang = {}
    for lang, h in abl["headline"].items():
        if h.get("contrast_ci") is None:
            continue  # a language not evaluated, or the only one
        control = h.get("own_vs_control_ci")
        per_lang[lang] = {"holds": bool(h["contrast_ci"][0] > 0
                                        and (control is None or control[0] > 0)), **h}
    if not per_lang:
        return None
    n = sum(p["holds"] for p in per_lang.values())

    def ctrl(p: dict[str, Any]) -> str:
        return f", control ×{p['control_ratio']:.2f}" if p.get("control_ratio") else ""

    return {"holds": _majority(per_lang), "languages": per_lang,
            "numbers": {"languages_holding": n, "languages": len(per_lang)},
            "text": f"{n}/{len(per_lang)} languages: " + "; ".join(
                f"{lang} own ×{p['own_ratio']:.2f} vs others ×{p['others_ratio']:.2f}"
                f"{ctrl(p)}" for lang, p in per_lang.items())}


def check_lens(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Wendler et al. 2024: per non-English language, at the middle layer (first and last
    quarter of the lens layers excluded) where the English share of top-1 tokens peaks,
    English outnumbers the input language, and at the last layer the input language
    outnumbers English. Holds when it does for most non-English languages. (Token
    languages are heuristic: :mod:`interlingua.plugins.neurons.token_languages`.)"""
    lens = entry.get("neurons", {}).get("lens")
    if not lens or lens["english"] not in lens["languages"]:
        return None
    layers = lens["layers"]
    quarter = len(layers) // 4
    middle = layers[quarter:len(layers) - quarter] or layers
    per_lang = {}
    for lang in lens["languages"]:
        if lang == lens["english"]:
            continue
        stats = lens["results"][lang]
        peak = max(middle, key=lambda x: stats[x]["share_en"])
        en, own = float(stats[peak]["share_en"]), float(stats[peak]["share_lang"])
        last_en = float(stats[layers[-1]]["share_en"])
        last_own = float(stats[layers[-1]]["share_lang"])
        per_lang[lang] = {"holds": bool(en > own and last_own > last_en),
                          "english_peak_layer": peak, "share_en": en, "share_lang": own,
                          "last_share_en": last_en, "last_share_lang": last_own}
    if not per_lang:
        return None
    n = sum(p["holds"] for p in per_lang.values())
    return {"holds": _majority(per_lang), "languages": per_lang,
            "numbers": {"languages_holding": n, "middle_layers": middle},
            "text": f"{n}/{len(per_lang)} languages: " + "; ".join(
                f"{lang} layer {p['english_peak_layer']} en {100 * p['share_en']:.0f}% vs own "
                f"{100 * p['share_lang']:.0f}%, last own {100 * p['last_share_lang']:.0f}%"
                for lang, p in per_lang.items())}


#: Finding key → its check on one model's results.
CHECKS: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
    "anc_rise_fall": check_anc, "calign_depth": check_calign,
    "colap_order": check_colap_order, "affective_overlap": check_affective,
    "lape_layers": check_lape_layers, "lape_ablation": check_ablation, "lens_english": check_lens,
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


__all__ = ["CHECKS", "CLAIMS", "check_ablation", "check_affective", "check_anc",
           "check_calign", "check_colap_order", "check_lape_layers", "check_lens",
           "findings_check"]
