"""CKA — centred kernel alignment (Kornblith et al. 2019; seed 002 §5.2, seed 001 §3).

Linear CKA in feature space::

    CKA(X, Y) = ‖Ycᵀ Xc‖²_F / (‖Xcᵀ Xc‖_F ‖Ycᵀ Yc‖_F)

Debiased CKA replaces HSIC by the unbiased estimator of Song et al. (2007); with
``a_i = ‖xc_i‖²``, ``b_i = ‖yc_i‖²``, ``A = Σa``, ``B = Σb``::

    h(X, Y) = ‖YcᵀXc‖²_F − n/(n−2)·(a·b) + A·B/((n−1)(n−2))     (= n(n−3)·HSIC_u)
    CKA_debiased = h(X, Y) / √(h(X, X) h(Y, Y))

Both need only d×d moments, so they stream (:mod:`._moments`); in memory, float32
input is folded in row blocks without a float64 copy. Linear CKA multiplies float32
blocks in float32 (block sums accumulated in float64): a ratio of Frobenius norms of
the moments, it moved by at most 2e-8 in our checks (the tests require 1e-6).
Debiased CKA keeps float64 products: its three terms cancel by a factor growing like
d/n (5 rows × 768 neurons: 5e-5 off in float32). RBF CKA needs all pairwise
distances: ``K_ij = exp(−D²_ij / (2σ²))`` with ``σ² = threshold²·median(D²)``
over all n² entries (diagonal zeros included, as in Kornblith's demo); it is computed
blockwise (row blocks of the kernel matrices) and refuses sizes whose condensed
distance vector would exceed ``max_memory_gb``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.params import Param
from interlingua.core.result import MetricResult
from interlingua.plugins.similarity.moments import Moments, MomentsAccumulator
from interlingua.registry import hookimpl


def _linear_from_moments(moments: Moments, debiased: bool) -> MetricResult:
    c = moments.centered()
    n = c.n
    xy = float(np.sum(c.cxy * c.cxy))  # ‖XcᵀYc‖²_F
    xx = float(np.sum(c.cxx * c.cxx))
    yy = float(np.sum(c.cyy * c.cyy))
    details = {"n": int(n)}
    if debiased:
        if n < 4:
            raise InputError(f"debiased CKA needs at least 4 rows, got {n}")
        a_sum = float(np.trace(c.cxx))
        b_sum = float(np.trace(c.cyy))

        def h(frob: float, dot: float, s1: float, s2: float) -> float:
            return frob - n / (n - 2) * dot + s1 * s2 / ((n - 1) * (n - 2))

        hxy = h(xy, c.ab, a_sum, b_sum)
        hxx = h(xx, c.aa, a_sum, a_sum)
        hyy = h(yy, c.bb, b_sum, b_sum)
        details.update(hsic_xy=hxy / (n * (n - 3)), hsic_xx=hxx / (n * (n - 3)),
                       hsic_yy=hyy / (n * (n - 3)))
        num, den2 = hxy, hxx * hyy
    else:
        details.update(hsic_xy=xy / (n - 1) ** 2, hsic_xx=xx / (n - 1) ** 2,
                       hsic_yy=yy / (n - 1) ** 2)
        num, den2 = xy, xx * yy
    if not den2 > 0:
        raise InputError(
            "CKA is undefined: one input has zero variance (all rows identical)"
            if not debiased
            else "debiased CKA is undefined: an input's unbiased self-HSIC is not positive "
            "(constant input or too few distinct rows)"
        )
    return MetricResult(value=num / math.sqrt(den2), details=details)


def _sqdist_block(A: np.ndarray, B: np.ndarray, na: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between rows of A and rows of B (Gram trick)."""
    d = na[:, None] + nb[None, :] - 2.0 * (A @ B.T)
    np.maximum(d, 0.0, out=d)
    return d


