"""Orthogonal Procrustes: a distance metric and an aligner (seed 002 §5.1).

Alignment: the orthogonal ``W`` minimising ``‖X W − Y‖_F`` (rows = items) is
``W = U Vᵀ`` with ``U Σ Vᵀ = SVD(Xᵀ Y)`` — the paper's ``W* = UVᵀ, UΣVᵀ = SVD(YXᵀ)``
in its column convention, and ``scipy.linalg.orthogonal_procrustes(X, Y)``.
With ``p ≠ q`` the aligner's map is a partial isometry (orthonormal columns or rows);
the distance zero-pads the narrower input to the common width (Williams et al. 2021),
which keeps it symmetric.

Distance: ``min_W ‖Xc W − Yc‖²_F = ‖Xc‖²_F + ‖Yc‖²_F − 2‖XcᵀYc‖_*`` (nuclear norm),
with each input optionally scaled to unit Frobenius norm first (the Procrustes shape
distance of Ding et al. 2021). Needs only ``XᵀX``-type moments, so it streams.

Iterative normalisation (Zhang et al. 2019): ``iternorm`` times {scale rows to unit
length; subtract the column mean}, then a final row normalisation.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Aligner, Metric, check_is_fitted
from interlingua.core.params import Param
from interlingua.core.result import MetricResult
from interlingua.plugins.similarity.moments import Moments, MomentsAccumulator
from interlingua.registry import hookimpl

__all__ = [
    "IdentityAligner",
    "ProcrustesAligner",
    "ProcrustesDistance",
    "iterative_normalization",
    "orthogonal_map",
]


def _unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    # A zero row stays zero instead of becoming NaN.
    norms[norms == 0] = 1.0
    return X / norms


def iterative_normalization(
    X: np.ndarray, steps: int, means: list[np.ndarray] | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Iterative normalisation of Zhang et al. (2019), as used in seed 002 §5.1.

    Parameters
    ----------
    X : ndarray (n, d)
        Rows to normalise.
    steps : int
        Number of {unit rows; centre columns} rounds; a final unit-row step follows
        (``steps=0`` is plain length normalisation).
    means : list of ndarray, optional
        Column means to subtract at each round instead of ``X``'s own, to replay a
        normalisation fitted on other rows (``transform`` of new rows).

    Returns
    -------
    Xn : ndarray
        Normalised rows.
    means : list of ndarray
        Column means subtracted at each round.
    """
    if steps < 0:
        raise InputError(f"iternorm must be ≥ 0, got {steps}")
    out = np.asarray(X, dtype=np.float64)
    used: list[np.ndarray] = []
    for i in range(steps):
        out = _unit_rows(out)
        mu = out.mean(axis=0) if means is None else means[i]
        out = out - mu
        used.append(mu)
    return _unit_rows(out), used


