"""The findings check: each seed paper's qualitative finding, decided from this run's
numbers (never forced): seed 001 (ANC rises into the middle layers), seed 000 (CALIGN
rises with depth), seed 003 (top affective neurons overlap above chance)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _layer_numbers(layers: Sequence[str]) -> np.ndarray:
    return np.array([float(str(x).split("/")[-1]) for x in layers])


def findings_check(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The seeds' qualitative findings, checked against this run's numbers.

    * seed 001: ANC rises from the embedding layer into the middle layers — holds if the
      maximum ANC over the middle third of the layers exceeds the ANC of layer 0.
    * seed 000: CALIGN rises with depth — holds if Spearman's ρ(layer, CALIGN) > 0 and the
      last layer's CALIGN exceeds the first's.
    * seed 003: top affective neurons overlap across languages above chance — holds if the
      mean pairwise fold enrichment of the top-k sets is > 1 and most pairs are
      significant (p < 0.05).

    Parameters
    ----------
    results : dict
        The demo's results (``similarity``, ``concepts``, ``affective`` entries; a
        missing analysis is skipped).

    Returns
    -------
    list of dict
        One per checked seed: ``seed``, ``claim``, ``holds``, ``numbers``, ``text``.
    """
    from scipy import stats

    out: list[dict[str, Any]] = []
    sim = results.get("similarity")
    if sim:
        layers = sim["layers"]
        anc = [sim["results"]["anc"][layer]["value"] for layer in layers]
        nums = _layer_numbers(layers)
        lo, hi = nums.min() + (nums.max() - nums.min()) / 3, nums.max() - (
            nums.max() - nums.min()) / 3
        middle = [i for i, v in enumerate(nums) if lo <= v <= hi] or list(range(len(layers)))
        best_mid = max(middle, key=lambda i: anc[i])
        holds = anc[best_mid] > anc[0]
        out.append({
            "seed": "001 (Del & Fishel)", "claim": "ANC rises from the embedding layer into "
            "the middle layers", "holds": bool(holds),
            "numbers": {"anc_layer0": anc[0], "best_middle_layer": layers[best_mid],
                        "anc_best_middle": anc[best_mid], "anc_last": anc[-1],
                        "peak_layer": layers[int(np.argmax(anc))]},
            "text": f"ANC {anc[0]:.3f} at layer {layers[0]} → {anc[best_mid]:.3f} at layer "
                    f"{layers[best_mid]} (peak at layer {layers[int(np.argmax(anc))]}, "
                    f"{anc[-1]:.3f} at the last layer)",
        })
    conc = results.get("concepts")
    if conc:
        lay = conc["calign"]["layers"]
        layers = list(lay)
        vals = [lay[layer]["value"] for layer in layers]
        rho = float(stats.spearmanr(_layer_numbers(layers), vals).statistic) \
            if len(set(vals)) > 1 else 0.0
        holds = rho > 0 and vals[-1] > vals[0]
        out.append({
            "seed": "000 (Mousi et al.)", "claim": "CALIGN rises with depth",
            "holds": bool(holds),
            "numbers": {"calign_first": vals[0], "calign_last": vals[-1], "spearman_rho": rho,
                        "peak_layer": layers[int(np.argmax(vals))]},
            "text": f"CALIGN {vals[0]:.1f}% at layer {layers[0]} → {vals[-1]:.1f}% at layer "
                    f"{layers[-1]} (Spearman ρ with depth {rho:.2f}, peak at layer "
                    f"{layers[int(np.argmax(vals))]})",
        })
    aff = results.get("affective")
    if aff and "pairwise_fold_enrichment" in aff:
        m = np.array(aff["pairwise_fold_enrichment"]["matrix"], dtype=float)
        p = np.array(aff["pairwise_fold_enrichment"]["pvalues"], dtype=float)
        iu = np.triu_indices_from(m, k=1)
        fe, pv = m[iu], p[iu]
        frac_sig = float(np.mean(pv < 0.05))
        holds = float(np.mean(fe)) > 1 and frac_sig > 0.5
        out.append({
            "seed": "003 (de Varda & Marelli)",
            "claim": "top affective neurons overlap across languages above chance (FE > 1)",
            "holds": bool(holds),
            "numbers": {"mean_pairwise_fe": float(np.mean(fe)), "min_pairwise_fe":
                        float(np.min(fe)), "max_pairwise_fe": float(np.max(fe)),
                        "share_pairs_p_below_0.05": frac_sig, "layer": aff["top_sets"]["layer"],
                        "n_languages": len(aff["pairwise_fold_enrichment"]["languages"])},
            "text": f"mean pairwise fold enrichment {np.mean(fe):.2f} (range "
                    f"{np.min(fe):.2f}–{np.max(fe):.2f}); {100 * frac_sig:.0f}% of the "
                    f"{fe.size} language pairs have p < 0.05 (layer "
                    f"{aff['top_sets']['layer']}, top-{aff['top_sets']['k']} neurons)",
        })
    return out


__all__ = ["findings_check"]
