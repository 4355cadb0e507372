"""Retrieval (sentence matching, seed 001 Exp. 3; CSLS, seed 002 §5.1.1)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.testing import check_metric


def brute(X, Y, method="cosine", k=10, center=False):
    """Plain full-matrix reference."""
    if center:
        X, Y = X - X.mean(0), Y - Y.mean(0)
    A = X / np.linalg.norm(X, axis=1, keepdims=True)
    B = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    S = A @ B.T
    if method == "csls":
        r_t = np.sort(S, axis=1)[:, -k:].mean(axis=1)
        r_s = np.sort(S, axis=0)[-k:, :].mean(axis=0)
        S = 2 * S - r_t[:, None] - r_s[None, :]
    return np.argmax(S, axis=1) == np.arange(len(X))


def _data(seed=0, n=400, d=16, noise=1.2):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, d))
    X = Z + noise * rng.normal(size=(n, d)) + 2
    Y = Z + noise * rng.normal(size=(n, d)) - 1
    return X, Y


@pytest.mark.parametrize("method", ["cosine", "csls"])
@pytest.mark.parametrize("center", [False, True])
def test_matches_full_matrix_reference(method, center):
    X, Y = _data()
    res = il.get_metric("retrieval", method=method, center=center, max_block_mb=0.05)(X, Y)
    ref = brute(X, Y, method, 10, center)
    np.testing.assert_array_equal(res.per_unit.astype(bool), ref)
    assert res.value == pytest.approx(ref.mean())
    assert 0 < res.value < 1
    assert res.details["p_at_1"] <= res.details["p_at_5"] <= res.details["p_at_10"]


def test_csls_reduces_hubness():
    rng = np.random.default_rng(1)
    n, d = 300, 8
    c = np.ones(d) / np.sqrt(d)
    Z = rng.normal(size=(n, d))
    X = Z + 0.3 * rng.normal(size=(n, d)) + 1.5 * c
    Y = Z + 0.3 * rng.normal(size=(n, d))
    hubs = rng.choice(n, 15, replace=False)
    Y[hubs] = 0.3 * Y[hubs] + 4 * c  # targets close to every source
    cos = il.get_metric("retrieval")(X, Y)
    csls = il.get_metric("retrieval", method="csls")(X, Y)
    assert csls.value > cos.value + 0.05


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 60), center=st.booleans())
def test_identical_inputs_retrieve_perfectly(seed, n, center):
    X = np.random.default_rng(seed).normal(size=(n, 5))
    assert il.get_metric("retrieval", center=center)(X, X).value == 1.0


def test_bad_input():
    X, Y = _data()
    with pytest.raises(InputError, match="same number of columns"):
        il.get_metric("retrieval")(X, Y[:, :4])
    with pytest.raises(InputError, match="k must be"):
        il.get_metric("retrieval", method="csls", k=0)(X, Y)
    with pytest.raises(InputError, match="method"):
        il.get_metric("retrieval", method="euclid")


@pytest.mark.parametrize("kw", [{}, {"method": "csls"}, {"center": True}])
def test_contract(kw):
    check_metric(il.get_metric("retrieval", **kw))
