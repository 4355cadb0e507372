"""The demo's driver: :func:`run_demo` runs the stages in order on one cached store,
checks the findings and writes the report (the steps are listed in
:mod:`interlingua.plugins.demo.pipeline`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from interlingua.core.errors import InputError
from interlingua.core.progress import SILENT, Progress, rich_progress
from interlingua.plugins.demo.affective_stage import affective_stage
from interlingua.plugins.demo.config import STEPS, DemoConfig, default_data_path, full_config
from interlingua.plugins.demo.findings import findings_check
from interlingua.plugins.demo.report import write_figures, write_results
from interlingua.plugins.demo.stages import (
    Reporter,
    cache_name,
    concepts_stage,
    dictionary_stage,
    extract_store,
    read_pairs,
    similarity_stage,
    word_translation_stage,
)


def run_demo(out: str | Path, config: DemoConfig | None = None, *, console: Any = None,
             steps: Sequence[str] = STEPS,
             on_stage: Callable[[str, float], None] | None = None,
             progress: Progress | None = None) -> dict[str, Any]:
    """Run the demo into directory ``out`` and return the results (also in results.json).

    Parameters
    ----------
    out : path
        Report directory (``report.md``, ``results.json``, PNGs; activation stores in
        ``out/cache``, reused by later runs with the same settings).
    config : DemoConfig
        Defaults to :func:`full_config`.
    console : rich Console, optional
        Where headings and tables go (None = silent).
    steps : sequence of str
        Analyses to run (a subset of :data:`STEPS`).
    on_stage : callable, optional
        Called with each finished stage's name and seconds.
    progress : Progress, optional
        Where progress goes (:mod:`interlingua.core.progress`); default: transient rich
        bars on stderr when ``console`` is given, else nothing.

    Returns
    -------
    dict
        Everything written to ``results.json``.
    """
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.affective.norms import tokenize
    from interlingua.plugins.extraction.corpus import Corpus, CorpusSentence

    cfg = config or full_config()
    if not cfg.data:
        cfg = replace(cfg, data=str(default_data_path()))
    if not Path(cfg.data).exists():
        raise InputError(f"data file {cfg.data} not found")
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise InputError(f"unknown demo step(s): {', '.join(sorted(unknown))}")
    rep = Reporter(console)
    if progress is None:
        progress = rich_progress(transient=True, rate=True) if console is not None else SILENT
    out = Path(out)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    t_all = time.perf_counter()

    def stage_done(name: str, t0: float) -> None:
        timing[name] = round(time.perf_counter() - t0, 2)
        if on_stage is not None:
            on_stage(name, timing[name])

    t0 = time.perf_counter()
    rep.rule("1/6 extraction")
    texts_a, texts_b = read_pairs(cfg)
    sentences = []
    for i, (a, b) in enumerate(zip(texts_a, texts_b)):
        sentences.append(CorpusSentence(tokenize(a), cfg.lang_a, pair_id=i, text=a))
        sentences.append(CorpusSentence(tokenize(b), cfg.lang_b, pair_id=i, text=b))
    store_path = cache / cache_name(cfg, "bible")
    extraction = extract_store(cfg, Corpus(sentences, format="memory"), store_path, rep,
                               progress)
    stage_done("extraction", t0)
    results: dict[str, Any] = {"config": cfg.to_dict(), "extraction": extraction}
    with ActivationStore.open(store_path) as store:
        layers = list(store.layers)
        results["store"] = {"path": str(store_path), "n_pairs": len(texts_a),
                            "n_sentences": store.n_sentences, "n_words": store.n_words,
                            "layers": layers, "model": store.attrs.get("model", ""),
                            "dim": int(store.layer(layers[-1], "sentences").dim)}
        rep.print(f"store: {store.n_sentences} sentences, {store.n_words} words, layers "
                  f"{', '.join(layers)}")
        if "similarity" in steps:
            t0 = time.perf_counter()
            rep.rule("2/6 similarity: ANC, CKA, SVCCA/PWCCA, sentence retrieval")
            results["similarity"] = similarity_stage(cfg, store, layers, rep, progress)
            stage_done("similarity", t0)
        table = None
        if "word_translation" in steps or "concepts" in steps:
            t0 = time.perf_counter()
            rep.rule("3/6 dictionary induction")
            table, backend = dictionary_stage(cfg, store, out, rep, progress)
            results["dictionary_backend"] = backend
            results["dictionary_file"] = "dictionary.txt"
            stage_done("dictionary", t0)
        if "word_translation" in steps:
            t0 = time.perf_counter()
            rep.rule("4/6 Procrustes word translation")
            results["word_translation"] = word_translation_stage(cfg, store, layers, table,
                                                                 rep, progress)
            stage_done("word_translation", t0)
        if "concepts" in steps:
            t0 = time.perf_counter()
            rep.rule("5/6 latent concepts: CALIGN, COLAP")
            c_layers = [x for x in layers if cfg.concept_layers is None
                        or x in set(cfg.concept_layers)] or layers
            results["concepts"] = concepts_stage(cfg, store, c_layers, table, out, rep,
                                                 progress)
            stage_done("concepts", t0)
        if "affective" in steps:
            t0 = time.perf_counter()
            rep.rule("6/6 affective neurons: probes, super exact test, MPO, mixed model")
            results["affective"] = affective_stage(cfg, store, cache, rep, layers, progress)
            stage_done("affective", t0)
    results["findings"] = findings_check(results)
    t0 = time.perf_counter()
    results["figures"] = write_figures(results, out)
    stage_done("figures", t0)
    timing["total"] = round(time.perf_counter() - t_all, 2)
    results["timing"] = timing
    write_results(results, out)
    rep.rule("findings check (seed claims vs. this run's numbers)")
    for f in results["findings"]:
        mark = "[green]holds[/green]" if f["holds"] else "[red]does not hold[/red]"
        rep.print(f"{mark} — seed {f['seed']}: {f['claim']}. {f['text']}")
    return results


__all__ = ["STEPS", "run_demo"]
