"""Mutual k-nearest-neighbour alignment (Huh et al. 2024, "The Platonic Representation
Hypothesis", §2).

Two representations of the same ``n`` items are aligned when they agree on which items
are near each other. With the rows of ``X`` (n×p) and ``Y`` (n×q) scaled to unit L2
norm, let ``N_X(i)`` be the ``k`` rows of ``X`` with the largest cosine to row ``i``,
``i`` itself excluded (likewise ``N_Y(i)``); then::

    mutual-knn(X, Y) = mean_i |N_X(i) ∩ N_Y(i)| / k        in [0, 1]

Chance level for unrelated spaces is ``k / (n − 1)``.

Ties are broken deterministically: neighbours are ranked by the float64 cosine of the
unit rows, computed pair by pair with a fixed summation order (so a pair's cosine
does not depend on the block sizes), and equal cosines go to the lower row index.

The n×n similarity matrix is never built. It is computed tile by tile (``block`` ×
``block`` rows, float32 products; each tile once, serving the row blocks on both of its
sides) while a running list of the best ``m = min(n − 1, 2k + 8)`` candidates per row
is kept. Float32 only preselects: every row whose float32 score is within a proven
rounding bound of the k-th best (:func:`float32_margin`) is rescored in float64, and a
row whose ``m`` candidates all lie within that bound (many near-ties, e.g. duplicate
rows) gets a second pass that collects every row within it. The result is therefore
exactly the float64 ranking with the index tie rule, whatever ``block`` is. Working
memory is O(n·k + block²) beyond the unit-norm float64 and float32 copies of the
inputs (O(n·(p + q))).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.params import Param
from interlingua.core.result import MetricResult
from interlingua.plugins.similarity.retrieval import unit_rows
from interlingua.registry import hookimpl

__all__ = ["MutualKNN", "float32_margin", "knn_indices", "mutual_knn_overlap",
           "unit_rows_checked"]

#: Candidates kept per query row beyond ``2k``: slack for near-ties of the float32 scores.
_EXTRA_CANDIDATES = 8


def unit_rows_checked(X: np.ndarray, name: str = "X") -> np.ndarray:
    """Rows of ``X`` scaled to unit L2 norm; all-zero rows are an error.

    Each row is first divided by its largest absolute value, so very large or very
    small (finite) values neither overflow nor underflow the norm.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Finite float64 rows (validated by the caller).
    name : str
        Name used in the error message.

    Returns
    -------
    ndarray of shape (n, p)
        Unit rows (float64).

    Raises
    ------
    InputError
        Some rows are all zero: they have no direction, so their cosine is undefined.
    """
    scale = np.max(np.abs(X), axis=1, keepdims=True)
    zero = np.flatnonzero(scale[:, 0] == 0)
    if zero.size:
        shown = ", ".join(str(r) for r in zero[:5]) + (", ..." if zero.size > 5 else "")
        raise InputError(
            f"{name}: {zero.size} all-zero row(s) ({shown}) have no direction, so their "
            "cosine is undefined; drop those paired rows from X and Y"
        )
    return unit_rows(X / scale)


def float32_margin(p: int) -> float:
    """Twice a bound on |float32 cosine − exact cosine| of two unit rows of width ``p``.

    Rounding the unit rows to float32 costs at most ``2u`` and any summation order of the
    ``p`` products at most ``γ_p = p·u / (1 − p·u)`` (``u = 2⁻²⁴``; Higham 2002, §3.1), as
    the sum of the absolute products is at most 1 for unit rows. A row whose float32
    score is more than this margin below the k-th best float32 score of its query row
    cannot be among the k nearest, so it is safe to drop.
    """
    g = (p + 2) * 2.0**-24
    return 2.0 * g / (1.0 - g) * 1.001 + 1e-12


def _merge(vals: np.ndarray, idx: np.ndarray, S: np.ndarray, c0: int, m: int, *,
           transposed: bool = False) -> None:
    """Fold a similarity tile into the running best ``m`` candidates ``vals``/``idx`` of
    its query rows, in place.

    The query rows are the rows of ``S`` (or its columns when ``transposed``, so a tile
    serves both row blocks without a transposed copy) and the candidates are rows
    ``c0, c0 + 1, ...``. Only entries above a query row's current ``m``-th best can
    enter, so after the first tile a few entries per row are merged (padded per
    touched row); a tile with many such entries is merged whole. Whatever is dropped
    scores at most the smallest kept score of its row.
    """
    axis = 0 if transposed else 1
    floor = vals.min(axis=1)
    mask = S > (floor[None, :] if transposed else floor[:, None])
    counts = np.count_nonzero(mask, axis=axis)
    rows = np.flatnonzero(counts)
    if rows.size == 0:
        return
    h = counts[rows]
    hmax = int(h.max())
    if rows.size * (m + hmax) > S.size // 2:  # merge the whole tile
        T = np.ascontiguousarray(S.T) if transposed else S
        width = T.shape[1]
        if width > m:
            part = np.argpartition(T, width - m, axis=1)[:, width - m:]
            tv, ti = np.take_along_axis(T, part, axis=1), part + c0
        else:
            tv, ti = T, np.broadcast_to(np.arange(c0, c0 + width), T.shape)
        allv = np.concatenate([vals, tv], axis=1)
        alli = np.concatenate([idx, ti], axis=1)
        part = np.argpartition(allv, allv.shape[1] - m, axis=1)[:, allv.shape[1] - m:]
        vals[:] = np.take_along_axis(allv, part, axis=1)
        idx[:] = np.take_along_axis(alli, part, axis=1)
        return
    flat = np.flatnonzero(mask)  # row-major order of S
    hit_v = S.ravel()[flat]
    if transposed:
        other, query = np.divmod(flat, S.shape[1])
        order = np.argsort(query, kind="stable")  # group the hits by query row
        other, hit_v = other[order], hit_v[order]
    else:
        other = flat % S.shape[1]
    pos = np.repeat(np.arange(rows.size), h)
    col = m + np.arange(flat.size) - np.repeat(np.cumsum(h) - h, h)
    P = np.full((rows.size, m + hmax), -np.inf, dtype=S.dtype)
    PI = np.full((rows.size, m + hmax), -1, dtype=idx.dtype)
    P[:, :m], PI[:, :m] = vals[rows], idx[rows]
    P[pos, col], PI[pos, col] = hit_v, other + c0
    part = np.argpartition(P, hmax, axis=1)[:, hmax:]
    vals[rows] = np.take_along_axis(P, part, axis=1)
    idx[rows] = np.take_along_axis(PI, part, axis=1)


def _candidates(U32: np.ndarray, m: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``m`` best float32 scores (and their rows) of every row among all other
    rows. Each tile ``rows a × rows b`` (a ≤ b) is computed once and merged into the
    candidates of both row blocks. Every row not kept scores at most the smallest kept
    score of its query row."""
    n = U32.shape[0]
    vals = np.full((n, m), -np.inf, dtype=np.float32)
    idx = np.full((n, m), -1, dtype=np.int64)
    starts = range(0, n, block)
    # Diagonal tiles first: each row block starts from its own tile (merged whole), so
    # the off-diagonal tiles then only add the few entries above the running floor.
    tiles = [(a, a) for a in starts] + [(a, b) for a in starts for b in starts if b > a]
    for a0, b0 in tiles:
        a1, b1 = min(n, a0 + block), min(n, b0 + block)
        S = U32[a0:a1] @ U32[b0:b1].T
        if a0 == b0:  # a row is not its own neighbour
            np.fill_diagonal(S, -np.inf)
        _merge(vals[a0:a1], idx[a0:a1], S, b0, m)
        if b0 != a0:
            _merge(vals[b0:b1], idx[b0:b1], S, a0, m, transposed=True)
    return vals, idx


