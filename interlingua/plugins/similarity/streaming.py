"""The streaming pass of a layer-wise comparison, through the public accumulator API.

Any paired metric whose ``accumulator()`` returns an object with ``update(x, y)``,
``merge(other)`` and ``result()`` (the :class:`~interlingua.core.interfaces.Accumulator`
protocol: built-in or third-party alike) is computed here without loading a layer:

* locally, the paired rows are read chunk by chunk (``Layer.iter_chunks``) and every
  accumulator is updated with each chunk;
* on a Dask cluster, each task accumulates a contiguous partition of the pairs (it
  opens the stores itself) and the partial accumulators are merged pairwise.

The accumulators of one layer form an :class:`AccumulatorSet`. The built-in moment
metrics (ANC, linear / debiased CKA, CCA / SVCCA / PWCCA, Procrustes) share one
:class:`~interlingua.plugins.similarity.moments.Moments` inside the set
(:func:`~interlingua.plugins.similarity.moments.share_moments`), an optimisation
invisible to the pass: it only calls ``update``, ``merge`` and ``result``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from interlingua.core.errors import InputError, PluginError
from interlingua.core.interfaces import Metric, plugin_label
from interlingua.core.result import MetricResult
from interlingua.plugins.similarity.moments import share_moments
from interlingua.plugins.similarity.pairing import Pairing

__all__ = ["AccumulatorSet", "get_client", "paired_chunks", "stream_layer", "streamable",
           "streaming_accumulator"]

_PROTOCOL = ("update", "merge", "result")


def streaming_accumulator(metric: Metric) -> Any | None:
    """A fresh accumulator of ``metric``, or ``None`` when it needs all rows at once.

    Raises
    ------
    PluginError
        When ``accumulator()`` returns an object without ``update``, ``merge`` and
        ``result`` (a bug in the plugin).
    """
    acc = metric.accumulator() if metric.supports_streaming else None
    if acc is None:
        return None
    missing = [name for name in _PROTOCOL if not callable(getattr(acc, name, None))]
    if missing:
        raise PluginError(
            f"{plugin_label(metric)}: accumulator() returned {type(acc).__name__}, which "
            f"lacks {', '.join(missing)} (the Accumulator protocol: update, merge, result)"
        )
    return acc


class AccumulatorSet:
    """One accumulator per streaming metric, fed by one pass over the paired rows.

    Parameters
    ----------
    metrics : sequence of (label, Metric)
        The metrics to accumulate; each must have an accumulator
        (:func:`streaming_accumulator`).
    """

    def __init__(self, metrics: Sequence[tuple[str, Metric]]) -> None:
        self.metrics = list(metrics)
        self.accumulators: list[Any] = []
        for label, metric in self.metrics:
            acc = streaming_accumulator(metric)
            if acc is None:
                raise InputError(f"{label} cannot be computed streaming")
            self.accumulators.append(acc)
        share_moments(self.accumulators)  # one Moments pass for the built-in metrics
        self.chunks = 0

    def update(self, x: np.ndarray, y: np.ndarray) -> AccumulatorSet:
        """Fold one row-aligned chunk into every accumulator."""
        for acc in self.accumulators:
            acc.update(x, y)
        self.chunks += 1
        return self

    def merge(self, other: AccumulatorSet) -> AccumulatorSet:
        """Fold in the accumulators of other rows, metric by metric."""
        if [label for label, _ in other.metrics] != [label for label, _ in self.metrics]:
            raise ValueError("cannot merge accumulator sets of different metrics")
        for mine, theirs in zip(self.accumulators, other.accumulators):
            mine.merge(theirs)
        self.chunks += other.chunks
        return self

    def results(self) -> dict[str, MetricResult]:
        """Label → the metric's result on all rows seen."""
        return {label: metric.finish_result(acc.result())
                for (label, metric), acc in zip(self.metrics, self.accumulators)}