def orthogonal_map(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The (partial) orthogonal ``W`` (p×q) minimising ``‖X W − Y‖_F``."""
    u, _, vt = np.linalg.svd(X.T @ Y, full_matrices=False)
    return u @ vt


def _procrustes_from_moments(moments: Moments, center: bool, scale: bool) -> MetricResult:
    c = moments.centered()
    if center:
        cxy, nx2, ny2 = c.cxy, float(np.trace(c.cxx)), float(np.trace(c.cyy))
    else:
        # Uncentred second moments: add back n·m mᵀ.
        n = c.n
        cxy = c.cxy + n * np.outer(c.mean_x, c.mean_y)
        nx2 = float(np.trace(c.cxx)) + n * float(c.mean_x @ c.mean_x)
        ny2 = float(np.trace(c.cyy)) + n * float(c.mean_y @ c.mean_y)
    nuc = float(np.linalg.svd(cxy, compute_uv=False).sum())
    if scale:
        if not (nx2 > 0 and ny2 > 0):
            raise InputError(
                "Procrustes distance with scale=True is undefined: an input is constant"
                + (" (after centring)" if center else "")
            )
        sim = nuc / math.sqrt(nx2 * ny2)
        sq = 2.0 - 2.0 * sim
    else:
        sim = nuc / math.sqrt(nx2 * ny2) if nx2 > 0 and ny2 > 0 else float("nan")
        sq = nx2 + ny2 - 2.0 * nuc
    sq = max(sq, 0.0)  # rounding
    return MetricResult(
        value=math.sqrt(sq),
        details={"n": int(c.n), "squared_distance": sq, "nuclear_norm": nuc,
                 "similarity": sim},
    )


class ProcrustesDistance(Metric):
    """Orthogonal Procrustes distance ``min_W ‖X W − Y‖_F`` (seed 002 §5.1).

    Parameters
    ----------
    center : bool, default True
        Centre each input's columns first (then translation invariant).
    scale : bool, default True
        Scale each (centred) input to unit Frobenius norm first, so the value lies
        in [0, √2] and is invariant to isotropic scaling; ``details["similarity"]``
        is ``‖XᵀY‖_* / (‖X‖‖Y‖)`` in [0, 1].

    Notes
    -----
    ``value`` is the residual norm after the optimal orthogonal map (lower = more
    similar); ``details["squared_distance"]`` is its square, which for
    ``scale=True`` is Ding et al.'s (2021) ``2 − 2‖XᵀY‖_*``. Declared invariances
    hold for the defaults. float32 input is folded in float64 row blocks (no float64
    copy of the input): near 0 the square root amplifies any rounding of the
    products, so they stay in float64 (the float64 input's value to ~1e-12).
    """

    name: ClassVar[str] = "procrustes"
    summary: ClassVar[str] = "Orthogonal Procrustes distance (lower = more similar)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("center", True, "centre columns of each input first", type=bool),
        Param("scale", True, "scale each input to unit Frobenius norm first", type=bool),
    )
    symmetric: ClassVar[bool] = True
    higher_is_more_similar: ClassVar[bool] = False
    invariances: ClassVar[frozenset[str]] = frozenset(
        {"orthogonal", "isotropic_scaling", "translation", "permutation",
         "joint_permutation", "row_permutation"}
    )
    # [0, √2] with scale=True; unbounded above with scale=False.
    value_range: ClassVar[tuple[float, float] | None] = None
    min_rows: ClassVar[int] = 2
    accepts_float32: ClassVar[bool] = True

    def accumulator(self) -> MomentsAccumulator:
        center, scale = self.center, self.scale
        return MomentsAccumulator(
            {"cross": "full"}, lambda m: _procrustes_from_moments(m, center, scale)
        )

    def compute(self, X: np.ndarray, Y: np.ndarray) -> MetricResult:
        return self.accumulator().update(X, Y).result()


class ProcrustesAligner(Aligner):
    """Orthogonal Procrustes map from X's space to Y's (seed 002 §5.1).

    Parameters
    ----------
    iternorm : int, default 0
        Rounds of iterative normalisation (Zhang et al. 2019) applied to both sides
        before fitting; ``transform`` replays X's rounds with the fitted column means.
        0 = no normalisation at all.
    center : bool, default False
        Centre both sides (``transform`` maps ``(X − x̄) W + ȳ``).
    scale : bool, default False
        Also fit an isotropic scale ``s`` (``X W s``): similarity Procrustes.

    Attributes
    ----------
    W_ : ndarray (p, q)
        Orthogonal map (rows of X times ``W_`` land in Y's space).
    scale_ : float
        Fitted scale (1.0 unless ``scale=True``).
    mean_x_, mean_y_ : ndarray
        Centres (zeros unless ``center=True``).
    x_means_, y_means_ : list of ndarray
        Column means of the iterative-normalisation rounds.
    """

    name: ClassVar[str] = "procrustes"
    summary: ClassVar[str] = "Orthogonal Procrustes map (+ iterative normalisation)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("iternorm", 0, "rounds of iterative normalisation before fitting", type=int),
        Param("center", False, "centre both sides before fitting", type=bool),
        Param("scale", False, "also fit an isotropic scale", type=bool),
    )

    def _normalize(self, X: np.ndarray, means: list[np.ndarray] | None) -> tuple:
        if self.iternorm > 0:
            return iterative_normalization(X, self.iternorm, means)
        return X, []

    def fit(self, X, Y) -> ProcrustesAligner:
        if self.iternorm < 0:
            raise InputError(f"iternorm must be ≥ 0, got {self.iternorm}")
        X, Y = self._check_fit_inputs(X, Y)
        Xn, x_means = self._normalize(X, None)
        Yn, y_means = self._normalize(Y, None)
        mx = Xn.mean(axis=0) if self.center else np.zeros(Xn.shape[1])
        my = Yn.mean(axis=0) if self.center else np.zeros(Yn.shape[1])
        Xc, Yc = Xn - mx, Yn - my
        u, s, vt = np.linalg.svd(Xc.T @ Yc, full_matrices=False)
        W = u @ vt
        if self.scale:
            denom = float(np.sum(Xc * Xc))
            if denom == 0:
                raise InputError("cannot fit a scale: X is constant")
            sc = float(s.sum()) / denom
        else:
            sc = 1.0
        self.x_means_ = x_means
        self.y_means_ = y_means
        self.mean_x_ = mx
        self.mean_y_ = my
        self.scale_ = sc
        self.W_ = W
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = self._check_transform_input(X, self.n_features_in_)
        Xn, _ = self._normalize(X, self.x_means_)
        return (Xn - self.mean_x_) @ self.W_ * self.scale_ + self.mean_y_

    def transform_target(self, Y) -> np.ndarray:
        """Apply the target side's fitted normalisation to rows of Y's space."""
        check_is_fitted(self)
        Y = self._check_transform_input(Y, self.W_.shape[1])
        Yn, _ = self._normalize(Y, self.y_means_)
        return Yn


class IdentityAligner(Aligner):
    """No-op aligner (baseline): ``transform(X) = X``; needs p == q."""

    name: ClassVar[str] = "identity"
    summary: ClassVar[str] = "No-op aligner (baseline for cross-lingual retrieval)"
    params: ClassVar[tuple[Param, ...]] = ()

    def fit(self, X, Y) -> IdentityAligner:
        X, Y = self._check_fit_inputs(X, Y)
        if X.shape[1] != Y.shape[1]:
            raise InputError(
                f"identity aligner needs X and Y of equal width, got {X.shape[1]} and "
                f"{Y.shape[1]}"
            )
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self._check_transform_input(X, self.n_features_in_).copy()


@hookimpl
def register_metrics(register):
    register(ProcrustesDistance)


@hookimpl
def register_aligners(register):
    register(ProcrustesAligner)
    register(IdentityAligner)
