"""CCA, SVCCA and PWCCA (seed 001 §3; Raghu et al. 2017; Morcos et al. 2018).

All three follow the conventions of Google's reference implementation
(``google/svcca``, ``cca_core.get_cca_similarity`` and ``pwcca.compute_pwcca``),
re-derived here from the formulas and computed from streaming moments:

1. covariances with ``ddof=1``; Σxx, Σyy and Σxy are rescaled by ``max|Σxx|`` and
   ``max|Σyy|`` (Σxy by their geometric mean) for numerical stability;
2. neurons whose rescaled variance is below ``epsilon`` are dropped;
3. ``epsilon·I`` is added to Σxx and Σyy, and the canonical correlations are the
   singular values of ``Σxx^{-1/2} Σxy Σyy^{-1/2}`` (pseudo-inverse square roots);
4. ``cca`` = mean of all min(p, q) canonical correlations (``squared=True``: mean of
   their squares, Kornblith et al.'s R²_CCA). Google's own ``"mean"`` summary
   instead averages only the leading coefficients holding 98% of their sum; it is
   reported as ``details["mean_threshold_98"]``;
5. ``svcca`` first projects each centred input onto its top ``dims`` principal
   directions (the right singular vectors of Google's tutorial), then averages the
   CCA coefficients;
6. ``pwcca`` weights the coefficients of the side with fewer kept neurons by
   ``α_i = Σ_j |⟨p_i, a_j⟩|`` where ``a_j`` are that side's (uncentred) neuron
   activation vectors and ``p_i`` the QR-orthonormalised directions
   ``coef·(acts − mean) + mean`` of Google's code.

Documented deviations from the reference code: when Y has fewer kept neurons than X,
Google's ``compute_pwcca`` builds the directions from ``acts1`` (a known bug); we
use ``acts2``. Its direction formula adds the means of *all* neurons to the kept
ones (a shape error when neurons were dropped); we use the kept neurons' means.
The QR factor is obtained from the Cholesky factor of the directions' Gram matrix
(identical in exact arithmetic; it makes PWCCA streamable).

As in Google's code, inputs need more rows than (kept) neurons: with n ≤ p the
sample covariance is singular and every canonical correlation is 1.

float32 input is folded in float64 row blocks (no float64 copy of the input): the
inverse square roots amplify rounding by the covariances' condition number, so the
products stay in float64 and the value equals the float64 input's to ~1e-12.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.params import Param
from interlingua.core.result import MetricResult
from interlingua.plugins.similarity.moments import Centered, Moments, MomentsAccumulator
from interlingua.registry import hookimpl


def _inv_sqrt(S: np.ndarray) -> np.ndarray:
    """Pseudo-inverse square root of a symmetric PSD matrix (as ``sqrt(pinv(S))``)."""
    w, V = np.linalg.eigh(S)
    # numpy's pinv cut-off: singular values below rcond·max are treated as zero.
    cutoff = 1e-15 * max(float(np.max(np.abs(w))), 0.0)
    inv = np.zeros_like(w)
    keep = w > cutoff
    inv[keep] = 1.0 / np.sqrt(w[keep])
    return (V * inv) @ V.T


def _sum_threshold(s: np.ndarray, threshold: float) -> int:
    """First i with Σ s[:i] ≥ threshold·Σ s (Google's ``sum_threshold``)."""
    total = s.sum()
    if total <= 0:
        return len(s)
    csum = np.concatenate([[0.0], np.cumsum(s)])
    hits = np.flatnonzero(csum / total >= threshold)
    return int(hits[0]) if hits.size else len(s)


def cca_from_covariances(
    sxx: np.ndarray, syy: np.ndarray, sxy: np.ndarray, n: int, epsilon: float
) -> dict:
    """Canonical correlations from covariance matrices (Google's ``cca_core`` steps).

    Returns a dict with ``rho`` (coefficients, descending), ``u`` (full left singular
    vectors, columns), ``vt`` (full right singular vectors, rows), ``x_idx``/``y_idx``
    (boolean masks of kept neurons).
    """
    p, q = sxx.shape[0], syy.shape[0]
    xmax = float(np.max(np.abs(sxx))) if p else 0.0
    ymax = float(np.max(np.abs(syy))) if q else 0.0
    if not (xmax > 0 and ymax > 0):
        raise InputError("CCA is undefined: an input has zero variance in every neuron")
    sxx = sxx / xmax
    syy = syy / ymax
    sxy = sxy / np.sqrt(xmax * ymax)
    x_idx = np.abs(np.diagonal(sxx)) >= epsilon
    y_idx = np.abs(np.diagonal(syy)) >= epsilon
    nx, ny = int(x_idx.sum()), int(y_idx.sum())
    if nx == 0 or ny == 0:
        raise InputError("CCA is undefined: no neuron has non-negligible variance")
    if n <= max(nx, ny):
        raise InputError(
            f"CCA needs more rows than neurons: {n} rows for {nx} and {ny} neurons "
            f"(use svcca with fewer dims, or more rows)"
        )
    sxx = sxx[np.ix_(x_idx, x_idx)] + epsilon * np.eye(nx)
    syy = syy[np.ix_(y_idx, y_idx)] + epsilon * np.eye(ny)
    sxy = sxy[np.ix_(x_idx, y_idx)]
    arr = _inv_sqrt(sxx) @ sxy @ _inv_sqrt(syy)
    u, s, vt = np.linalg.svd(arr, full_matrices=True)
    return {"rho": np.abs(s), "u": u, "vt": vt, "x_idx": x_idx, "y_idx": y_idx}


def _pwcca_weights(u_side: np.ndarray, C: np.ndarray, mean: np.ndarray, n: int) -> np.ndarray:
    """Projection weights of Google's ``compute_pwcca`` from moments.

    Directions ``D = Uᵀ(A − m1ᵀ) + m1ᵀ`` (k×n, A = kept neurons × rows). QR of ``Dᵀ``
    gives ``P = Dᵀ R⁻¹`` with ``RᵀR = DDᵀ``, so ``PᵀAᵀ = R⁻ᵀ (DAᵀ)`` where
    ``DDᵀ = UᵀCU + n m mᵀ`` and ``DAᵀ = UᵀC + n m mᵀ`` (C = scatter of A). Row signs
    of R differ from numpy's QR, which the absolute value removes.
    """
    from scipy.linalg import cho_factor, solve_triangular

    nmm = n * np.outer(mean, mean)
    G = u_side.T @ C @ u_side + nmm
    G = (G + G.T) / 2
    DA = u_side.T @ C + nmm
    try:
        L, _ = cho_factor(G, lower=True)
    except np.linalg.LinAlgError:
        raise InputError("PWCCA: the CCA directions are linearly dependent") from None
    proj = solve_triangular(L, DA, lower=True)
    w = np.abs(proj).sum(axis=1)
    return w / w.sum()


class _CCABase(Metric):
    symmetric: ClassVar[bool] = True
    higher_is_more_similar: ClassVar[bool] = True
    value_range: ClassVar[tuple[float, float] | None] = (0.0, 1.0)
    min_rows: ClassVar[int] = 3
    accepts_float32: ClassVar[bool] = True

    def accumulator(self) -> MomentsAccumulator:
        return MomentsAccumulator({"cross": "full"}, self._from_moments)

    def compute(self, X: np.ndarray, Y: np.ndarray) -> MetricResult:
        return self.accumulator().update(X, Y).result()

    def _from_moments(self, moments: Moments) -> MetricResult:
        c = moments.centered()
        if c.n < 3:
            raise InputError(f"{self.name} needs at least 3 rows, got {c.n}")
        return self._finish(c)

    def _finish(self, c: Centered) -> MetricResult:  # pragma: no cover
        raise NotImplementedError


def _summary(rho: np.ndarray) -> dict:
    return {
        "n_coefficients": int(rho.size),
        "coefficients": [float(r) for r in rho],
        "mean_threshold_98": float(np.mean(rho[: max(1, _sum_threshold(rho, 0.98))])),
    }


class CCA(_CCABase):
    """Mean canonical correlation (Google ``cca_core`` conventions; seed 001 §3).

    Parameters
    ----------
    squared : bool, default False
        Average ρ² instead of ρ (Kornblith et al.'s mean squared CCA, R²_CCA).
    epsilon : float, default 1e-10
        Variance cut-off and ridge on the rescaled covariances.
    """

    name: ClassVar[str] = "cca"
    summary: ClassVar[str] = "Mean canonical correlation (CCA, Google svcca conventions)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("squared", False, "average squared coefficients (R²_CCA)", type=bool),
        Param("epsilon", 1e-10, "variance cut-off / ridge on rescaled covariances",
              type=float),
    )
    invariances: ClassVar[frozenset[str]] = frozenset(
        {"orthogonal", "isotropic_scaling", "translation", "permutation", "invertible_linear",
         "neuron_affine", "joint_permutation", "row_permutation"}
    )

    def _finish(self, c: Centered) -> MetricResult:
        n = c.n
        res = cca_from_covariances(c.cxx / (n - 1), c.cyy / (n - 1), c.cxy / (n - 1), n,
                                   self.epsilon)
        rho = res["rho"]
        value = float(np.mean(rho**2)) if self.squared else float(np.mean(rho))
        return MetricResult(value=value, per_unit=rho, details={"n": int(n), **_summary(rho)})


