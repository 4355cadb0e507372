"""The demo's outputs: one figure per analysis, ``report.md`` and ``results.json``
(written through :mod:`interlingua.registry.commands` and
:mod:`interlingua.core.outputs`, atomically). Every number shown comes from the results
dictionary that ``results.json`` holds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.result import to_jsonable


def write_figures(results: dict[str, Any], out: Path) -> dict[str, str]:
    """One PNG per analysis into ``out``.

    Parameters
    ----------
    results : dict
        The demo's results.
    out : Path
        The report directory.

    Returns
    -------
    dict of str -> str
        Figure key → file name (inside ``out``).
    """
    from interlingua.core.plotting import plot_heatmap, plot_layer_curves, pyplot, save_figure

    figs: dict[str, str] = {}
    model = results["config"]["model"].replace("builtin:", "")
    sim = results.get("similarity")
    if sim:
        layers = sim["layers"]
        curves = {m: [sim["results"][m][layer]["value"] for layer in layers]
                  for m in ("anc", "cka", "cka[debiased=True]", "svcca", "pwcca")}
        figs["similarity"] = plot_layer_curves(
            curves, layers, ylabel="similarity", path=out / "similarity.png",
            title=f"en–es sentence similarity by layer ({model})", bold=("anc",)).name
        curves = {"cosine": [sim["results"]["retrieval"][layer]["value"] for layer in layers],
                  "CSLS": [sim["results"]["retrieval[method=csls]"][layer]["value"]
                           for layer in layers]}
        figs["retrieval"] = plot_layer_curves(
            curves, layers, ylabel="P@1", path=out / "sentence_retrieval.png", ylim=(0, 1.02),
            title=f"en→es sentence retrieval ({model})").name
    wt = results.get("word_translation")
    if wt:
        layers = wt["layers"]
        curves = {f"{m} P@{k}": [wt["results"][layer]["precision"][m][f"p@{k}"]
                                 for layer in layers]
                  for m in ("cosine", "csls") for k in (1, 10)}
        figs["word_translation"] = plot_layer_curves(
            curves, layers, ylabel="precision", path=out / "word_translation.png",
            ylim=(0, 1.02), title=f"Procrustes word translation en→es ({model})").name
    conc = results.get("concepts")
    if conc:
        for key, label in (("calign", "CALIGN (%)"), ("colap", "COLAP (%)")):
            lay = conc[key]["layers"]
            figs[key] = plot_layer_curves(
                {key.upper(): [lay[layer]["value"] for layer in lay]}, list(lay),
                ylabel=label, path=out / f"{key}.png", ylim=(0, 100),
                title=f"{key.upper()} en–es, K={conc['n_clusters']} ({model})").name
    aff = results.get("affective")
    if aff and "probe" in aff:
        pr = aff["probe"]
        curves = {lg: pr["scores"][lg] for lg in pr["languages"]}
        curves["mean"] = pr["mean"]
        figs["affective_probe"] = plot_layer_curves(
            curves, pr["layers"], ylabel="test Pearson r", path=out / "affective_probe.png",
            title=f"labMT happiness probes by layer ({model})", bold=("mean",)).name
        pf = aff["pairwise_fold_enrichment"]
        m = np.array(pf["matrix"], dtype=float)
        figs["affective_overlap"] = plot_heatmap(
            m, pf["languages"], path=out / "affective_overlap.png",
            colorbar_label="fold enrichment", title=f"top-{aff['top_sets']['k']} neuron overlap,"
            f" layer {aff['top_sets']['layer']}").name
        recs = aff["records"]
        if recs:
            plt = pyplot()
            fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
            for layer in dict.fromkeys(r["layer"] for r in recs):
                sel = [r for r in recs if r["layer"] == layer]
                ax.scatter([r["mpo"] for r in sel], [r["performance"] for r in sel],
                           label=f"layer {layer}", s=18)
            ax.set_xlabel("mean pairwise overlap (MPO)")
            ax.set_ylabel("probe test r")
            ax.set_title("probe performance vs MPO (mixed model input)")
            ax.legend(fontsize=8, frameon=False)
            ax.grid(alpha=0.3)
            fig.tight_layout()
            try:
                save_figure(fig, out / "mpo_performance.png")
            finally:
                plt.close(fig)
            figs["mpo"] = "mpo_performance.png"
    return figs


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def report_markdown(results: dict[str, Any]) -> str:
    """The text of ``report.md``: findings, one section per analysis, timing.

    Parameters
    ----------
    results : dict
        The demo's results (with ``findings`` and ``timing``).
    """
    cfg = results["config"]
    st = results["store"]
    parts = [
        "# interlingua demo report", "",
        f"Model `{cfg['model']}`, data `{Path(cfg['data']).name}` "
        f"({st['n_pairs']} {cfg['lang_a']}–{cfg['lang_b']} verse pairs, {st['n_words']} words), "
        f"layers {', '.join(st['layers'])}{' — quick run' if cfg['quick'] else ''}. "
        f"Every number below comes from `results.json` (written by the plugins).", "",
        "## Findings check", "",
    ]
    for f in results["findings"]:
        parts.append(f"* **{'holds' if f['holds'] else 'does not hold'}** — seed {f['seed']}: "
                     f"{f['claim']}. {f['text']}.")
    sim = results.get("similarity")
    if sim:
        labels = sim["metrics"]
        parts += ["", "## Sentence similarity and retrieval (seeds 001, 002)", "",
                  f"{sim['n']} paired verses, mean-pooled word vectors."
                  + (f" Caution: with {sim['n']} rows for {st.get('dim')} neurons, CCA over all "
                     "neurons (PWCCA) is overfit and close to 1; SVCCA keeps 20 directions."
                     if st.get("dim") and sim["n"] < 4 * st["dim"] else ""), "",
                  _md_table(["layer", *labels],
                            [[layer, *[sim["results"][m][layer]["value"] for m in labels]]
                             for layer in sim["layers"]]),
                  "", "![similarity](similarity.png)", "",
                  "![sentence retrieval](sentence_retrieval.png)"]
    wt = results.get("word_translation")
    if wt:
        parts += ["", "## Procrustes word translation (seed 002 §5.1)", "",
                  f"Dictionary induced with {results.get('dictionary_backend')} from the same "
                  f"verses (`dictionary.txt`); {wt['n_train']} training pairs, {wt['n_test']} "
                  f"test words; vectors = mean over ≥{wt['min_count']} occurrences. eflomal "
                  "samples without a seed, so the dictionary (and these numbers) vary "
                  "slightly between runs.", "",
                  _md_table(["layer", "P@1 cosine", "P@1 CSLS", "P@10 CSLS"],
                            [[layer, wt["results"][layer]["precision"]["cosine"]["p@1"],
                              wt["results"][layer]["precision"]["csls"]["p@1"],
                              wt["results"][layer]["precision"]["csls"]["p@10"]]
                             for layer in wt["layers"]]),
                  "", "![word translation](word_translation.png)"]
    conc = results.get("concepts")
    if conc:
        cal, col = conc["calign"]["layers"], conc["colap"]["layers"]
        parts += ["", "## Latent concepts: CALIGN and COLAP (seed 000)", "",
                  f"k-means with K={conc['n_clusters']} per layer (seed 000 used K=600 on ~10× "
                  f"more word types); frequency filter {conc['filter']}.", "",
                  _md_table(["layer", "CALIGN %", "COLAP %"],
                            [[layer, cal[layer]["value"], col[layer]["value"]] for layer in cal]),
                  "", "![CALIGN](calign.png)", "", "![COLAP](colap.png)"]
    aff = results.get("affective")
    if aff and "probe" in aff:
        pr = aff["probe"]
        modes = "; ".join(f"{lg}: {v['mode']} ({v['words']} words)"
                          for lg, v in aff["languages"].items())
        mm = aff["mixed_model"]
        parts += ["", "## Affective neurons (seed 003)", "",
                  "labMT happiness (min-max normalised). Offline text exists only for English "
                  "and Spanish, so their words are probed in the Bible verses of the store "
                  "(occurrences sampled per word) and the other languages' words are run "
                  "alone (one-word input) — a weaker setting than seed 003's 15 contexts "
                  f"per word. {modes}.", "",
                  _md_table(["layer", *pr["languages"], "mean"],
                            [[layer, *[pr["scores"][lg][i] for lg in pr["languages"]],
                              pr["mean"][i]] for i, layer in enumerate(pr["layers"])]),
                  "", "![affective probes](affective_probe.png)", "",
                  f"Top-{aff['top_sets']['k']} neurons by |w| at layer "
                  f"{aff['top_sets']['layer']} (background {aff['background']} neurons); "
                  "pairwise fold enrichment from the super exact test:", "",
                  "![overlap](affective_overlap.png)", "",
                  _md_table(["language", "MPO"], [[lg, v] for lg, v in aff["mpo"].items()]),
                  "", f"Mixed model ({aff['mixed_model_design']}): "
                  + (f"slope {mm['slope']:.4f} (SE {mm['se']:.4f}, p {mm['pvalue']:.3g}); "
                     f"Pearson r(performance, MPO) = {mm['pearson_r']:.3f}."
                     if "slope" in mm else mm.get("error", "")),
                  "", "![MPO vs performance](mpo_performance.png)"]
    parts += ["", "## Timing", "", _md_table(["stage", "seconds"],
                                              [[k, v] for k, v in results["timing"].items()]),
              ""]
    return "\n".join(parts)


def write_results(results: dict[str, Any], out: Path) -> None:
    """Write ``out/results.json`` and ``out/report.md`` (the demo owns its directory and
    refreshes its own files, atomically)."""
    from interlingua.core.outputs import atomic_write_text
    from interlingua.registry.commands import write_json

    write_json(out / "results.json", to_jsonable(results), overwrite=True)
    atomic_write_text(out / "report.md", report_markdown(results), overwrite=True)


__all__ = ["report_markdown", "write_figures", "write_results"]
