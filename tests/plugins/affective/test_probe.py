"""Affective probe: planted-neuron recovery, both backends, exact NeuroX equivalence."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from scipy import stats

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.plugins.affective.probe import (
    AffectiveProbe,
    cumulative_mass,
    mass_top_neurons,
    neuron_ordering,
    sklearn_penalty,
    split_rows,
    standardize_split,
    top_neurons,
    train_neurox_probe,
    train_sklearn_probe,
)

PLANTED = [4, 17, 33, 52, 60]


def planted_data(n=800, d=64, seed=0, noise=0.3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, d) + rng.normal(size=d) * 5
    Z = (X - X.mean(0)) / X.std(0)
    w = np.zeros(d)
    w[PLANTED] = [1.0, -0.9, 0.8, -0.7, 0.6]
    y = Z @ w + noise * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize(
    "params",
    [
        {"backend": "sklearn"},
        {"backend": "neurox", "learning_rate": 0.01, "epochs": 15},
    ],
)
def test_planted_neurons_recovered_by_top_k(params):
    X, y = planted_data()
    res = AffectiveProbe(top_k=5, **params)(X, y)
    assert set(res.details["top_neurons"]) == set(PLANTED)
    assert res.value > 0.9
    assert res.per_unit.shape == (64,)
    assert res.details["n_train"] == 640 and res.details["n_test"] == 160
    # signs follow the planted weights
    assert np.sign(res.per_unit[PLANTED]).tolist() == [1, -1, 1, -1, 1]


def test_value_is_pearson_r_on_the_test_rows():
    X, y = planted_data(seed=1)
    res = AffectiveProbe()(X, y)
    test = np.array(res.details["test_rows"])
    train = np.setdiff1d(np.arange(len(y)), test)
    mu, sd = X[train].mean(0), X[train].std(0)
    pred = ((X[test] - mu) / sd) @ res.per_unit + res.details["intercept"]
    r, p = stats.pearsonr(pred, y[test])
    assert res.value == pytest.approx(r, abs=1e-12)
    assert res.pvalue == pytest.approx(p, rel=1e-9)


def test_sklearn_backend_minimises_paper_equation_1():
    """The sklearn solution is a stationary point of (1/n)|r|^2 + l1|w|_1 + l2|w|^2."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 10))
    y = X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.normal(size=300)
    l1, l2 = 0.05, 0.02
    w, b, info = train_sklearn_probe(X, y, lambda_l1=l1, lambda_l2=l2, tol=1e-12)
    assert info["converged"]
    resid = y - X @ w - b
    grad_smooth = -2.0 / len(y) * X.T @ resid + 2 * l2 * w
    active = w != 0
    # KKT: on the support, smooth gradient = -l1 * sign(w); off it, |grad| <= l1
    np.testing.assert_allclose(grad_smooth[active], -l1 * np.sign(w[active]), atol=1e-7)
    assert np.all(np.abs(grad_smooth[~active]) <= l1 + 1e-7)
    assert abs(resid.mean()) < 1e-10
    alpha, ratio = sklearn_penalty(0.001, 0.001)
    assert alpha == pytest.approx(0.0015) and ratio == pytest.approx(1 / 3)


def test_sklearn_special_cases_ridge_and_ols():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 5))
    y = X @ np.arange(1, 6) + rng.normal(size=100)
    w, _, info = train_sklearn_probe(X, y, lambda_l1=0.0, lambda_l2=0.0)
    assert info["estimator"] == "LinearRegression"
    ref = np.linalg.lstsq(np.c_[X, np.ones(100)], y, rcond=None)[0]
    np.testing.assert_allclose(w, ref[:5], atol=1e-10)
    w, _, info = train_sklearn_probe(X, y, lambda_l1=0.0, lambda_l2=0.1)
    assert info["estimator"] == "Ridge"
    # closed form of (1/n)|y - Xw - b|^2 + l2 |w|^2
    Xc, yc = X - X.mean(0), y - y.mean()
    ridge = np.linalg.solve(Xc.T @ Xc + 100 * 0.1 * np.eye(5), Xc.T @ yc)
    np.testing.assert_allclose(w, ridge, atol=1e-10)


def test_neurox_backend_objective_and_determinism():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(90, 6)).astype(np.float32)
    y = (X[:, 0] * 0.5).astype(np.float32)
    w1, b1 = train_neurox_probe(X, y, epochs=3, batch_size=16, seed=3)
    w2, b2 = train_neurox_probe(X, y, epochs=3, batch_size=16, seed=3)
    w3, _ = train_neurox_probe(X, y, epochs=3, batch_size=16, seed=4)
    assert np.array_equal(w1, w2) and b1 == b2
    assert not np.array_equal(w1, w3)
    assert w1.dtype == np.float32
    # the global torch RNG is not touched
    import torch

    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    train_neurox_probe(X, y, epochs=1, seed=9)
    assert torch.equal(before, torch.rand(3))


