"""ANC — Average Neuron-wise Correlation (Del & Fishel, seed 001 §5, eq. 3–4).

For paired rows ``X`` (n×d) and ``Y`` (n×d) of the *same* model (neurons a priori
aligned across languages), ``r_i = Pearson(X[:, i], Y[:, i])`` and
``ANC = mean_i |r_i|``. A neuron that is constant in either input has no defined
correlation; like the authors' code it contributes ``r_i = 0`` and stays in the
denominator, and ``details["n_constant"]`` reports how many there were.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from interlingua.core.interfaces import Metric
from interlingua.core.params import Param
from interlingua.core.result import MetricResult
from interlingua.plugins.similarity.moments import Moments, MomentsAccumulator
from interlingua.registry import hookimpl

#: How many of the most and least correlated neurons ``details`` lists.
_TOP = 10


def _anc_from_moments(moments: Moments, absolute: bool) -> MetricResult:
    c = moments.centered()
    if c.n < 2:
        from interlingua.core.errors import InputError

        raise InputError(f"anc needs at least 2 paired rows, got {c.n}")
    var_x, var_y, cov = c.var_x, c.var_y, c.cov_xy_diag
    # A neuron is constant iff its min equals its max: exact, unlike a variance
    # threshold, and independent of how the rows were chunked.
    const_x = c.max_x == c.min_x
    const_y = c.max_y == c.min_y
    constant = const_x | const_y
    denom = np.sqrt(var_x * var_y)
    r = np.zeros_like(cov)
    ok = ~constant & (denom > 0)
    r[ok] = cov[ok] / denom[ok]
    # Rounding can push |r| a hair above 1.
    np.clip(r, -1.0, 1.0, out=r)
    value = float(np.mean(np.abs(r))) if absolute else float(np.mean(r))
    order = np.argsort(-np.abs(r), kind="stable")
    return MetricResult(
        value=value,
        per_unit=r,
        details={
            "n": int(c.n),
            "n_neurons": int(r.size),
            "n_constant": int(constant.sum()),
            "n_constant_x": int(const_x.sum()),
            "n_constant_y": int(const_y.sum()),
            "signed_mean": float(np.mean(r)),
            "absolute_mean": float(np.mean(np.abs(r))),
            "most_correlated": [int(i) for i in order[:_TOP]],
            "least_correlated": [int(i) for i in order[::-1][:_TOP]],
        },
    )


class ANC(Metric):
    """Average neuron-wise Pearson correlation between two languages (seed 001 §5).

    Parameters
    ----------
    absolute : bool, default True
        Average ``|r_i|`` (the paper's eq. 4); ``False`` gives the signed mean
        (also in the authors' repository).

    Notes
    -----
    ``per_unit`` holds the signed per-neuron correlations ``r_i``: the largest are
    the most language-neutral neurons, those near 0 the most language-specific
    (``details["most_correlated"]`` / ``["least_correlated"]`` list indices).
    Computed from streaming per-neuron moments, so ``stream`` over chunks gives the
    in-memory value to rounding. float32 input is folded in float64 row blocks (no
    float64 copy of the input; the same value as the float64 input to ~1e-12).
    """

    name: ClassVar[str] = "anc"
    summary: ClassVar[str] = "Average neuron-wise Pearson correlation (Del & Fishel 2022)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("absolute", True, "average |r| (True) or signed r (False)", type=bool),
    )
    symmetric: ClassVar[bool] = True
    higher_is_more_similar: ClassVar[bool] = True
    invariances: ClassVar[frozenset[str]] = frozenset(
        {"neuron_affine", "isotropic_scaling", "translation", "joint_permutation",
         "row_permutation"}
    )
    value_range: ClassVar[tuple[float, float] | None] = (-1.0, 1.0)
    min_rows: ClassVar[int] = 2
    same_dim: ClassVar[bool] = True
    accepts_float32: ClassVar[bool] = True

    def accumulator(self) -> MomentsAccumulator:
        absolute = self.absolute
        return MomentsAccumulator(
            {"cross": "diag", "extrema": True},
            lambda m: _anc_from_moments(m, absolute),
            same_dim=True,
        )

    def compute(self, X: np.ndarray, Y: np.ndarray) -> MetricResult:
        return self.accumulator().update(X, Y).result()


@hookimpl
def register_metrics(register):
    register(ANC)
