"""Layer-wise comparison of paired representations (seed 001 Figs 3–5, seed 002 Fig. 5).

Compares, at every layer, the rows of two languages of one parallel store (sentences
paired by ``pair_id``), or the rows of two stores (e.g. two models or two languages
run separately), with any number of paired metrics. The work is split by
responsibility:

* :mod:`~interlingua.plugins.similarity.metric_specs` — metric specs and labels;
* :mod:`~interlingua.plugins.similarity.pairing` — which rows pair up (:func:`pair_rows`);
* :mod:`~interlingua.plugins.similarity.streaming` — the streaming pass: every metric
  offering an accumulator (built-in or third-party) is updated chunk by chunk
  (``Layer.iter_chunks``), merged across Dask partitions (``dask=`` a
  ``distributed.Client``, an address, or ``"local"``), then asked for its result, so
  memory is O(d²) whatever the number of rows; the built-in moment metrics share one
  pass;
* :mod:`~interlingua.plugins.similarity.comparison` — the result
  (:class:`Comparison`, a :class:`~interlingua.core.layerwise.LayerwiseResult`).

This module drives them: metrics without an accumulator (retrieval, RBF CKA) read the
paired rows of a layer whole (bounded by ``max_memory_gb``), and the optional
permutation test / bootstrap run on a seeded subsample of the pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.params import Configurable, Param
from interlingua.core.progress import Progress, as_progress
from interlingua.core.result import MetricResult
from interlingua.core.suggest import did_you_mean
from interlingua.plugins.similarity.comparison import Comparison
from interlingua.plugins.similarity.metric_specs import (
    metric_label,
    paired_metrics,
    parse_metric_spec,
)
from interlingua.plugins.similarity.pairing import (
    LEVELS,
    Pairing,
    has_level,
    open_store,
    pair_rows,
    read_paired,
)

__all__ = ["DEFAULT_METRICS", "CompareSettings", "Comparison", "Pairing", "compare_layers",
           "metric_label", "pair_rows", "parse_metric_spec"]

#: Metrics compared when none are given.
DEFAULT_METRICS: tuple[str, ...] = ("anc", "cka")


class CompareSettings(Configurable):
    """The settings of :func:`compare_layers`, declared once: they give the function's
    keyword defaults and the ``compare`` command's options (``param_options``)."""

    name = "compare"
    params = (
        Param("level", "sentences", "Row level: pooled sentences, or words (target words "
              "of parallel sentences; word by word for two stores of the same text).",
              str, LEVELS),
        Param("chunk_rows", 16384, "Rows per streamed chunk.", int),
        Param("n_permutations", 0,
              "Permutation-test shuffles per layer and metric (p-value).", int),
        Param("n_bootstrap", 0, "Bootstrap resamples per layer and metric (95% CI).", int),
        Param("significance_rows", 5000,
              "Random subsample (pairs) used by the permutation test and bootstrap.", int),
        Param("seed", 0, "Seed of subsampling and resampling.", int),
        Param("max_memory_gb", 4.0, "Largest paired rows of one layer loaded whole for "
              "metrics without an accumulator (GB).", float),
    )


_D = {p.name: p.default for p in CompareSettings.params}


def _select_layers(st_a: Any, st_b: Any, layers: Sequence[str] | None,
                   level: str) -> list[str]:
    """The layers both stores have at ``level`` (all shared ones by default)."""
    common = [name for name in st_a.layers if name in set(st_b.layers)]
    if layers is not None:
        missing = [str(x) for x in layers if str(x) not in common]
        if missing:
            raise InputError(
                f"layer(s) {', '.join(missing)} not in both stores (available: "
                f"{', '.join(common)}){did_you_mean(missing[0], common)}"
            )
        common = [str(x) for x in layers]
    common = [name for name in common
              if has_level(st_a, name, level) and has_level(st_b, name, level)]
    if not common:
        raise InputError(f"the stores share no layer with {level}-level activations")
    return common


