"""The demo's driver: :func:`run_demo` builds (or reads) the multi-parallel corpus, runs
every stage on each model (:func:`~interlingua.plugins.demo.model_stages.run_model`),
checks the seed findings per model and language pair, re-runs the analysis of a finding
that does not hold under other choices (:mod:`.sensitivity`), and writes the report (the
steps are listed in :mod:`interlingua.plugins.demo.pipeline`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from interlingua.core.errors import InputError
from interlingua.core.progress import SILENT, Progress, rich_progress
from interlingua.plugins.demo.config import STEPS, DemoConfig, full_config
from interlingua.plugins.demo.findings import findings_check
from interlingua.plugins.demo.report import write_figures, write_results
from interlingua.plugins.demo.stages import Reporter


def run_demo(out: str | Path, config: DemoConfig | None = None, *, console: Any = None,
             steps: Sequence[str] = STEPS,
             on_stage: Callable[[str, float], None] | None = None,
             progress: Progress | None = None) -> dict[str, Any]:
    """Run the demo into directory ``out`` and return the results (also in results.json).

    Parameters
    ----------
    out : path
        Report directory (``report.md``, ``results.json``, PNGs; the corpus and the
        activation stores in ``out/cache``, reused by later runs with the same settings).
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
        Everything written to ``results.json``: ``config``, ``corpus``, ``models``
        (per model: store, similarity per language pair, word translation, concepts,
        affective), ``dictionaries``, ``findings``, ``sensitivity``, ``figures``,
        ``timing``.
    """
    from interlingua.plugins.demo.corpus_stage import demo_corpus, read_parallel, resolve_languages
    from interlingua.plugins.demo.model_stages import run_model
    from interlingua.plugins.demo.sensitivity import sensitivity_sweep
    from interlingua.plugins.demo.stages import dictionary_file

    cfg = config or full_config()
    if cfg.data and not Path(cfg.data).exists():
        raise InputError(f"data file {cfg.data} not found")
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise InputError(f"unknown demo step(s): {', '.join(sorted(unknown))}")
    if not cfg.models:
        raise InputError("the demo needs at least one model")
    languages = resolve_languages(cfg)
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
    rep.rule(f"corpus: {', '.join(languages)}")
    data, corpus_info = demo_corpus(cfg, languages, cache, rep)
    cfg = replace(cfg, data=str(data), languages=languages)
    stage_done("corpus", t0)
    results: dict[str, Any] = {"config": cfg.to_dict(), "corpus": corpus_info, "models": {}}
    tables: dict[str, Any] = {}
    for model in cfg.models:
        mcfg = cfg.for_model(model)
        rows = read_parallel(data, languages, mcfg.pairs)
        results["models"][model] = run_model(mcfg, rows, cache, out, rep, progress, steps,
                                             tables, stage_done)
        results["models"][model]["plan"] = {"verses": len(rows), "layers": mcfg.layers,
                                            "concept_layers": mcfg.concept_layers,
                                            "model_dtype": mcfg.model_dtype}
    if "_backend" in tables:
        results["dictionaries"] = {
            "backend": tables["_backend"],
            "files": {f"{languages[0]}-{x}": dictionary_file(languages[0], x)
                      for x in languages[1:] if x in tables}}
    results["findings"] = findings_check(results)
    if cfg.sensitivity:
        t0 = time.perf_counter()
        results["sensitivity"] = sensitivity_sweep(cfg, results, cache, out, rep, progress,
                                                    tables=tables)
        stage_done("sensitivity", t0)
    t0 = time.perf_counter()
    results["figures"] = write_figures(results, out)
    stage_done("figures", t0)
    timing["total"] = round(time.perf_counter() - t_all, 2)
    results["timing"] = timing
    write_results(results, out)
    rep.rule("findings check (seed claims vs. this run's numbers)")
    rep.table("seed findings", ["seed", "claim", "model", "verdict", "numbers"],
              [[f["seed"], f["claim"], f["model"],
                "holds" if f["holds"] else "does not hold", f["text"]]
               for f in results["findings"]])
    return results


__all__ = ["STEPS", "run_demo"]