def _import_neurox_probe(monkeypatch):
    """Import NeuroX's linear_probe; shim what its --no-deps install lacks (tests only)."""
    pytest.importorskip("neurox")
    try:
        import imblearn.under_sampling  # noqa: F401
    except Exception:
        # NeuroX's utils imports imblearn's RandomUnderSampler at module level, but the
        # probe functions never use it; imblearn may be broken without sklearn_compat.
        fake = types.ModuleType("imblearn")
        sub = types.ModuleType("imblearn.under_sampling")
        sub.RandomUnderSampler = object
        fake.under_sampling = sub
        monkeypatch.setitem(sys.modules, "imblearn", fake)
        monkeypatch.setitem(sys.modules, "imblearn.under_sampling", sub)
        for name in [m for m in sys.modules if m.startswith("neurox.interpretation")]:
            monkeypatch.delitem(sys.modules, name)
    if not hasattr(np, "int"):
        monkeypatch.setattr(np, "int", int, raising=False)
    try:
        from neurox.interpretation import linear_probe
    except Exception as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"neurox.interpretation.linear_probe not importable: {exc}")
    return linear_probe


@pytest.mark.parametrize(("n", "batch"), [(101, 16), (64, 32)])
def test_neurox_objective_equals_neurox_training(monkeypatch, capsys, n, batch):
    linear_probe = _import_neurox_probe(monkeypatch)
    import torch

    rng = np.random.default_rng(5)
    X = rng.normal(size=(n, 12)).astype(np.float32)
    y = (X[:, 0] - 0.5 * X[:, 3] + 0.1 * rng.normal(size=n)).astype(np.float32)
    kw = {"lambda_l1": 0.001, "lambda_l2": 0.001, "batch_size": batch, "learning_rate": 0.01}
    torch.manual_seed(7)
    probe = linear_probe.train_linear_regression_probe(X, y, num_epochs=6, **kw)
    ours_w, ours_b = train_neurox_probe(X, y, epochs=6, seed=7, **kw)
    theirs = probe.linear.weight.detach().numpy().ravel()
    np.testing.assert_array_equal(ours_w, theirs)
    assert ours_b == pytest.approx(probe.linear.bias.item(), abs=0)
    capsys.readouterr()


def test_metric_neurox_backend_matches_neurox_on_same_split(monkeypatch, capsys):
    linear_probe = _import_neurox_probe(monkeypatch)
    import torch

    X, y = planted_data(n=200, d=64, seed=6)
    metric = AffectiveProbe(backend="neurox", epochs=3, learning_rate=0.01, seed=11)
    res = metric(X, y)
    train, test = split_rows(200, test_size=0.2, seed=11)
    Xtr, _, _ = standardize_split(X[train], X[test], "train")
    torch.manual_seed(11)
    probe = linear_probe.train_linear_regression_probe(
        Xtr.astype(np.float32), y[train].astype(np.float32), lambda_l1=0.001,
        lambda_l2=0.001, num_epochs=3, batch_size=32, learning_rate=0.01,
    )
    np.testing.assert_array_equal(
        res.per_unit, probe.linear.weight.detach().numpy().ravel().astype(np.float64)
    )
    capsys.readouterr()


def test_constant_neurons_handled_and_reported():
    X, y = planted_data(n=300, d=64, seed=7)
    X[:, 5] = 3.0
    X[:, 9] = 0.0
    for backend, extra in (("sklearn", {}), ("neurox", {"epochs": 2})):
        res = AffectiveProbe(backend=backend, **extra)(X, y)
        assert np.isfinite(res.value)
        assert res.details["constant_neurons"] == [5, 9]
        assert res.details["n_constant_neurons"] == 2
        assert res.per_unit[5] == 0.0 and res.per_unit[9] == 0.0
        assert np.all(np.isfinite(res.per_unit))
    Xtr, Xte, const = standardize_split(X[:200], X[200:], "separate")
    assert const[[5, 9]].all() and np.isfinite(Xtr).all() and np.isfinite(Xte).all()


