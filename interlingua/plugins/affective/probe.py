"""Affective probe: linear regression from activations to a continuous norm (seed 003 §4.3).

A probe predicts a word's rating (valence, arousal, any continuous norm) from the
activation of the word in context. Following seed 003 §4.3.1–4.3.3:

1. activations are standardized per neuron (mean 0, sd 1) so probe weights are
   comparable across neurons;
2. a linear probe with elastic-net regularisation (λ1 = λ2 = 0.001) is trained on a
   seeded 80 % split and evaluated by the Pearson r between predictions and ratings on
   the remaining 20 %;
3. neurons are ranked by the absolute value of their weight; the top 100 are kept.

Two backends (``backend="sklearn"`` is the default: deterministic, converged, fast;
``backend="neurox", learning_rate=1e-5, epochs=500`` reproduces the authors' runs):

``neurox``
    NeuroX's ``train_linear_regression_probe`` objective reproduced exactly:
    ``MSE + λ1 Σ|w| + λ2 √(Σ w²)`` (the L2 *norm*, not its square, as in NeuroX's
    ``l2_penalty``; the bias is not penalised), a ``torch.nn.Linear`` initialised
    under ``torch.manual_seed(seed)``, Adam with default betas, mini-batches in row
    order without shuffling, float32. Given the same seed and training rows in the
    same order, the weights equal NeuroX's. Defaults are NeuroX's (lr 1e-3, 10 epochs,
    batch 32); the authors of seed 003 used ``learning_rate=1e-5, epochs=500``.
``sklearn``
    :class:`sklearn.linear_model.ElasticNet` minimising the paper's eq. 1 with the
    *squared* L2 term: ``(1/n)‖y − Xw − b‖² + λ1‖w‖₁ + λ2‖w‖²``. Halving it gives
    scikit-learn's objective ``(1/2n)‖·‖² + α ρ‖w‖₁ + α(1−ρ)/2 ‖w‖²`` with
    ``α = λ1/2 + λ2`` and ``ρ = (λ1/2)/α`` (λ1 = λ2 = 0.001 → α = 0.0015, ρ = 1/3).
    ``λ1 = 0`` uses :class:`~sklearn.linear_model.Ridge` (``alpha = n λ2``) and
    ``λ1 = λ2 = 0`` ordinary least squares. Deterministic and much faster.

The trainers are in :mod:`.probe_backends` (re-exported here).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.params import Param
from interlingua.core.result import MetricResult
from interlingua.core.validation import check_regression
from interlingua.plugins.affective.probe_backends import (
    sklearn_penalty,
    train_neurox_probe,
    train_sklearn_probe,
)
from interlingua.registry import hookimpl

STANDARDIZE_CHOICES = ("train", "separate", "none")


# -- neuron rankings ------------------------------------------------------------------------
def neuron_ordering(weights: Any) -> np.ndarray:
    """Neuron indices sorted by decreasing ``|w|`` (ties: lower index first)."""
    w = np.abs(np.asarray(weights, dtype=np.float64).ravel())
    return np.argsort(-w, kind="stable")


def top_neurons(weights: Any, k: int = 100) -> np.ndarray:
    """The ``k`` neurons with the largest ``|w|`` (seed 003 §4.3.3), best first."""
    if k < 1:
        raise InputError(f"top_k must be at least 1, got {k}")
    return neuron_ordering(weights)[:k]


def cumulative_mass(weights: Any) -> tuple[np.ndarray, np.ndarray]:
    """NeuroX-style ordering: neurons by decreasing ``|w|`` and the cumulative share of
    the total absolute weight mass they account for (last entry = 1)."""
    w = np.abs(np.asarray(weights, dtype=np.float64).ravel())
    order = neuron_ordering(w)
    total = w.sum()
    cum = np.cumsum(w[order]) / total if total > 0 else np.zeros(w.size)
    return order, cum


def mass_top_neurons(weights: Any, mass: float = 0.5) -> np.ndarray:
    """Smallest prefix of the ordering holding at least ``mass`` of the weight mass.

    Same selection as NeuroX's ``get_top_neurons(probe, percentage)`` for one output
    (Dalvi et al. 2019): neurons up to and including the first whose cumulative
    absolute weight reaches ``mass * total``.
    """
    if not 0.0 <= mass <= 1.0:
        raise InputError(f"mass must be in [0, 1], got {mass}")
    w = np.abs(np.asarray(weights, dtype=np.float64).ravel())
    order = neuron_ordering(w)
    cum = np.cumsum(w[order])
    reached = np.flatnonzero(cum >= w.sum() * mass)
    if reached.size == 0:
        return order
    return order[: reached[0] + 1]


# -- standardization and split -------------------------------------------------------------
def _moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means, sds (ddof=0 like the authors' ``np.std``) and a constant-column mask."""
    mean = X.mean(axis=0)
    sd = X.std(axis=0)
    # Relative threshold: a column whose spread is rounding noise is constant.
    constant = sd <= 1e-12 * np.maximum(1.0, np.abs(mean))
    return mean, np.where(constant, 1.0, sd), constant