class SVCCA(_CCABase):
    """SVCCA: CCA on the top ``dims`` SVD directions of each input (Raghu et al. 2017).

    Parameters
    ----------
    dims : int, default 20
        Principal directions kept per input (all if an input has fewer neurons).
    epsilon : float, default 1e-10
        As for ``cca``.
    """

    name: ClassVar[str] = "svcca"
    summary: ClassVar[str] = "SVCCA: mean CCA over the top SVD directions of each input"
    params: ClassVar[tuple[Param, ...]] = (
        Param("dims", 20, "number of SVD directions kept per input", type=int),
        Param("epsilon", 1e-10, "variance cut-off / ridge on rescaled covariances",
              type=float),
    )
    invariances: ClassVar[frozenset[str]] = frozenset(
        {"orthogonal", "isotropic_scaling", "translation", "permutation",
         "joint_permutation", "row_permutation"}
    )

    def _finish(self, c: Centered) -> MetricResult:
        if self.dims < 1:
            raise InputError(f"svcca: dims must be ≥ 1, got {self.dims}")
        n = c.n
        wx, Vx = np.linalg.eigh(c.cxx)
        wy, Vy = np.linalg.eigh(c.cyy)
        kx = min(self.dims, wx.size)
        ky = min(self.dims, wy.size)
        # Top principal directions (eigh sorts ascending).
        Px = Vx[:, ::-1][:, :kx]
        Py = Vy[:, ::-1][:, :ky]
        sxx = np.diag(np.maximum(wx[::-1][:kx], 0.0))
        syy = np.diag(np.maximum(wy[::-1][:ky], 0.0))
        sxy = Px.T @ c.cxy @ Py
        res = cca_from_covariances(sxx / (n - 1), syy / (n - 1), sxy / (n - 1), n,
                                   self.epsilon)
        rho = res["rho"]
        return MetricResult(
            value=float(np.mean(rho)),
            per_unit=rho,
            details={"n": int(n), "dims_x": kx, "dims_y": ky, **_summary(rho)},
        )