def _median_sq_distance(X: np.ndarray) -> float:
    """``np.median`` of the full n×n squared-distance matrix, from its upper triangle.

    The n² entries are n diagonal zeros plus every off-diagonal distance twice, so
    the k-th smallest of the full matrix is 0 for k < n and otherwise the
    ``(k − n) // 2``-th smallest of the condensed vector.
    """
    from scipy.spatial.distance import pdist

    n = X.shape[0]
    cond = pdist(X, "sqeuclidean")
    total = n * n

    def kth(k: int) -> float:
        if k < n:
            return 0.0
        j = (k - n) // 2
        return float(np.partition(cond, j)[j])

    if total % 2:
        return kth(total // 2)
    return (kth(total // 2 - 1) + kth(total // 2)) / 2


class CKA(Metric):
    """Centred kernel alignment, linear or RBF, biased or debiased (Kornblith et al. 2019).

    Parameters
    ----------
    kernel : {"linear", "rbf"}
        Kernel on rows.
    debiased : bool, default False
        Use the unbiased HSIC estimator (Song et al. 2007); needs n ≥ 4.
    threshold : float, default 1.0
        RBF bandwidth: σ² = threshold²·median of squared distances.
    max_memory_gb : float, default 2.0
        RBF only: memory budget; larger n is refused with a message.

    Notes
    -----
    Linear CKA (biased and debiased) is computed from d×d moments and streams in
    O(d²) memory; in memory, float32 input costs no float64 copy (biased: float32
    products, within 1e-6 of float64; debiased: float64 products). RBF CKA is
    invariant to orthogonal maps, isotropic scaling and translation too, because σ
    follows the median distance.
    """

    name: ClassVar[str] = "cka"
    summary: ClassVar[str] = "Centred kernel alignment, linear/RBF, optionally debiased"
    params: ClassVar[tuple[Param, ...]] = (
        Param("kernel", "linear", "kernel on rows", type=str, choices=("linear", "rbf")),
        Param("debiased", False, "unbiased HSIC estimator (Song et al. 2007)", type=bool),
        Param("threshold", 1.0, "RBF: sigma = threshold * sqrt(median squared distance)",
              type=float),
        Param("max_memory_gb", 2.0, "RBF: memory budget in GB (larger inputs are refused)",
              type=float),
    )
    symmetric: ClassVar[bool] = True
    higher_is_more_similar: ClassVar[bool] = True
    invariances: ClassVar[frozenset[str]] = frozenset(
        {"orthogonal", "isotropic_scaling", "translation", "permutation",
         "joint_permutation", "row_permutation"}
    )
    value_range: ClassVar[tuple[float, float] | None] = None
    min_rows: ClassVar[int] = 2

    @property
    def supports_streaming(self) -> bool:
        # Only the linear kernel reduces to d×d moments.
        return self.kernel == "linear"

    @property
    def accepts_float32(self) -> bool:
        # RBF uses the rows themselves, in float64.
        return self.kernel == "linear"

    def accumulator(self) -> MomentsAccumulator | None:
        if self.kernel != "linear":
            return None
        return self._linear_accumulator("float64")

    def _linear_accumulator(self, products: str) -> MomentsAccumulator:
        debiased = self.debiased
        return MomentsAccumulator(
            {"cross": "full", "fourth": debiased, "products": products},
            lambda m: _linear_from_moments(m, debiased),
        )

    def compute(self, X: np.ndarray, Y: np.ndarray) -> MetricResult:
        if self.debiased and X.shape[0] < 4:
            raise InputError(f"debiased CKA needs at least 4 rows, got {X.shape[0]}")
        if self.kernel == "linear":
            # Debiased CKA cancels too much for float32 products (module docstring).
            products = "float64" if self.debiased else "input"
            return self._linear_accumulator(products).update(X, Y).result()
        return self._rbf(X, Y)

    # -- RBF ------------------------------------------------------------------------------
    def rbf_memory_bytes(self, n: int, block_rows: int | None = None) -> int:
        """Bytes RBF CKA needs for n rows: condensed distances + kernel row blocks."""
        block = block_rows or min(n, 1024)
        return int(n * (n - 1) // 2 * 8 + 6 * block * n * 8)

    def _rbf(self, X: np.ndarray, Y: np.ndarray) -> MetricResult:
        if not self.threshold > 0:
            raise InputError(f"cka: threshold must be > 0, got {self.threshold}")
        n = X.shape[0]
        # Distances are translation invariant; centring keeps the Gram trick accurate.
        X = X - X.mean(axis=0)
        Y = Y - Y.mean(axis=0)
        budget = self.max_memory_gb * 1024**3
        need = self.rbf_memory_bytes(n)
        if need > budget:
            # Largest n with n(n-1)/2 * 8 bytes + blocks inside the budget.
            n_max = math.isqrt(int(budget / 4))
            raise InputError(
                f"RBF CKA on {n} rows needs about {need / 1024**3:.1f} GB (all pairwise "
                f"distances), over the budget max_memory_gb={self.max_memory_gb}; use "
                f"at most ~{n_max} rows (subsample), raise max_memory_gb, or use the "
                f"linear kernel, which streams"
            )
        sx = _median_sq_distance(X)
        sy = _median_sq_distance(Y)
        if sx <= 0 or sy <= 0:
            raise InputError("RBF CKA is undefined: median squared distance is 0 "
                             "(more than half of the rows are identical)")
        gx = 1.0 / (2.0 * self.threshold**2 * sx)
        gy = 1.0 / (2.0 * self.threshold**2 * sy)
        nx = np.einsum("ij,ij->i", X, X)
        ny = np.einsum("ij,ij->i", Y, Y)
        block = min(n, 1024)
        # Per row block of K and L we need: Σ K∘L, Σ K∘K, Σ L∘L and the row sums.
        # With the diagonal zeroed (debiased) these give Song's U-statistic; without,
        # the biased ⟨HKH, HLH⟩ = ΣK∘L − 2/n (K1)·(L1) + (1ᵀK1)(1ᵀL1)/n².
        kl = kk = ll = 0.0
        rk = np.empty(n)
        rl = np.empty(n)
        for start in range(0, n, block):
            stop = min(n, start + block)
            K = _sqdist_block(X[start:stop], X, nx[start:stop], nx)
            K *= -gx
            np.exp(K, out=K)
            L = _sqdist_block(Y[start:stop], Y, ny[start:stop], ny)
            L *= -gy
            np.exp(L, out=L)
            if self.debiased:
                idx = np.arange(start, stop)
                K[idx - start, idx] = 0.0
                L[idx - start, idx] = 0.0
            kl += float(np.einsum("ij,ij->", K, L))
            kk += float(np.einsum("ij,ij->", K, K))
            ll += float(np.einsum("ij,ij->", L, L))
            rk[start:stop] = K.sum(axis=1)
            rl[start:stop] = L.sum(axis=1)
        if self.debiased:
            if n < 4:
                raise InputError(f"debiased CKA needs at least 4 rows, got {n}")

            def h(tr: float, r1: np.ndarray, r2: np.ndarray) -> float:
                return (tr + r1.sum() * r2.sum() / ((n - 1) * (n - 2))
                        - 2.0 / (n - 2) * float(r1 @ r2))

        else:

            def h(tr: float, r1: np.ndarray, r2: np.ndarray) -> float:
                return tr - 2.0 / n * float(r1 @ r2) + r1.sum() * r2.sum() / n**2

        hxy, hxx, hyy = h(kl, rk, rl), h(kk, rk, rk), h(ll, rl, rl)
        if not hxx * hyy > 0:
            raise InputError("RBF CKA is undefined: a centred kernel matrix is zero")
        return MetricResult(
            value=hxy / math.sqrt(hxx * hyy),
            details={"n": int(n), "sigma2_x": self.threshold**2 * sx,
                     "sigma2_y": self.threshold**2 * sy},
        )


@hookimpl
def register_metrics(register):
    register(CKA)
