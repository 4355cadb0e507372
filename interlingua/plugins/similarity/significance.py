"""Significance and uncertainty for any paired metric.

* **Permutation test** — the null hypothesis is "the pairing carries no
  information": shuffle the rows of ``Y`` against ``X`` (``scipy.stats.
  permutation_test`` with ``permutation_type="pairings"``), recompute the metric
  ``n_permutations`` times and report the one-sided p-value in the metric's
  similarity direction, ``(1 + #{null at least as similar}) / (1 + n_permutations)``
  (exact enumeration when n! ≤ ``n_permutations``).
* **Bootstrap** — resample the paired rows with replacement (``scipy.stats.
  bootstrap``, percentile interval by default) → confidence interval.

Both are seeded (``seed``) and work for any metric with ``input_kind == "paired"``.
For large inputs pass a subsample: every resample recomputes the metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.result import MetricResult
from interlingua.core.validation import check_paired

__all__ = [
    "BootstrapResult",
    "PermutationResult",
    "bootstrap_ci",
    "permutation_test",
    "with_significance",
]


@dataclass
class PermutationResult:
    """Outcome of :func:`permutation_test`."""

    observed: float
    pvalue: float
    null: np.ndarray = field(repr=False)
    alternative: str = "greater"
    n_permutations: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"observed": self.observed, "pvalue": self.pvalue,
                "alternative": self.alternative, "n_permutations": self.n_permutations,
                "null_mean": float(np.mean(self.null)), "null_std": float(np.std(self.null))}


@dataclass
class BootstrapResult:
    """Outcome of :func:`bootstrap_ci`."""

    observed: float
    ci: tuple[float, float]
    standard_error: float
    level: float
    n_bootstrap: int
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {"observed": self.observed, "ci": list(self.ci),
                "standard_error": self.standard_error, "level": self.level,
                "n_bootstrap": self.n_bootstrap, "method": self.method}


def _check(metric: Metric, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    if getattr(metric, "input_kind", None) != "paired":
        raise InputError(
            f"significance tests need a paired metric; {getattr(metric, 'name', metric)!r} "
            f"takes {getattr(metric, 'input_kind', '?')} inputs"
        )
    return check_paired(X, Y, min_rows=max(2, int(metric.min_rows)), same_dim=metric.same_dim)


def permutation_test(
    metric: Metric,
    X: Any,
    Y: Any,
    *,
    n_permutations: int = 1000,
    seed: int = 0,
    alternative: str | None = None,
) -> PermutationResult:
    """Permutation test of the pairing of ``X`` and ``Y`` rows.

    Parameters
    ----------
    metric : Metric
        A paired metric instance.
    X, Y : array-like (n, p), (n, q)
        Paired rows.
    n_permutations : int
        Random shuffles of ``Y``'s rows.
    seed : int
        Seed of the shuffles.
    alternative : {"greater", "less", "two-sided"}, optional
        Default: ``"greater"`` if the metric's higher values mean more similar,
        else ``"less"``.

    Returns
    -------
    PermutationResult
    """
    from scipy.stats import permutation_test as scipy_permutation_test

    X, Y = _check(metric, X, Y)
    if n_permutations < 1:
        raise InputError(f"n_permutations must be ≥ 1, got {n_permutations}")
    if alternative is None:
        alternative = "greater" if metric.higher_is_more_similar else "less"
    if alternative not in ("greater", "less", "two-sided"):
        raise InputError(f"alternative must be greater, less or two-sided, got {alternative!r}")

    def statistic(idx: np.ndarray) -> float:
        return metric(X, Y[np.asarray(idx, dtype=np.int64)]).value

    res = scipy_permutation_test(
        (np.arange(X.shape[0]),), statistic, permutation_type="pairings",
        vectorized=False, n_resamples=n_permutations, alternative=alternative,
        rng=np.random.default_rng(seed),
    )
    return PermutationResult(
        observed=float(res.statistic), pvalue=float(res.pvalue),
        null=np.asarray(res.null_distribution, dtype=np.float64), alternative=alternative,
        n_permutations=int(np.size(res.null_distribution)),
    )


def bootstrap_ci(
    metric: Metric,
    X: Any,
    Y: Any,
    *,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    method: str = "percentile",
) -> BootstrapResult:
    """Bootstrap confidence interval of a paired metric (rows resampled jointly).

    Parameters
    ----------
    metric : Metric
        A paired metric instance.
    X, Y : array-like
        Paired rows.
    n_bootstrap : int
        Number of resamples.
    level : float
        Confidence level, e.g. 0.95.
    seed : int
        Seed of the resampling.
    method : {"percentile", "basic", "BCa"}
        Interval type of ``scipy.stats.bootstrap`` (BCa adds n jackknife evaluations).
    """
    from scipy.stats import bootstrap as scipy_bootstrap

    X, Y = _check(metric, X, Y)
    if n_bootstrap < 2:
        raise InputError(f"n_bootstrap must be ≥ 2, got {n_bootstrap}")
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), got {level}")
    if method not in ("percentile", "basic", "BCa"):
        raise InputError(f"method must be percentile, basic or BCa, got {method!r}")

    def statistic(idx: np.ndarray) -> float:
        idx = np.asarray(idx, dtype=np.int64)
        return metric(X[idx], Y[idx]).value

    observed = metric(X, Y).value
    res = scipy_bootstrap(
        (np.arange(X.shape[0]),), statistic, n_resamples=n_bootstrap, vectorized=False,
        confidence_level=level, method=method, rng=np.random.default_rng(seed),
    )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return BootstrapResult(observed=observed, ci=(low, high),
                           standard_error=float(res.standard_error), level=level,
                           n_bootstrap=n_bootstrap, method=method)


def with_significance(
    metric: Metric,
    X: Any,
    Y: Any,
    *,
    n_permutations: int = 0,
    n_bootstrap: int = 0,
    seed: int = 0,
    level: float = 0.95,
    result: MetricResult | None = None,
) -> MetricResult:
    """``metric(X, Y)`` with ``pvalue`` (permutation test) and ``ci`` (bootstrap) filled.

    ``result`` may be a precomputed value on *all* rows (e.g. streamed) while ``X``,
    ``Y`` are a subsample used for the resampling; details record both sizes.
    """
    out = result if result is not None else metric(X, Y)
    if n_permutations > 0:
        perm = permutation_test(metric, X, Y, n_permutations=n_permutations, seed=seed)
        out.pvalue = perm.pvalue
        out.details["permutation"] = {**perm.to_dict(), "rows": int(np.shape(X)[0])}
    if n_bootstrap > 0:
        boot = bootstrap_ci(metric, X, Y, n_bootstrap=n_bootstrap, level=level, seed=seed)
        out.ci = boot.ci
        out.details["bootstrap"] = {**boot.to_dict(), "rows": int(np.shape(X)[0])}
    return out
