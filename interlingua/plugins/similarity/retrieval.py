"""Cross-lingual retrieval accuracy: sentence matching and CSLS (seeds 001, 002).

Sentence matching (seed 001, Experiment 3): for each source row ``x_i`` find the
nearest target among *all* rows of ``Y`` by cosine; accuracy (P@1) is the fraction
whose nearest target is its own translation ``y_i``.

CSLS (Conneau et al. 2018; seed 002 §5.1.1) corrects hubness::

    CSLS(x, y) = 2 cos(x, y) − r_T(x) − r_S(y)

with ``r_T(x)`` the mean cosine of ``x`` to its ``k`` nearest targets and ``r_S(y)``
the mean cosine of ``y`` to its ``k`` nearest sources.

Everything is computed in row blocks of the n×n similarity matrix, so memory stays
at O(block·n) plus the two normalised inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.params import Param
from interlingua.core.result import MetricResult
from interlingua.registry import hookimpl

__all__ = ["Retrieval", "knn_mean_similarity", "retrieve_topk", "unit_rows"]


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return X / norms


def _block_rows(n_cols: int, max_block_mb: float) -> int:
    return int(max(1, min(8192, (max_block_mb * 1024**2) // (8 * max(n_cols, 1) * 2))))


def knn_mean_similarity(
    A: np.ndarray, B: np.ndarray, k: int, *, max_block_mb: float = 256.0
) -> np.ndarray:
    """For each row of ``A`` (unit rows), the mean cosine to its ``k`` nearest rows of ``B``.

    This is ``r_T`` (A = sources, B = targets) or ``r_S`` (A = targets, B = sources).
    """
    k = min(k, B.shape[0])
    out = np.empty(A.shape[0])
    step = _block_rows(B.shape[0], max_block_mb)
    for start in range(0, A.shape[0], step):
        S = A[start:start + step] @ B.T
        top = np.partition(S, S.shape[1] - k, axis=1)[:, S.shape[1] - k:]
        out[start:start + step] = top.mean(axis=1)
    return out


def retrieve_topk(
    A: np.ndarray,
    B: np.ndarray,
    k: int,
    *,
    r_a: np.ndarray | None = None,
    r_b: np.ndarray | None = None,
    max_block_mb: float = 256.0,
) -> np.ndarray:
    """Indices of the ``k`` best rows of ``B`` for each row of ``A`` (best first).

    Scores are cosines of unit rows, or CSLS ``2cos − r_a − r_b`` when both
    ``r_a`` and ``r_b`` are given. Ties keep the lower index first.
    """
    k = min(k, B.shape[0])
    out = np.empty((A.shape[0], k), dtype=np.int64)
    step = _block_rows(B.shape[0], max_block_mb)
    for start in range(0, A.shape[0], step):
        S = A[start:start + step] @ B.T
        if r_a is not None and r_b is not None:
            S *= 2.0
            S -= r_a[start:start + step, None]
            S -= r_b[None, :]
        # Stable descending order of the top-k (argsort of −S keeps index order on ties).
        if k < S.shape[1]:
            part = np.argpartition(-S, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(S.shape[1]), S.shape).copy()
        vals = np.take_along_axis(S, part, axis=1)
        order = np.lexsort((part, -vals), axis=1)
        out[start:start + step] = np.take_along_axis(part, order, axis=1)
    return out


class Retrieval(Metric):
    """P@1 of row i of X retrieving row i of Y among all rows of Y (seed 001 Exp. 3).

    Parameters
    ----------
    method : {"cosine", "csls"}
        Nearest neighbour by cosine, or by CSLS (hubness-corrected, seed 002 §5.1.1).
    k : int, default 10
        CSLS neighbourhood size.
    center : bool, default False
        Subtract each input's column mean (its language centroid) before cosine —
        the per-language centring that removes a language-identity offset.
    max_block_mb : float, default 256
        Memory for one block of the similarity matrix.

    Notes
    -----
    ``per_unit`` is 1/0 per source row (correct or not); ``details`` also gives
    P@5 and P@10. Inputs must have the same width (the rows are compared directly,
    so only *joint* neuron permutations leave the value unchanged).
    """

    name: ClassVar[str] = "retrieval"
    summary: ClassVar[str] = "Sentence matching accuracy P@1 by cosine or CSLS"
    params: ClassVar[tuple[Param, ...]] = (
        Param("method", "cosine", "similarity: cosine or csls", type=str,
              choices=("cosine", "csls")),
        Param("k", 10, "CSLS neighbourhood size", type=int),
        Param("center", False, "subtract each input's column mean first", type=bool),
        Param("max_block_mb", 256.0, "memory for one block of the similarity matrix",
              type=float),
    )
    symmetric: ClassVar[bool] = False
    higher_is_more_similar: ClassVar[bool] = True
    invariances: ClassVar[frozenset[str]] = frozenset(
        {"isotropic_scaling", "joint_permutation", "row_permutation"}
    )
    value_range: ClassVar[tuple[float, float] | None] = (0.0, 1.0)
    min_rows: ClassVar[int] = 2
    same_dim: ClassVar[bool] = True

    def compute(self, X: np.ndarray, Y: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> MetricResult:
        if self.k < 1:
            raise InputError(f"retrieval: k must be ≥ 1, got {self.k}")
        if self.center:
            X = X - X.mean(axis=0)
            Y = Y - Y.mean(axis=0)
        A, B = unit_rows(X), unit_rows(Y)
        n = A.shape[0]
        r_a = r_b = None
        if self.method == "csls":
            r_a = knn_mean_similarity(A, B, self.k, max_block_mb=self.max_block_mb)
            r_b = knn_mean_similarity(B, A, self.k, max_block_mb=self.max_block_mb)
        kmax = max(ks)
        top = retrieve_topk(A, B, kmax, r_a=r_a, r_b=r_b, max_block_mb=self.max_block_mb)
        gold = np.arange(n)[:, None]
        hits = top == gold
        correct = hits[:, 0]
        details = {"n": int(n), "method": self.method}
        for kk in ks:
            details[f"p_at_{kk}"] = float(hits[:, :kk].any(axis=1).mean())
        return MetricResult(value=float(correct.mean()), per_unit=correct.astype(np.float64),
                            details=details)


@hookimpl
def register_metrics(register):
    register(Retrieval)