class PWCCA(_CCABase):
    """Projection-weighted CCA (Morcos et al. 2018; Google ``pwcca.compute_pwcca``).

    Parameters
    ----------
    epsilon : float, default 1e-10
        As for ``cca``.

    Notes
    -----
    Google's projection weights use uncentred activations and add the neuron means
    back to the directions, so PWCCA is *not* invariant to translation, rotation or
    neuron permutation of an input with non-zero means (only to isotropic scaling
    and to reordering the paired rows).
    """

    name: ClassVar[str] = "pwcca"
    summary: ClassVar[str] = "Projection-weighted CCA (Morcos et al. 2018)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("epsilon", 1e-10, "variance cut-off / ridge on rescaled covariances",
              type=float),
    )
    symmetric: ClassVar[bool] = False
    invariances: ClassVar[frozenset[str]] = frozenset({"isotropic_scaling", "row_permutation"})

    def _finish(self, c: Centered) -> MetricResult:
        n = c.n
        res = cca_from_covariances(c.cxx / (n - 1), c.cyy / (n - 1), c.cxy / (n - 1), n,
                                   self.epsilon)
        rho, x_idx, y_idx = res["rho"], res["x_idx"], res["y_idx"]
        if x_idx.sum() <= y_idx.sum():
            side, idx = "x", x_idx
            U = res["u"]
            C = c.cxx[np.ix_(idx, idx)]
            mean = c.mean_x[idx]
        else:
            side, idx = "y", y_idx
            U = res["vt"].T
            C = c.cyy[np.ix_(idx, idx)]
            mean = c.mean_y[idx]
        weights = _pwcca_weights(U, C, mean, n)
        value = float(np.sum(weights * rho))
        return MetricResult(
            value=value,
            per_unit=weights,
            details={"n": int(n), "weighted_side": side, "mean_cca": float(np.mean(rho)),
                     **_summary(rho)},
        )


@hookimpl
def register_metrics(register):
    register(CCA)
    register(SVCCA)
    register(PWCCA)