def _pairs_above(U32: np.ndarray, rows: np.ndarray, thr: np.ndarray,
                 block: int) -> tuple[np.ndarray, np.ndarray]:
    """All ``(i, j)``, ``j ≠ i``, with float32 score ≥ ``thr`` (float64, compared in
    float64) for the sorted query rows ``rows``."""
    n = U32.shape[0]
    Q = U32[rows]
    qi, cj = [], []
    for c0 in range(0, n, block):
        c1 = min(n, c0 + block)
        S = Q @ U32[c0:c1].T
        own = (rows >= c0) & (rows < c1)
        S[np.flatnonzero(own), rows[own] - c0] = -np.inf
        r, c = np.nonzero(S >= thr[:, None])
        qi.append(rows[r])
        cj.append(c + c0)
    return np.concatenate(qi), np.concatenate(cj)


def _select_exact(U: np.ndarray, qi: np.ndarray, cj: np.ndarray, k: int,
                  chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """For each query row in ``qi`` (each with ≥ k candidate pairs): its ``k`` best
    candidates by float64 cosine, ties to the lower index. Returns the sorted query
    rows and their (rows × k) neighbours, best first."""
    if qi.size == 0:
        return qi, np.empty((0, k), dtype=np.int64)
    exact = np.empty(qi.size)
    for s in range(0, qi.size, chunk):
        # Elementwise product + sum: one pair's value does not depend on its neighbours
        # in the batch (unlike a BLAS product), hence not on block sizes either.
        exact[s:s + chunk] = np.sum(U[qi[s:s + chunk]] * U[cj[s:s + chunk]], axis=1)
    order = np.lexsort((cj, -exact, qi))
    qs = qi[order]
    first = np.flatnonzero(np.r_[True, qs[1:] != qs[:-1]])
    take = (first[:, None] + np.arange(k)).ravel()
    return qs[first], cj[order][take].reshape(-1, k)


def knn_indices(U: np.ndarray, k: int, *, block: int = 2048) -> np.ndarray:
    """The ``k`` nearest other rows of each row of ``U`` by cosine, best first.

    Parameters
    ----------
    U : ndarray of shape (n, p)
        Unit rows (float64), e.g. from :func:`unit_rows_checked`.
    k : int
        Neighbours per row, ``1 ≤ k ≤ n − 1``.
    block : int
        Rows per side of a similarity tile.

    Returns
    -------
    ndarray of shape (n, k), int64
        Row indices ranked by float64 cosine (computed pair by pair), equal cosines by
        lower index; a row is never its own neighbour.

    Notes
    -----
    Working memory O(n·k + block²) plus a float32 copy of ``U``: the n×n similarity
    matrix is never built (see the module docstring for the float32 preselection and
    its exactness guarantee).
    """
    n, p = U.shape
    if not 1 <= k <= n - 1:
        raise InputError(f"k must be between 1 and n - 1 = {n - 1}, got {k}")
    if block < 1:
        raise InputError(f"block must be ≥ 1, got {block}")
    m = min(n - 1, 2 * k + _EXTRA_CANDIDATES)
    margin = float32_margin(p)
    U32 = U.astype(np.float32)
    chunk = max(1024, block * block // (4 * max(p, 1)))
    crowd_rows = max(1, min(block, block * block // n))
    vals, idx = _candidates(U32, m, block)
    kth = np.partition(vals, m - k, axis=1)[:, m - k].astype(np.float64)
    thr = kth - margin
    out = np.empty((n, k), dtype=np.int64)
    if m < n - 1:  # some rows were dropped: only safe if all of them are below thr
        crowded = vals.min(axis=1) >= thr
    else:
        crowded = np.zeros(n, dtype=bool)
    easy = np.flatnonzero(~crowded)
    for s in range(0, easy.size, block):
        rows = easy[s:s + block]
        r, c = np.nonzero(vals[rows] >= thr[rows, None])
        got, nbrs = _select_exact(U, rows[r], idx[rows][r, c], k, chunk)
        out[got] = nbrs
    hard = np.flatnonzero(crowded)
    for s in range(0, hard.size, crowd_rows):
        rows = hard[s:s + crowd_rows]
        got, nbrs = _select_exact(U, *_pairs_above(U32, rows, thr[rows], block), k, chunk)
        out[got] = nbrs
    return out


def mutual_knn_overlap(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``|A[i] ∩ B[i]|`` per row of two (n × k) neighbour-index arrays (rows without
    repeats)."""
    both = np.sort(np.concatenate([A, B], axis=1), axis=1)
    return np.count_nonzero(both[:, 1:] == both[:, :-1], axis=1)


class MutualKNN(Metric):
    """Mutual k-nearest-neighbour alignment of two spaces (Huh et al. 2024, §2).

    The mean, over items, of the fraction of an item's ``k`` nearest neighbours (by
    cosine, itself excluded) that are the same in ``X`` and in ``Y``.

    Parameters
    ----------
    k : int, default 10
        Neighbours per item, ``1 ≤ k ≤ n − 1``.
    block : int, default 2048
        Rows per block: working memory is O(n·k + block²), never n×n.

    Notes
    -----
    ``per_unit`` is the overlap fraction ``|N_X(i) ∩ N_Y(i)| / k`` of each item (length
    n); ``details`` give ``n``, ``k`` and the chance level ``k / (n − 1)``. Ties go to
    the lower row index (see the module docstring), so permuting the rows only leaves
    the value unchanged when there are no exactly tied cosines. Invariant to rescaling
    each row by a positive factor, to an orthogonal transform (and a permutation of
    the neurons) of each space separately; not to translation (cosine is not). It
    needs all rows at once (no streaming accumulator), like ``retrieval``.
    """

    name: ClassVar[str] = "mutual-knn"
    summary: ClassVar[str] = "Mutual k-nearest-neighbour alignment (Huh et al. 2024)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("k", 10, "neighbours per item (1 ≤ k ≤ n − 1)", type=int),
        Param("block", 2048, "rows per block (working memory ~ n·k + block²)", type=int),
    )
    symmetric: ClassVar[bool] = True
    higher_is_more_similar: ClassVar[bool] = True
    invariances: ClassVar[frozenset[str]] = frozenset(
        {"orthogonal", "isotropic_scaling", "permutation", "joint_permutation",
         "row_permutation"}
    )
    value_range: ClassVar[tuple[float, float] | None] = (0.0, 1.0)
    min_rows: ClassVar[int] = 2
    same_dim: ClassVar[bool] = False

    def compute(self, X: np.ndarray, Y: np.ndarray) -> MetricResult:
        n = X.shape[0]
        if not 1 <= self.k <= n - 1:
            raise InputError(
                f"mutual-knn: k must be between 1 and n - 1 = {n - 1} ({n} paired rows), "
                f"got {self.k}"
            )
        if self.block < 1:
            raise InputError(f"mutual-knn: block must be ≥ 1, got {self.block}")
        A = knn_indices(unit_rows_checked(X, "X"), self.k, block=self.block)
        B = knn_indices(unit_rows_checked(Y, "Y"), self.k, block=self.block)
        frac = mutual_knn_overlap(A, B) / self.k
        details = {"n": int(n), "k": int(self.k), "chance": self.k / (n - 1)}
        return MetricResult(value=float(frac.mean()), per_unit=frac, details=details)


@hookimpl
def register_metrics(register: Callable[[type[Metric]], None]) -> None:
    register(MutualKNN)