def standardize_split(
    X_train: np.ndarray, X_test: np.ndarray, mode: str = "train"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardize per neuron; returns ``(train, test, constant_mask)``.

    ``mode="train"`` uses train statistics for both parts (no test information leaks
    into training: the sound default); ``"separate"`` standardizes each part with its
    own statistics (the authors' released code); ``"none"`` only zeroes constant
    neurons. Neurons constant in the training part (or in either part for
    ``"separate"``) are set to 0 everywhere, so nothing is ever divided by zero.
    """
    if mode not in STANDARDIZE_CHOICES:
        raise InputError(f"standardize must be one of {STANDARDIZE_CHOICES}, got {mode!r}")
    mean, sd, constant = _moments(X_train)
    if mode == "train":
        Xtr, Xte = (X_train - mean) / sd, (X_test - mean) / sd
    elif mode == "separate":
        mean_te, sd_te, constant_te = _moments(X_test)
        constant = constant | constant_te
        Xtr, Xte = (X_train - mean) / sd, (X_test - mean_te) / sd_te
    else:
        Xtr, Xte = X_train.copy(), X_test.copy()
    Xtr[:, constant] = 0.0
    Xte[:, constant] = 0.0
    return Xtr, Xte, constant


def split_rows(
    n: int,
    *,
    test_size: float = 0.2,
    seed: int = 0,
    groups: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test split of ``n`` rows; returns ``(train_rows, test_rows)``.

    Without ``groups``: a random permutation, the first ``round(test_size * n)`` rows
    go to test. With ``groups`` (e.g. the target word of each sentence): whole groups
    go to one side, so the same word never appears in both (no lexical leakage).
    Training rows are returned in the permuted order (mini-batch SGD sees a shuffled
    sequence); test rows are sorted.
    """
    if not 0.0 < test_size < 1.0:
        raise InputError(f"test_size must be strictly between 0 and 1, got {test_size}")
    rng = np.random.default_rng(seed)
    if groups is None:
        perm = rng.permutation(n)
        n_test = round(test_size * n)
        test, train = np.sort(perm[:n_test]), perm[n_test:]
    else:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise InputError(f"groups must have one entry per row ({n}), got {groups.shape}")
        uniq, inverse = np.unique(groups, return_inverse=True)
        if uniq.size < 2:
            raise InputError("a grouped split needs at least 2 distinct groups")
        order = rng.permutation(uniq.size)
        n_test_groups = min(uniq.size - 1, max(1, round(test_size * uniq.size)))
        is_test = np.zeros(uniq.size, dtype=bool)
        is_test[order[:n_test_groups]] = True
        test = np.flatnonzero(is_test[inverse])
        train = rng.permutation(np.flatnonzero(~is_test[inverse]))
    return train, test


def _pearson(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Pearson r and two-sided p; NaN when either side is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan, math.nan
    from scipy import stats

    r, p = stats.pearsonr(a, b)
    return float(r), float(p)


class AffectiveProbe(Metric):
    """Elastic-net linear probe of a continuous norm (seed 003 §4.3).

    ``m(X, y)`` with ``X`` (rows = word occurrences in context, columns = neurons)
    and ``y`` the rating of each row. Optional keyword arguments: ``groups`` (one
    label per row, e.g. the word; whole groups go to train or test) and
    ``test_rows`` (explicit test row indices or boolean mask; overrides the split).

    ``value`` is the Pearson r between predictions and ratings on the test rows
    (``pvalue`` its two-sided p-value), ``per_unit`` the probe weights (one per
    neuron, in standardized units). ``details`` has ``top_neurons`` (top ``top_k`` by
    ``|w|``), ``ordering`` and ``cumulative_mass`` (NeuroX-style ranking),
    ``mass_neurons`` (smallest prefix holding ``mass`` of the weight mass),
    ``constant_neurons`` (zero-variance neurons: set to 0, weight 0), train/test
    sizes and scores, the intercept and backend information.
    """

    name: ClassVar[str] = "affective-probe"
    summary: ClassVar[str] = (
        "Elastic-net linear probe of a continuous norm; value = test Pearson r (seed 003)"
    )
    input_kind: ClassVar[str] = "probe"
    symmetric: ClassVar[bool] = False
    higher_is_more_similar: ClassVar[bool] = True
    value_range: ClassVar[tuple[float, float] | None] = (-1.0, 1.0)
    min_rows: ClassVar[int] = 10
    # With standardization (the default) the input is reduced to z-scores first; with
    # ``standardize="none"`` these invariances do not hold.
    invariances: ClassVar[frozenset[str]] = frozenset(
        {"neuron_affine", "translation", "isotropic_scaling"}
    )
    params: ClassVar[tuple[Param, ...]] = (
        Param("backend", "sklearn",
              "probe trainer: sklearn ElasticNet (eq. 1) or the exact NeuroX objective (torch)",
              type=str, choices=("sklearn", "neurox")),
        Param("lambda_l1", 0.001, "L1 penalty weight λ1", type=float),
        Param("lambda_l2", 0.001, "L2 penalty weight λ2 (NeuroX: on the norm √Σw²)",
              type=float),
        Param("learning_rate", 0.001, "Adam learning rate (neurox; the authors used 1e-5)",
              type=float),
        Param("epochs", 10, "training epochs (neurox; the authors used 500)", type=int),
        Param("batch_size", 32, "mini-batch size (neurox)", type=int),
        Param("threads", 1, "torch threads while training (neurox; 0 = torch's setting)",
              type=int),
        Param("max_iter", 10000, "coordinate-descent iterations (sklearn)", type=int),
        Param("tol", 1e-6, "coordinate-descent tolerance (sklearn)", type=float),
        Param("standardize", "train",
              "per-neuron standardization: train stats | separate (authors) | none",
              type=str, choices=STANDARDIZE_CHOICES),
        Param("test_size", 0.2, "share of rows (or groups) held out for testing", type=float),
        Param("seed", 0, "seed of the split and of the probe initialisation", type=int),
        Param("top_k", 100, "number of top neurons by |w| reported", type=int),
        Param("mass", 0.5, "weight-mass share for the NeuroX-style neuron selection",
              type=float),
    )

    def compute(
        self, X: Any, y: Any, *, groups: Any = None, test_rows: Any = None
    ) -> MetricResult:
        X, y = check_regression(X, y, min_rows=self.min_rows)
        n, d = X.shape
        for name in ("epochs", "batch_size", "top_k", "max_iter"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lambda_l1 < 0 or self.lambda_l2 < 0:
            raise InputError("penalty weights must be non-negative")

        if test_rows is not None:
            test = np.asarray(test_rows)
            if test.dtype == bool:
                if test.shape != (n,):
                    raise InputError(f"boolean test_rows must have {n} entries")
                test = np.flatnonzero(test)
            test = np.unique(test.astype(np.int64))
            if test.size and (test[0] < 0 or test[-1] >= n):
                raise InputError(f"test_rows must be in [0, {n})")
            train = np.setdiff1d(np.arange(n), test)
        else:
            train, test = split_rows(n, test_size=self.test_size, seed=self.seed, groups=groups)
        if test.size < 3 or train.size < 2:
            raise InputError(
                f"split gives {train.size} training and {test.size} test rows; "
                "need at least 2 and 3"
            )

        Xtr, Xte, constant = standardize_split(X[train], X[test], self.standardize)
        ytr, yte = y[train], y[test]
        details: dict[str, Any] = {"backend": self.backend}
        if self.backend == "neurox":
            w32, bias = train_neurox_probe(
                Xtr, ytr, lambda_l1=self.lambda_l1, lambda_l2=self.lambda_l2,
                epochs=self.epochs, batch_size=self.batch_size,
                learning_rate=self.learning_rate, seed=self.seed, threads=self.threads,
            )
            weights = w32.astype(np.float64)
            details["objective"] = "MSE + l1*sum|w| + l2*sqrt(sum w^2) (NeuroX)"
        else:
            weights, bias, info = train_sklearn_probe(
                Xtr, ytr, lambda_l1=self.lambda_l1, lambda_l2=self.lambda_l2,
                max_iter=self.max_iter, tol=self.tol, seed=self.seed,
            )
            details.update(info)
            details["objective"] = "(1/n)|y-Xw-b|^2 + l1*|w|_1 + l2*|w|_2^2 (seed 003 eq. 1)"
        # Constant neurons carry no signal (their column is all zeros); give them
        # weight 0 so leftover initial weights cannot enter the ranking.
        weights[constant] = 0.0
        pred_te = Xte @ weights + bias
        pred_tr = Xtr @ weights + bias
        r, p = _pearson(pred_te, yte)
        r_train, _ = _pearson(pred_tr, ytr)
        if math.isnan(r):
            details["warning"] = "test predictions are constant; Pearson r is undefined"
        mse = float(np.mean((pred_te - yte) ** 2))
        ss_tot = float(np.sum((yte - yte.mean()) ** 2))
        r2 = 1.0 - float(np.sum((pred_te - yte) ** 2)) / ss_tot if ss_tot > 0 else math.nan

        order, cum = cumulative_mass(weights)
        details.update(
            {
                "r_test": r,
                "r_train": r_train,
                "mse_test": mse,
                "r2_test": r2,
                "n_train": int(train.size),
                "n_test": int(test.size),
                "n_neurons": int(d),
                "intercept": bias,
                "top_k": int(min(self.top_k, d)),
                "top_neurons": order[: min(self.top_k, d)].tolist(),
                "ordering": order.tolist(),
                "cumulative_mass": cum.tolist(),
                "mass_neurons": mass_top_neurons(weights, self.mass).tolist(),
                "constant_neurons": np.flatnonzero(constant).tolist(),
                "n_constant_neurons": int(constant.sum()),
                "standardize": self.standardize,
                "grouped_split": groups is not None and test_rows is None,
                "test_rows": test.tolist(),
            }
        )
        return MetricResult(value=r, per_unit=weights, pvalue=None if math.isnan(p) else p,
                            details=details)


@hookimpl
def register_metrics(register: Any) -> None:
    register(AffectiveProbe)


__all__ = ["STANDARDIZE_CHOICES", "AffectiveProbe", "cumulative_mass", "mass_top_neurons",
           "neuron_ordering", "sklearn_penalty", "split_rows", "standardize_split",
           "top_neurons", "train_neurox_probe", "train_sklearn_probe"]