def _as_float64(x: np.ndarray, y: np.ndarray, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """Finite float64 copies of a chunk (what :meth:`Metric.stream` hands accumulators)."""
    out = []
    for arr, side in ((x, "A"), (y, "B")):
        if not np.isfinite(arr).all():
            raise InputError(f"layer {layer}: store {side} has NaN or infinite activations")
        out.append(np.asarray(arr, dtype=np.float64))
    return out[0], out[1]


def paired_chunks(la: Any, lb: Any, pairing: Pairing, chunk_rows: int,
                  layer: str = "") -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Row-aligned float64 chunks ``(x, y)`` of at most ``chunk_rows`` pairs of one
    layer (``la`` of store A, ``lb`` of store B, named ``layer`` in messages), in
    pairing order."""
    chunks_a = la.iter_chunks(rows=chunk_rows, index=pairing.rows_a) \
        if pairing.rows_a is not None else la.iter_chunks(rows=chunk_rows)
    chunks_b = lb.iter_chunks(rows=chunk_rows, index=pairing.rows_b) \
        if pairing.rows_b is not None else lb.iter_chunks(rows=chunk_rows)
    for x, y in zip(chunks_a, chunks_b):
        yield _as_float64(x, y, layer)


def _partition(path_a: str, path_b: str, layer: str, level: str,
               rows_a: np.ndarray | None, rows_b: np.ndarray | None, start: int, stop: int,
               chunk_rows: int, metrics: Sequence[tuple[str, Metric]]) -> AccumulatorSet:
    """Accumulators of paired rows ``[start, stop)`` (positions in ``rows_a`` /
    ``rows_b``, or row numbers when those are ``None``); runs on a Dask worker, so it
    opens the stores itself."""
    from interlingua.core.store import ActivationStore

    accs = AccumulatorSet(metrics)
    with ActivationStore.open(path_a) as sa:
        sb = sa if path_b == path_a else ActivationStore.open(path_b)
        try:
            la, lb = sa.layer(layer, level), sb.layer(layer, level)
            for lo in range(start, stop, chunk_rows):
                hi = min(stop, lo + chunk_rows)
                x = la[lo:hi] if rows_a is None else la.read(rows_a[lo:hi])
                y = lb[lo:hi] if rows_b is None else lb.read(rows_b[lo:hi])
                accs.update(*_as_float64(x, y, layer))
        finally:
            if sb is not sa:
                sb.close()
    return accs


def _merge_all(parts: list[AccumulatorSet]) -> AccumulatorSet:
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    return total


def get_client(dask: Any) -> tuple[Any, Any]:
    """``(client, cluster_to_close)`` for ``dask`` = a ``distributed.Client``, a
    scheduler address, or ``"local"`` (a 2-worker LocalCluster owned by the caller)."""
    from distributed import Client, LocalCluster

    if isinstance(dask, Client):
        return dask, None
    if dask == "local":
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    return Client(dask), None


def stream_layer(
    pairing: Pairing,
    layer: str,
    metrics: Sequence[tuple[str, Metric]],
    la: Any,
    lb: Any,
    *,
    chunk_rows: int,
    client: Any = None,
    partition_rows: int | None = None,
) -> dict[str, MetricResult]:
    """Compute streaming metrics at one layer over the paired rows.

    Parameters
    ----------
    pairing : Pairing
        Which rows pair (:func:`~interlingua.plugins.similarity.pairing.pair_rows`).
    layer : str
        Layer name.
    metrics : sequence of (label, Metric)
        Metrics that have an accumulator (:func:`streaming_accumulator`).
    la, lb : Layer
        The layer in store A and in store B (local reads).
    chunk_rows : int
        Pairs per chunk: no accumulator ever sees more rows at once.
    client : distributed.Client, optional
        Accumulate partitions on a Dask cluster and merge them.
    partition_rows : int, optional
        Pairs per Dask task (default: two tasks per worker).

    Returns
    -------
    dict
        Label → :class:`MetricResult`.
    """
    if client is None:
        accs = AccumulatorSet(metrics)
        for x, y in paired_chunks(la, lb, pairing, chunk_rows, layer):
            accs.update(x, y)
        return accs.results()
    n = pairing.n
    if partition_rows is None:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        partition_rows = max(chunk_rows, math.ceil(n / (2 * n_workers)))
    bounds = [(lo, min(n, lo + partition_rows)) for lo in range(0, n, partition_rows)]
    # Ship only each partition's slice of the row index to its task.
    indexed = pairing.rows_a is not None
    futures = [
        client.submit(
            _partition, str(pairing.path_a), str(pairing.path_b), layer, pairing.level,
            pairing.rows_a[lo:hi] if indexed else None,
            pairing.rows_b[lo:hi] if indexed else None,
            0 if indexed else lo, hi - lo if indexed else hi,
            chunk_rows, list(metrics), pure=False,
        )
        for lo, hi in bounds
    ]
    return client.submit(_merge_all, futures).result().results()


def streamable(metrics: Iterable[tuple[str, Metric]]) -> tuple[list[tuple[str, Metric]],
                                                               list[tuple[str, Metric]]]:
    """Split ``(label, metric)`` pairs into those with an accumulator (streamed) and
    those that need all rows of a layer at once."""
    streamed, whole = [], []
    for label, metric in metrics:
        (streamed if streaming_accumulator(metric) is not None else whole).append(
            (label, metric))
    return streamed, whole
