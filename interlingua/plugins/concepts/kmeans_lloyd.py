"""Exact Lloyd k-means with Hamerly's triangle-inequality pruning (seed 000 §3.2).

Lloyd's algorithm (Lloyd 1982, "Least squares quantization in PCM", IEEE Trans.
Inf. Theory 28(2)) alternates an assignment step (each point to its nearest centre)
and an update step (each centre to the mean of its points). At 1M points x 768
dimensions x K = 600 the assignment is ~1 TFLOP per iteration. Hamerly (2010, "Making
k-means even faster", SIAM SDM) keeps per point an upper bound ``u`` on the distance
to its assigned centre and one lower bound ``l`` on the distance to every other
centre, and per centre ``s`` = half the distance to its nearest other centre: a point
with ``u <= max(s[a], l)`` cannot change its centre and costs no distance at all.
Memory is O(n) for the bounds (Elkan's n x K bounds would be 4.8 GB at 1M x 600).

:func:`kmeans_lloyd` gives the result of scikit-learn's ``KMeans(algorithm="lloyd",
init=centres, n_init=1)``: the same assignments in every iteration (distances that
are not pruned are float32 sgemm products, ``|c|^2 - 2 x.c``, argmin with ties to the
lowest index, as scikit-learn does; pruned points keep a centre that is the nearest
in exact arithmetic), the same convergence rule (labels unchanged, or squared
Frobenius norm of the centre shift <= ``tol`` x mean column variance), the same final
relabelling E-step when convergence was not strict, and scikit-learn's relocation of
empty clusters to the points farthest from their centres. Differences are those of
rounding: centre sums are accumulated in float64 (scikit-learn: in the data's dtype),
and the inertia is a float64 sum. Distances are computed on rows centred by the
column mean (as scikit-learn does), but ``X`` itself is never modified or copied.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: rows per work block: one (block x K) distance matrix and a few (block x d) copies
BLOCK_ROWS = 8192


@dataclass
class LloydResult:
    """Fitted k-means, with scikit-learn's attribute names and a ``predict``.

    ``n_distance_rows_[i]`` is the number of points whose distances to all K centres
    were computed in iteration i (the last entry: the final E-step, if any);
    ``n_tightened_`` counts the points whose single assigned-centre distance was
    recomputed. Without pruning every entry of ``n_distance_rows_`` is n.
    ``mean_`` (float64 column means) and ``centred_centers_`` (the centres minus the
    mean, in the data dtype) are the frame the distances were computed in.
    """

    cluster_centers_: np.ndarray
    labels_: np.ndarray
    inertia_: float
    n_iter_: int
    mean_: np.ndarray
    centred_centers_: np.ndarray
    n_distance_rows_: list[int] = field(default_factory=list)
    n_tightened_: list[int] = field(default_factory=list)

    def predict(self, X: Any, block_rows: int = BLOCK_ROWS) -> np.ndarray:
        """Index of the nearest centre of each row (ties: the lowest index)."""
        return nearest_centres(X, self.centred_centers_, self.mean_, block_rows)


def nearest_centres(X: Any, centres: np.ndarray, mean: np.ndarray | None = None,
                    block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """Nearest of ``centres`` to each row of ``X - mean``, one sgemm per row block.

    Distances are compared in the centres' dtype as ``|c|^2 - 2 x.c`` (scikit-learn's
    form); ``argmin`` keeps the lowest index on ties. ``centres`` are given in the
    shifted frame (for :class:`LloydResult`: the centred centres). Memory:
    (block_rows x K) plus one block of ``X``.
    """
    X = np.asarray(X)
    dt = centres.dtype
    csq = np.einsum("ij,ij->i", centres, centres, dtype=np.float64).astype(dt)
    m = np.zeros(centres.shape[1], dt) if mean is None else np.asarray(mean).astype(dt)
    out = np.empty(X.shape[0], dtype=np.int32)
    for start in range(0, X.shape[0], block_rows):
        xb = X[start:start + block_rows].astype(dt) - m
        g = xb @ centres.T
        g *= -2
        g += csq
        out[start:start + xb.shape[0]] = g.argmin(axis=1)
    return out


def column_mean_variance(X: np.ndarray, block: int = BLOCK_ROWS) -> tuple[np.ndarray, float]:
    """Column means (float64) and ``np.mean(np.var(X, axis=0))``, one pass in row blocks.

    Blocks are merged with Chan et al.'s (1979) update, so no full-size temporary
    (``X - mean``) is ever made.
    """
    n, mean, m2 = 0, np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for start in range(0, X.shape[0], block):
        b = X[start:start + block].astype(np.float64)
        nb = b.shape[0]
        mb = b.mean(axis=0)
        b -= mb
        m2b = np.einsum("ij,ij->j", b, b)
        delta = mb - mean
        total = n + nb
        mean = mean + delta * (nb / total)
        m2 = m2 + m2b + delta**2 * (n * nb / total)
        n = total
    return mean, float(np.mean(m2 / n))


def kmeans_lloyd(X: np.ndarray, init: np.ndarray, *, max_iter: int = 300,
                 tol: float = 1e-4, block_rows: int = BLOCK_ROWS,
                 prune: bool = True) -> LloydResult:
    """Exact k-means (Lloyd 1982) from ``init``, pruned with Hamerly's (2010) bounds.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 (or float64)
        The points; read only (never centred in place, never copied whole).
    init : ndarray of shape (K, d)
        Initial centres.
    max_iter : int
        Maximum number of Lloyd iterations (>= 1).
    tol : float
        Relative tolerance: stop when the squared Frobenius norm of the centre shift
        is <= ``tol * np.mean(np.var(X, axis=0))`` (scikit-learn's rule).
    block_rows : int
        Rows per sgemm block (memory: block_rows x (K + a few d) values).
    prune : bool
        False recomputes every distance in every iteration (plain Lloyd, same code
        otherwise: for tests and measurements).

    Returns
    -------
    LloydResult
        ``cluster_centers_`` (K x d, dtype of ``X``), ``labels_`` (int32),
        ``inertia_`` (float64 sum of squared distances to the assigned centres),
        ``n_iter_`` and the pruning counters.

    Notes
    -----
    Every computed distance bound carries a rounding margin (``(d + 4)`` units of
    roundoff times ``|x|^2 + max |c|^2``), so a pruned point provably keeps the
    centre that exact arithmetic would give it; points near a tie are therefore never
    pruned and are decided by the same float32 argmin as scikit-learn's.
    """
    X = np.asarray(X)
    init = np.asarray(init)
    if X.ndim != 2 or X.dtype not in (np.float32, np.float64):
        raise ValueError(f"X must be a 2-d float32 or float64 array, got {X.dtype} {X.shape}")
    if init.ndim != 2 or init.shape[1] != X.shape[1] or not 1 <= init.shape[0] <= X.shape[0]:
        raise ValueError(f"init must be (K <= n, {X.shape[1]}), got {init.shape}")
    if max_iter < 1 or block_rows < 1 or not tol >= 0:
        raise ValueError(f"need max_iter >= 1, block_rows >= 1, tol >= 0; got {max_iter}, "
                         f"{block_rows}, {tol}")
    mean, variance = column_mean_variance(X, block_rows)
    run = _Hamerly(X, init, mean, block_rows, prune)
    tol_abs = variance * tol if tol else 0.0
    strict = False
    for it in range(max_iter):
        changed = run.assign(first=it == 0, update_sums=True)
        shift_sq = run.update_centres()
        if changed == 0:
            strict = True
            break
        if shift_sq <= tol_abs:
            break
    if not strict:  # scikit-learn's last E-step: labels that match the centres
        run.assign(first=False, update_sums=False)
    centres = run.centres64.astype(X.dtype)
    labels = run.labels
    inertia = _inertia(X, centres, labels, block_rows)
    distinct = int(np.count_nonzero(np.bincount(labels, minlength=init.shape[0])))
    if distinct < init.shape[0]:
        from sklearn.exceptions import ConvergenceWarning

        warnings.warn(f"Number of distinct clusters ({distinct}) found smaller than "
                      f"n_clusters ({init.shape[0]}). Possibly due to duplicate points in X.",
                      ConvergenceWarning, stacklevel=2)
    return LloydResult(centres, labels, inertia, it + 1, mean, run.cc, run.n_rows,
                       run.n_tight)


class _Hamerly:
    """State of one pruned Lloyd run: bounds, labels, float64 membership sums."""

    def __init__(self, X: np.ndarray, init: np.ndarray, mean: np.ndarray, block: int,
                 prune: bool) -> None:
        n, d = X.shape
        self.X, self.block, self.prune = X, block, prune
        self.k = init.shape[0]
        # Rows and centres are centred alike, block by block in the data dtype: a centre
        # equal to a point stays equal to it (distance exactly 0, as in scikit-learn).
        self.mean = mean.astype(X.dtype)
        self.centres64 = init.astype(np.float64)
        self._set_centres(init.astype(X.dtype) - self.mean)
        self.labels = np.full(n, -1, dtype=np.int32)
        self.upper = np.full(n, np.inf)
        self.lower = np.zeros(n)
        self.sums = np.zeros((self.k, d))  # of the raw rows, per current label
        self.counts = np.zeros(self.k, dtype=np.int64)
        self.eps = (d + 4) * float(np.finfo(X.dtype).eps)
        self.xsq = np.empty(n)  # |x - mean|^2 of the centred (rounded) rows
        for start in range(0, n, block):
            xb = X[start:start + block] - self.mean
            self.xsq[start:start + xb.shape[0]] = np.einsum("ij,ij->i", xb, xb,
                                                             dtype=np.float64)
        self.n_rows: list[int] = []
        self.n_tight: list[int] = []

    def _set_centres(self, cc: np.ndarray) -> None:
        """Centred centres in the data dtype, their norms and Hamerly's ``s``."""
        self.cc = cc
        c64 = cc.astype(np.float64)
        csq = np.einsum("ij,ij->i", c64, c64)
        self.csq = csq.astype(cc.dtype)
        self.csq_max = float(csq.max())
        self.half_sep = np.full(self.k, np.inf)
        # float64 |ci|^2 + |cj|^2 - 2 ci.cj, less its rounding bound (K x K by row blocks)
        slack = (cc.shape[1] + 4) * float(np.finfo(np.float64).eps) * 2 * self.csq_max
        for start in range(0, self.k, 1024):
            g = csq[start:start + 1024, None] + csq[None, :] - 2 * (c64[start:start + 1024]
                                                                   @ c64.T)
            g[np.arange(g.shape[0]), np.arange(start, start + g.shape[0])] = np.inf
            self.half_sep[start:start + g.shape[0]] = 0.5 * np.sqrt(
                np.maximum(g.min(1) - slack, 0))
        self.half_sep *= 1 - 1e-9

    def assign(self, first: bool, update_sums: bool) -> int:
        """E-step: relabel the points whose bounds allow a change; returns #changed."""
        n = self.X.shape[0]
        if first or not self.prune:
            cand, bound = np.arange(n), None
        else:
            bound = np.maximum(self.half_sep[self.labels], self.lower)
            cand = np.flatnonzero(self.upper > bound)
        changed = rows = tight = 0
        for start in range(0, cand.size, self.block):
            idx = cand[start:start + self.block]
            raw = self.X[idx]
            xb = raw - self.mean
            if bound is not None:  # tighten u to the exact distance to its centre
                tight += idx.size
                diff = xb - self.cc[self.labels[idx]]
                du = np.einsum("ij,ij->i", diff, diff, dtype=np.float64)
                self.upper[idx] = np.sqrt(du + self._margin(idx))
                keep = self.upper[idx] > bound[idx]
                idx, raw, xb = idx[keep], raw[keep], xb[keep]
            if not idx.size:
                continue
            rows += idx.size
            changed += self._nearest(idx, raw, xb, update_sums)
        self.n_rows.append(rows)
        self.n_tight.append(tight)
        return changed

    def _margin(self, idx: np.ndarray) -> np.ndarray:
        """Rounding bound of a computed squared distance of rows ``idx``."""
        return self.eps * (self.xsq[idx] + self.csq_max) + 1e-30

    def _nearest(self, idx: np.ndarray, raw: np.ndarray, xb: np.ndarray,
                 update_sums: bool) -> int:
        """Distances of rows ``idx`` to all centres (one sgemm): labels and both bounds."""
        g = xb @ self.cc.T
        g *= -2
        g += self.csq  # |c|^2 - 2 x.c, argmin as scikit-learn's
        rr = np.arange(idx.size)
        best = g.argmin(axis=1).astype(np.int32)
        d1 = g[rr, best].astype(np.float64)
        g[rr, best] = np.inf
        d2 = g.min(axis=1).astype(np.float64) if self.k > 1 else np.full(idx.size, np.inf)
        xsq, margin = self.xsq[idx], self._margin(idx)
        self.upper[idx] = np.sqrt(np.maximum(xsq + d1, 0) + margin)
        self.lower[idx] = np.sqrt(np.maximum(xsq + d2 - margin, 0))
        old = self.labels[idx]
        moved = np.flatnonzero(best != old)
        if moved.size and update_sums:
            self._move(old[moved], best[moved], raw[moved])
        self.labels[idx] = best
        return int(moved.size)

    def _move(self, old: np.ndarray, new: np.ndarray, rows: np.ndarray) -> None:
        """Move ``rows`` from clusters ``old`` (-1: none) to ``new`` in the float64 sums.

        A sparse +1/-1 membership matrix times the float64 rows: one pass, float64
        accumulation (2x faster than sorting + ``np.add.reduceat``, measured).
        """
        from scipy import sparse

        had = old >= 0
        cols = np.arange(new.size)
        data = np.r_[np.ones(new.size), -np.ones(int(had.sum()))]
        m = sparse.csr_matrix((data, (np.r_[new, old[had]], np.r_[cols, cols[had]])),
                              shape=(self.k, new.size))
        self.sums += m @ rows.astype(np.float64)
        np.add.at(self.counts, new, 1)
        np.subtract.at(self.counts, old[had], 1)

    def update_centres(self) -> float:
        """M-step (with scikit-learn's empty-cluster relocation); updates the bounds.

        Returns the squared Frobenius norm of the shift of the (centred) centres.
        """
        sums, counts = self.sums.copy(), self.counts.astype(np.float64)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            self._relocate(empty, sums, counts)
        full = counts > 0
        c64 = np.empty_like(sums)
        c64[full] = sums[full] / counts[full, None]
        c64[~full] = c64[np.argmax(counts)]  # scikit-learn: the biggest cluster's centre
        cc = c64.astype(self.cc.dtype) - self.mean
        shift = np.sqrt(((cc.astype(np.float64) - self.cc) ** 2).sum(axis=1))
        self.centres64 = c64
        self._set_centres(cc)
        p = shift * (1 + 1e-9)
        self.upper += p[self.labels]
        if self.k > 1:  # Hamerly: the largest move, the second largest for its own points
            top = int(np.argmax(p))
            second = float(np.max(np.delete(p, top)))
            self.lower -= np.where(self.labels == top, second, p[top])
        return float((shift**2).sum())

    def _relocate(self, empty: np.ndarray, sums: np.ndarray, counts: np.ndarray) -> None:
        """Give each empty cluster one of the points farthest from their centre.

        The behaviour of scikit-learn's ``_relocate_empty_clusters_dense``: the
        ``len(empty)`` largest squared distances to the assigned (pre-update) centre,
        matched to the empty clusters in the order of ``argpartition``; the point's
        label is left as it is (the next E-step moves it); nothing happens if every
        point sits on its centre.
        """
        n = self.X.shape[0]
        dist = np.empty(n)
        for start in range(0, n, self.block):
            diff = (self.X[start:start + self.block] - self.mean) \
                - self.cc[self.labels[start:start + self.block]]
            dist[start:start + diff.shape[0]] = np.einsum("ij,ij->i", diff, diff,
                                                           dtype=np.float64)
        if dist.max() == 0:
            return
        far = np.argpartition(dist, -empty.size)[:-empty.size - 1:-1]
        for new, i in zip(empty.tolist(), far.tolist()):
            old = int(self.labels[i])
            x = self.X[i].astype(np.float64)
            sums[old] -= x
            sums[new] = x
            counts[new] = 1
            counts[old] -= 1


def _inertia(X: np.ndarray, centres: np.ndarray, labels: np.ndarray, block: int) -> float:
    """Sum of squared distances to the assigned centres, in float64."""
    c64 = centres.astype(np.float64)
    total = 0.0
    step = max(1, block // 2)
    for start in range(0, X.shape[0], step):
        diff = X[start:start + step].astype(np.float64)
        diff -= c64[labels[start:start + step]]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total