def test_standardization_modes():
    rng = np.random.default_rng(8)
    A, B = rng.normal(3, 2, size=(50, 4)), rng.normal(5, 4, size=(30, 4))
    tr, te, _ = standardize_split(A, B, "train")
    np.testing.assert_allclose(tr.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(tr.std(0), 1)
    np.testing.assert_allclose(te, (B - A.mean(0)) / A.std(0))
    tr, te, _ = standardize_split(A, B, "separate")
    np.testing.assert_allclose(te.std(0), 1)
    tr, te, _ = standardize_split(A, B, "none")
    np.testing.assert_array_equal(tr, A)
    with pytest.raises(InputError, match="standardize"):
        standardize_split(A, B, "both")


def test_grouped_split_keeps_words_apart():
    words = np.repeat([f"w{i}" for i in range(40)], 5)
    train, test = split_rows(200, test_size=0.2, seed=0, groups=words)
    assert set(words[train]).isdisjoint(words[test])
    assert len(test) == 40
    assert sorted(np.r_[train, test].tolist()) == list(range(200))
    X, y = planted_data(n=200, d=64, seed=9)
    res = AffectiveProbe()(X, y, groups=words)
    assert res.details["grouped_split"]
    assert set(words[res.details["test_rows"]]).isdisjoint(
        words[np.setdiff1d(np.arange(200), res.details["test_rows"])]
    )


def test_explicit_test_rows():
    X, y = planted_data(n=100, d=64, seed=10)
    mask = np.zeros(100, dtype=bool)
    mask[::4] = True
    a = AffectiveProbe()(X, y, test_rows=mask)
    b = AffectiveProbe()(X, y, test_rows=np.flatnonzero(mask))
    assert a.details["test_rows"] == list(range(0, 100, 4))
    assert a.value == b.value


def test_split_is_seeded():
    a, b = split_rows(50, seed=1), split_rows(50, seed=1)
    c = split_rows(50, seed=2)
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[1], c[1])


def test_rankings():
    w = np.array([0.1, -0.5, 0.0, 0.3, -0.1])
    assert neuron_ordering(w).tolist() == [1, 3, 0, 4, 2]  # ties keep index order
    assert top_neurons(w, 2).tolist() == [1, 3]
    _, cum = cumulative_mass(w)
    np.testing.assert_allclose(cum, np.cumsum([0.5, 0.3, 0.1, 0.1, 0.0]) / 1.0)
    assert mass_top_neurons(w, 0.5).tolist() == [1]
    assert mass_top_neurons(w, 0.8).tolist() == [1, 3]
    assert mass_top_neurons(w, 0.81).tolist() == [1, 3, 0]
    assert mass_top_neurons(w, 1.0).tolist() == [1, 3, 0, 4]


def test_mass_top_neurons_matches_neurox_get_top_neurons(monkeypatch):
    linear_probe = _import_neurox_probe(monkeypatch)
    import torch

    rng = np.random.default_rng(12)
    w = rng.normal(size=30).astype(np.float32)
    probe = linear_probe.LinearProbe(30, 1)
    with torch.no_grad():
        probe.linear.weight.copy_(torch.from_numpy(w[None, :]))
    for mass in (0.1, 0.5, 0.9):
        _, per_class = linear_probe.get_top_neurons(probe, mass, {"y": 0})
        assert mass_top_neurons(w, mass).tolist() == per_class["y"].tolist()


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.ones((5, 3)), np.arange(5.0), "at least 10 rows"),
        (np.random.default_rng(0).normal(size=(20, 3)), np.arange(19.0), "rows but y"),
        (np.random.default_rng(0).normal(size=(20, 3)), np.ones(20), "constant"),
        (np.full((20, 3), np.nan), np.arange(20.0), "NaN"),
        (np.arange(20.0), np.arange(20.0), "2-D"),
    ],
)
def test_bad_input(X, y, match):
    with pytest.raises(InputError, match=match):
        AffectiveProbe()(X, y)


def test_bad_params():
    X, y = planted_data(n=50, d=64)
    with pytest.raises(InputError):
        AffectiveProbe(backend="torch")
    with pytest.raises(InputError, match="test_size"):
        AffectiveProbe(test_size=1.5)(X, y)
    with pytest.raises(InputError, match="top_k"):
        AffectiveProbe(top_k=0)(X, y)
    with pytest.raises(InputError, match="test_rows"):
        AffectiveProbe()(X, y, test_rows=[0, 99])


def test_registered_and_contract():
    metric = il.get_metric("affective-probe")
    assert isinstance(metric, AffectiveProbe)
    testing = pytest.importorskip("interlingua.testing")
    testing.check_metric(metric)
    testing.check_metric(il.get_metric("affective-probe", backend="neurox", epochs=3))
