"""Trainers of the affective probe (seed 003 §4.3.2, eq. 1), one per backend.

* :func:`train_neurox_probe` — NeuroX's ``train_linear_regression_probe`` objective
  reproduced exactly: ``MSE + λ1 Σ|w| + λ2 √(Σ w²)`` (the L2 *norm*; the bias is not
  penalised), ``torch.nn.Linear`` seeded, Adam, mini-batches in row order, float32;
* :func:`train_sklearn_probe` — :class:`sklearn.linear_model.ElasticNet` for the
  paper's eq. 1 with the squared L2 term, ``(1/n)‖y − Xw − b‖² + λ1‖w‖₁ + λ2‖w‖²``
  (:func:`sklearn_penalty` converts λ1, λ2 to scikit-learn's ``alpha``, ``l1_ratio``).

The metric that uses them is :class:`~interlingua.plugins.affective.probe.AffectiveProbe`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def train_neurox_probe(
    X_train: np.ndarray,
    y_train: np.ndarray,
    *,
    lambda_l1: float = 0.001,
    lambda_l2: float = 0.001,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 0.001,
    seed: int = 0,
    threads: int = 1,
) -> tuple[np.ndarray, float]:
    """NeuroX's linear-regression probe objective, trained exactly as NeuroX 1.0.9 does.

    Loss per mini-batch: ``MSE + λ1 Σ|w| + λ2 √(Σ w²)`` over the weight matrix (not
    the bias); Adam (torch defaults except ``lr``); batches of consecutive rows, no
    shuffling; float32. The model is created right after ``torch.manual_seed(seed)``
    inside a forked RNG, so the global torch RNG is left untouched. ``threads`` torch
    threads are used while training (restored afterwards; 0 = leave torch's setting):
    a probe's mini-batch products are tiny, and one thread avoids thread-pool
    overhead, several times faster on a busy machine.

    Returns
    -------
    weights : ndarray of float32, shape (d,)
    bias : float
    """
    import torch

    X = np.ascontiguousarray(X_train, dtype=np.float32)
    y = np.ascontiguousarray(y_train, dtype=np.float32)
    previous_threads = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        return _train_neurox(X, y, lambda_l1, lambda_l2, epochs, batch_size, learning_rate, seed)
    finally:
        torch.set_num_threads(previous_threads)


def _train_neurox(
    X: np.ndarray, y: np.ndarray, lambda_l1: float, lambda_l2: float, epochs: int,
    batch_size: int, learning_rate: float, seed: int,
) -> tuple[np.ndarray, float]:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        linear = torch.nn.Linear(X.shape[1], 1)
        optimizer = torch.optim.Adam(linear.parameters(), lr=learning_rate)
        criterion = torch.nn.MSELoss()
        X_t = torch.from_numpy(X)
        y_t = torch.from_numpy(y)
        n = X.shape[0]
        for _ in range(epochs):
            for start in range(0, n, batch_size):
                inputs = X_t[start : start + batch_size]
                labels = y_t[start : start + batch_size]
                optimizer.zero_grad()
                # reshape(-1) == NeuroX's squeeze() except for a final batch of one row,
                # where it avoids a broadcasting warning (same value).
                outputs = linear(inputs).reshape(-1)
                weights = linear.weight
                loss = (
                    criterion(outputs, labels)
                    + lambda_l1 * torch.abs(weights).sum()
                    + lambda_l2 * torch.sqrt(torch.pow(weights, 2).sum())
                )
                loss.backward()
                optimizer.step()
        w = linear.weight.detach().numpy().reshape(-1).copy()
        b = float(linear.bias.detach().numpy()[0])
    return w, b


def sklearn_penalty(lambda_l1: float, lambda_l2: float) -> tuple[float, float]:
    """``(alpha, l1_ratio)`` of scikit-learn's ElasticNet for the paper's eq. 1."""
    alpha = lambda_l1 / 2.0 + lambda_l2
    return alpha, (lambda_l1 / 2.0) / alpha if alpha > 0 else 0.0


def train_sklearn_probe(
    X_train: np.ndarray,
    y_train: np.ndarray,
    *,
    lambda_l1: float = 0.001,
    lambda_l2: float = 0.001,
    max_iter: int = 10000,
    tol: float = 1e-6,
    seed: int = 0,
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Elastic net for ``(1/n)‖y − Xw − b‖² + λ1‖w‖₁ + λ2‖w‖²`` (see module notes)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNet, LinearRegression, Ridge

    alpha, l1_ratio = sklearn_penalty(lambda_l1, lambda_l2)
    info: dict[str, Any] = {"alpha": alpha, "l1_ratio": l1_ratio, "converged": True}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if alpha == 0:
            model = LinearRegression()
            info["estimator"] = "LinearRegression"
        elif lambda_l1 == 0:
            model = Ridge(alpha=X_train.shape[0] * lambda_l2)
            info["estimator"] = "Ridge"
            info["alpha"] = X_train.shape[0] * lambda_l2
        else:
            model = ElasticNet(
                alpha=alpha, l1_ratio=l1_ratio, max_iter=max_iter, tol=tol,
                random_state=seed, selection="cyclic",
            )
            info["estimator"] = "ElasticNet"
        model.fit(X_train, y_train)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        info["converged"] = False
    return np.asarray(model.coef_, dtype=np.float64).ravel(), float(model.intercept_), info


__all__ = ["sklearn_penalty", "train_neurox_probe", "train_sklearn_probe"]
