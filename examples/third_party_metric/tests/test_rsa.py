import numpy as np
import pytest
from interlingua_rsa import RSA
from scipy.stats import rankdata

import interlingua as il
from interlingua.testing import check_metric


@pytest.mark.parametrize("distance", ["euclidean", "cosine", "correlation"])
def test_contract(distance):
    check_metric(RSA(distance=distance))


def _slow_rsa(X, Y):
    """Plain double loop: Euclidean RDMs, Spearman = Pearson of ranks."""
    n = len(X)
    dx, dy = [], []
    for i in range(n):
        for j in range(i + 1, n):
            dx.append(np.sqrt(((X[i] - X[j]) ** 2).sum()))
            dy.append(np.sqrt(((Y[i] - Y[j]) ** 2).sum()))
    rx, ry = rankdata(dx), rankdata(dy)
    return np.corrcoef(rx, ry)[0, 1]


def test_matches_slow_computation():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 5))
    Y = X @ rng.normal(size=(5, 4)) + rng.normal(size=(30, 4))
    assert RSA()(X, Y).value == pytest.approx(_slow_rsa(X, Y), abs=1e-12)


def test_monotone_distortion_keeps_rsa_at_one():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(25, 2))
    # Scaling one space's geometry does not change the rank order of distances.
    assert RSA()(X, 7.0 * X).value == pytest.approx(1.0)


def test_refuses_too_many_rows():
    X = np.zeros((10, 2)) + np.arange(10)[:, None]
    with pytest.raises(il.InputError, match="max_rows"):
        RSA(max_rows=5)(X, X)


def test_registered_through_entry_point():
    names = {(p.name, p.provider) for p in il.list_plugins("metric")}
    assert ("rsa", "interlingua-rsa") in names
    assert isinstance(il.get_metric("rsa"), RSA)
