"""Sensitivity sweep: for a seed finding that does not hold on a model, re-run the
analysis behind it under other choices of ours and apply the same rule
(:data:`interlingua.plugins.demo.findings.CHECKS`), so the report can say whether the
verdict depends on those choices. Nothing is tuned until it holds: every variant of the
table is run and reported, whatever its verdict.

Choices varied (each alone, the others as in the run):

* ANC (seed 001): the number of verses (¼ and ½ of the sample) and signed instead of
  absolute correlations;
* CALIGN / COLAP (seed 000): K of k-means (½× and 2×) and the occurrences kept per word
  type (the frequency filter's maximum, 2×);
* affective overlap (seed 003): top-k (½× and 2×), verses per word (contexts) and target
  words per language.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.progress import Progress
from interlingua.plugins.demo.config import DemoConfig
from interlingua.plugins.demo.findings import CHECKS
from interlingua.plugins.demo.stages import Reporter


def variants(key: str, cfg: DemoConfig) -> list[tuple[str, Any]]:
    """The (choice, value) variants of the sweep for finding ``key`` under ``cfg``."""
    if key == "anc_rise_fall":
        n = cfg.pairs or 0
        return [("verses", max(20, n // 4)), ("verses", max(20, n // 2)),
                ("signed correlation", True)]
    if key in ("calign_depth", "colap_order"):
        return [("K", max(2, cfg.n_concepts // 2)), ("K", cfg.n_concepts * 2),
                ("occurrences per type (max)", cfg.max_freq * 2)]
    if key == "affective_overlap":
        return [("top-k", max(10, cfg.top_k // 2)), ("top-k", cfg.top_k * 2),
                ("contexts per word", cfg.affective_contexts + 2),
                ("words per language", cfg.affective_words * 2)]
    return []


def _anc_entry(store: Any, pairs: list[str], layers: list[str], *, verses: int | None,
               signed: bool) -> dict[str, Any]:
    """ANC per pair and layer on the first ``verses`` verse pairs, shaped like the
    similarity entry the check reads."""
    from interlingua.registry import get_metric

    metric = get_metric("anc", absolute=not signed)
    sim = {}
    for pair in pairs:
        a, b = pair.split("-", 1)
        ra, rb = store.parallel_rows(a, b)
        if verses is not None:
            ra, rb = ra[:verses], rb[:verses]
        res = {}
        for layer in layers:
            view = store.layer(layer, "sentences")
            res[layer] = {"value": float(metric(view[ra].astype(np.float64),
                                                view[rb].astype(np.float64)).value)}
        sim[pair] = {"layers": layers, "results": {"anc": res}}
    return {"similarity": sim}


def _rerun(key: str, choice: str, value: Any, cfg: DemoConfig, entry: dict[str, Any],
           cache: Path, work: Path, rep: Reporter, progress: Progress,
           tables: dict[str, Any], done: dict[tuple, dict[str, Any]]) -> dict[str, Any]:
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.demo.affective_stage import affective_stage
    from interlingua.plugins.demo.concepts_stage import concepts_stage

    memo = (cfg.model, "concepts" if key in ("calign_depth", "colap_order") else key,
            choice, value)
    if memo in done:
        return done[memo]
    quiet = Reporter(None)
    with ActivationStore.open(entry["store"]["path"]) as store:
        layers = list(entry["store"]["layers"])
        if key == "anc_rise_fall":
            new = _anc_entry(store, list(entry["similarity"]), layers,
                             verses=value if choice == "verses" else None,
                             signed=choice == "signed correlation")
        elif key in ("calign_depth", "colap_order"):
            sub = replace(cfg, n_concepts=value) if choice == "K" else replace(cfg,
                                                                                 max_freq=value)
            c_layers = list(entry["concepts"]["layers"])
            path = work / f"concepts-sweep-{abs(hash(memo)) % 10**8}.h5"
            new = {"concepts": concepts_stage(sub.for_pair(cfg.languages[0], cfg.languages[1]),
                                              store, c_layers, tables, work, quiet, progress,
                                              path=path)}
            path.unlink(missing_ok=True)
        else:
            field = {"top-k": "top_k", "contexts per word": "affective_contexts",
                     "words per language": "affective_words"}[choice]
            new = {"affective": affective_stage(replace(cfg, **{field: value}), store, cache,
                                                quiet, layers, progress)}
    done[memo] = new
    return new


def sensitivity_sweep(cfg: DemoConfig, results: dict[str, Any], cache: Path, out: Path,
                      rep: Reporter, progress: Progress,
                      tables: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Re-run the analysis of every finding that does not hold under the variants of
    :func:`variants` and decide the finding again with the same rule.

    Parameters
    ----------
    cfg : DemoConfig
        The run's settings (languages resolved).
    results : dict
        The demo's results with ``findings``.
    cache, out : Path
        Store cache (affective re-runs cache their stores there) and report directory.
    rep, progress
        Table and progress.
    tables : dict, optional
        Pivot → language dictionaries of the run (needed for CALIGN re-runs).

    Returns
    -------
    list of dict
        One row per variant: ``key``, ``seed``, ``model``, ``choice``, ``value``,
        ``baseline`` (the run's value of that choice), ``holds``, ``text``.
    """
    rows: list[dict[str, Any]] = []
    done: dict[tuple, dict[str, Any]] = {}
    failing = [f for f in results.get("findings", []) if not f["holds"]]
    if not failing:
        return rows
    work = cache / "sweep"
    work.mkdir(parents=True, exist_ok=True)
    baseline = {"signed correlation": False, "K": cfg.n_concepts,
                "occurrences per type (max)": cfg.max_freq, "top-k": cfg.top_k,
                "contexts per word": cfg.affective_contexts,
                "words per language": cfg.affective_words}
    with progress.task("sensitivity sweep", total=sum(
            len(variants(f["key"], cfg.for_model(f["model"]))) for f in failing)) as task:
        for f in failing:
            mcfg = cfg.for_model(f["model"])
            entry = results["models"][f["model"]]
            for choice, value in variants(f["key"], mcfg):
                if f["key"] in ("calign_depth", "colap_order") and not tables:
                    continue
                task.update(description=f"sweep: {f['key']} {choice}={value}")
                new = _rerun(f["key"], choice, value, mcfg, entry, cache, work, rep,
                             progress, tables or {}, done)
                verdict = CHECKS[f["key"]](new)
                base = (entry["store"]["n_verses"] if choice == "verses"
                        else baseline[choice])
                rows.append({"key": f["key"], "seed": f["seed"], "model": f["model"],
                             "choice": choice, "value": value, "baseline": base,
                             "holds": None if verdict is None else verdict["holds"],
                             "text": "" if verdict is None else verdict["text"]})
                task.advance()
    if rows:
        rep.table("sensitivity of the findings that do not hold (each choice varied alone)",
                  ["seed", "model", "choice", "run's value", "variant", "verdict", "numbers"],
                  [[r["seed"], r["model"].replace("builtin:", ""), r["choice"], r["baseline"],
                    r["value"], "holds" if r["holds"] else "does not hold", r["text"]]
                   for r in rows])
    return rows


__all__ = ["sensitivity_sweep", "variants"]