def compare_layers(
    store_a: Any,
    store_b: Any = None,
    metrics: Sequence[Metric | str] = DEFAULT_METRICS,
    *,
    lang_a: str | None = None,
    lang_b: str | None = None,
    level: str = _D["level"],
    layers: Sequence[str] | None = None,
    chunk_rows: int = _D["chunk_rows"],
    dask: Any = None,
    partition_rows: int | None = None,
    n_permutations: int = _D["n_permutations"],
    n_bootstrap: int = _D["n_bootstrap"],
    significance_rows: int = _D["significance_rows"],
    seed: int = _D["seed"],
    max_memory_gb: float = _D["max_memory_gb"],
    progress: Progress | None = None,
    on_layer: Callable[[str], None] | None = None,
) -> Comparison:
    """Compare paired rows layer by layer with several metrics.

    Parameters
    ----------
    store_a, store_b : path or ActivationStore
        One store (compare two of its languages) or two stores.
    metrics : sequence of Metric or str
        Metric instances or specs like ``"cka:debiased=true"``.
    lang_a, lang_b : str, optional
        Languages to pair (see :func:`pair_rows`).
    level : {"sentences", "words"}
        Row level.
    layers : sequence of str, optional
        Layers to compare (default: all layers the stores share, in order).
    chunk_rows : int
        Rows per streamed chunk (memory ≈ chunk_rows × d × 8 bytes × 2, plus each
        accumulator's own state). Metrics with an accumulator never see more rows at
        once.
    dask : distributed.Client, str or None
        Accumulate on a Dask cluster (an address, or ``"local"`` for a LocalCluster
        created and closed here): each task accumulates a partition of the pairs and
        the accumulators are merged (``merge``), so third-party accumulators must be
        picklable.
    partition_rows : int, optional
        Rows per Dask task (default: split into 2 tasks per worker).
    n_permutations, n_bootstrap : int
        Permutation test (p-value) and bootstrap (CI) per layer and metric, computed
        on a seeded random subsample of at most ``significance_rows`` pairs; the
        reported value itself always uses all rows.
    seed : int
        Seed of the subsample and the resampling.
    max_memory_gb : float
        Refuse to load a layer's paired rows for the metrics without an accumulator
        (retrieval, RBF CKA) when they would need more memory than this.
    progress : Progress, optional
        Reports one step per layer (:mod:`interlingua.core.progress`).
    on_layer : callable, optional
        Also called with each layer name when it is done (kept for older callers;
        prefer ``progress``).

    Returns
    -------
    Comparison
        A :class:`~interlingua.core.layerwise.LayerwiseResult` with one series per
        metric label.
    """
    from interlingua.plugins.similarity.streaming import get_client, streamable

    named = paired_metrics(metrics)
    if chunk_rows < 1:
        raise InputError("chunk_rows must be ≥ 1")
    pairing = pair_rows(store_a, store_b, lang_a=lang_a, lang_b=lang_b, level=level)
    if pairing.n < 2:
        raise InputError(f"only {pairing.n} paired rows; need at least 2")
    st_a, close_a = open_store(store_a)
    st_b, close_b = (st_a, False) if store_b is None else open_store(store_b)
    client = cluster = None
    try:
        common = _select_layers(st_a, st_b, layers, level)
        streamed, whole = streamable(named)
        if dask is not None and streamed:
            client, cluster = get_client(dask)
        rng = np.random.default_rng(seed)
        sig_idx = None
        if n_permutations > 0 or n_bootstrap > 0:
            k = min(pairing.n, significance_rows)
            sig_idx = np.sort(rng.choice(pairing.n, size=k, replace=False))
        results: dict[str, dict[str, MetricResult]] = {label: {} for label, _ in named}
        with as_progress(progress).task(f"comparing {pairing.n} paired {level}",
                                        total=len(common)) as task:
            for name in common:
                layer_results = _compare_layer(
                    pairing, name, named, streamed, whole, st_a, st_b,
                    chunk_rows=chunk_rows, client=client, partition_rows=partition_rows,
                    max_memory_gb=max_memory_gb, sig_idx=sig_idx,
                    n_permutations=n_permutations, n_bootstrap=n_bootstrap, seed=seed)
                for label, res in layer_results.items():
                    results[label][name] = res
                task.advance()
                if on_layer is not None:
                    on_layer(name)
        meta = {
            "store_a": str(pairing.path_a),
            "store_b": str(pairing.path_b),
            "level": level,
            "lang_a": pairing.lang_a,
            "lang_b": pairing.lang_b,
            "pairing": pairing.how,
            "n": int(pairing.n),
            "model_a": st_a.attrs.get("model"),
            "model_b": st_b.attrs.get("model"),
            "dask": None if dask is None else (str(dask) if isinstance(dask, str) else "client"),
            "significance_rows": None if sig_idx is None else int(sig_idx.size),
            "n_permutations": n_permutations,
            "n_bootstrap": n_bootstrap,
            "seed": seed,
        }
        return Comparison(common, results, meta)
    finally:
        if client is not None and cluster is not None:
            client.close()
            cluster.close()
        if close_a:
            st_a.close()
        if close_b:
            st_b.close()


def _compare_layer(pairing: Pairing, name: str, named: list[tuple[str, Metric]],
                   streamed: list[tuple[str, Metric]], whole: list[tuple[str, Metric]],
                   st_a: Any, st_b: Any, *, chunk_rows: int, client: Any,
                   partition_rows: int | None, max_memory_gb: float,
                   sig_idx: np.ndarray | None, n_permutations: int, n_bootstrap: int,
                   seed: int) -> dict[str, MetricResult]:
    """Label → result at one layer: streamed metrics, then whole-matrix ones, then the
    optional significance on the subsample ``sig_idx``."""
    from interlingua.plugins.similarity.streaming import stream_layer

    la, lb = st_a.layer(name, pairing.level), st_b.layer(name, pairing.level)
    for label, metric in named:
        if metric.same_dim and la.dim != lb.dim:
            raise InputError(
                f"{label} needs equal widths but layer {name} has {la.dim} and "
                f"{lb.dim} neurons"
            )
    out: dict[str, MetricResult] = {}
    if streamed:
        out.update(stream_layer(pairing, name, streamed, la, lb, chunk_rows=chunk_rows,
                                client=client, partition_rows=partition_rows))
    if whole:
        need = pairing.n * (la.dim + lb.dim) * 8 / 1024**3
        if need > max_memory_gb:
            raise InputError(
                f"{', '.join(label for label, _ in whole)} need all "
                f"{pairing.n} paired rows in memory (~{need:.1f} GB > "
                f"max_memory_gb={max_memory_gb}); use the streaming metrics "
                "(anc, cka, cca, svcca, pwcca, procrustes) or fewer rows"
            )
        X = read_paired(la, pairing.rows_a, pairing.n)
        Y = read_paired(lb, pairing.rows_b, pairing.n)
        for label, metric in whole:
            out[label] = metric(X, Y)
        del X, Y
    if sig_idx is not None:
        from interlingua.plugins.similarity.significance import with_significance

        Xs = read_paired(la, pairing.rows_a, pairing.n, sig_idx)
        Ys = read_paired(lb, pairing.rows_b, pairing.n, sig_idx)
        for label, metric in named:
            with_significance(metric, Xs, Ys, n_permutations=n_permutations,
                              n_bootstrap=n_bootstrap, seed=seed, result=out[label])
    return {label: out[label] for label, _ in named}
