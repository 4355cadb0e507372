"""The demo's latent-concept stage (seed 000): k-means per language and on the mixed data
of all languages, CALIGN per pivot–language pair and COLAP per pair and over all, through
the concepts family's public functions (:mod:`interlingua.plugins.concepts.pipeline`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interlingua.core.progress import Progress
from interlingua.plugins.demo.config import DemoConfig
from interlingua.plugins.demo.stages import Reporter, model_slug


def concepts_stage(cfg: DemoConfig, store: Any, layers: list[str],
                   tables: dict[str, Any], out: Path, rep: Reporter,
                   progress: Progress, *, path: Path | None = None) -> dict[str, Any]:
    """k-means concepts per layer: one run per language (CALIGN) and one on the mixed
    data of all languages (COLAP), into ``out/concepts-<model>.h5`` (seed 000 §2.2, §2.3,
    §3.2). CALIGN pairs the pivot ``cfg.lang_a`` with every other language through that
    pair's dictionary; COLAP is reported on the mixed run restricted to the pivot and
    each other language (the pair's share of concepts in which both reach θ_O), and over
    all languages.

    Parameters
    ----------
    cfg : DemoConfig
        The run's settings (``languages`` resolved, pivot first; ``lang_a`` = pivot).
    store : ActivationStore
        The open store of the parallel verses.
    layers : list of str
        Layers to cluster.
    tables : dict of str -> LexicalTable
        Per non-pivot language, the pivot → language dictionary (:func:`dictionary_stage`).
    out : Path
        The report directory.
    rep, progress
        Tables and progress.
    path : Path, optional
        The concept file (default ``out/concepts-<model>.h5``).

    Returns
    -------
    dict
        K, the frequency filter, the concept file, per pair CALIGN and COLAP by layer, and
        COLAP over all languages.
    """
    from interlingua.core.outputs import atomic_output
    from interlingua.plugins.concepts.pipeline import (
        FrequencyFilter,
        calign_layers,
        colap_layers,
        discover_concepts,
    )
    from interlingua.registry import get_discoverer

    path = path or out / f"concepts-{model_slug(cfg.model)}.h5"
    filt = FrequencyFilter(min_freq=cfg.min_freq, max_freq=cfg.max_freq, seed=cfg.seed)
    km = get_discoverer("kmeans", n_clusters=cfg.n_concepts, random_state=cfg.seed)
    langs = list(cfg.languages or [cfg.lang_a, cfg.lang_b])
    pivot = langs[0]
    # A fresh concept file, replacing the previous run's only when complete.
    with progress.task("concepts", total=(len(langs) + 1) * len(layers)) as task, \
            atomic_output(path, overwrite=True) as tmp:
        def tick(run: Any) -> None:
            task.update(description=f"concepts: layer {run.layer} {run.key}")
            task.advance()

        discover_concepts(store, layers, discoverer=km, languages=langs, freq_filter=filt,
                          output=tmp, callback=tick)
        discover_concepts(store, layers, discoverer=km, languages=langs, mixed=True,
                          freq_filter=filt, output=tmp, callback=tick)
    calign: dict[str, Any] = {}
    colap: dict[str, Any] = {}
    for lang in langs[1:]:
        pair = f"{pivot}-{lang}"
        calign[pair] = calign_layers(path, pivot, lang, tables[lang].dictionary(),
                                     layers).to_dict(full=False)
        colap[pair] = colap_layers(path, layers, languages=[pivot, lang]).to_dict(full=False)
    colap_all = colap_layers(path, layers).to_dict(full=False)
    pairs = list(calign)
    rows = [[layer, *[calign[p]["layers"][layer]["value"] for p in pairs],
             *[colap[p]["layers"][layer]["value"] for p in pairs],
             colap_all["layers"][layer]["value"]] for layer in layers]
    rep.table(f"latent concepts, {model_slug(cfg.model)} (k-means K={cfg.n_concepts})",
              ["layer", *[f"CALIGN {p}" for p in pairs], *[f"COLAP {p}" for p in pairs],
               "COLAP all"], rows)
    return {"n_clusters": cfg.n_concepts, "filter": filt.to_dict(),
            "concepts_file": path.name, "layers": layers, "languages": langs,
            "calign": calign, "colap": colap, "colap_all": colap_all}


__all__ = ["concepts_stage"]
