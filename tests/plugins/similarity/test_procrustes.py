"""Procrustes metric and aligners (seed 002 §5.1)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import orthogonal_procrustes

import interlingua as il
from interlingua.core.errors import InputError, NotFittedError
from interlingua.plugins.similarity.procrustes import iterative_normalization, orthogonal_map
from interlingua.testing import check_aligner, check_metric


def _orth(rng, p):
    q, r = np.linalg.qr(rng.normal(size=(p, p)))
    return q * np.sign(np.diag(r))


def _data(seed=0, n=200, p=8):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) + 3
    Y = X @ _orth(rng, p) + 0.3 * rng.normal(size=(n, p)) - 1
    return X, Y


@pytest.mark.parametrize("center,scale", [(True, True), (True, False), (False, True),
                                          (False, False)])
def test_distance_matches_scipy_orthogonal_procrustes(center, scale):
    X, Y = _data()
    A, B = X.copy(), Y.copy()
    if center:
        A, B = A - A.mean(0), B - B.mean(0)
    if scale:
        A, B = A / np.linalg.norm(A), B / np.linalg.norm(B)
    R, _ = orthogonal_procrustes(A, B)
    ref = np.linalg.norm(A @ R - B)
    res = il.get_metric("procrustes", center=center, scale=scale)(X, Y)
    assert res.value == pytest.approx(ref, abs=1e-10)
    assert res.details["squared_distance"] == pytest.approx(ref**2, abs=1e-10)


def test_distance_streams():
    X, Y = _data(1, n=5000)
    m = il.get_metric("procrustes")
    full = m(X, Y).value
    assert abs(m.stream((X[i:i + 700], Y[i:i + 700]) for i in range(0, 5000, 700)).value
               - full) < 1e-9


def test_unequal_widths_use_a_partial_isometry():
    X, Y = _data(2)
    Y = Y[:, :5]
    A, B = X - X.mean(0), Y - Y.mean(0)
    W = orthogonal_map(A, B)
    assert W.shape == (8, 5)
    np.testing.assert_allclose(W.T @ W, np.eye(5), atol=1e-12)
    # the distance zero-pads the narrower input
    Bp = np.hstack([B, np.zeros((len(B), 3))])
    R, _ = orthogonal_procrustes(A, Bp)
    ref = np.linalg.norm(A @ R - Bp)
    m = il.get_metric("procrustes", scale=False)
    assert m(X, Y).value == pytest.approx(ref, abs=1e-9)
    assert m(Y, X).value == pytest.approx(ref, abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.integers(2, 12))
def test_aligner_recovers_planted_rotation(seed, p):
    rng = np.random.default_rng(seed)
    Q = _orth(rng, p)
    X = rng.normal(size=(max(3 * p, 10), p))
    al = il.get_aligner("procrustes").fit(X, X @ Q)
    np.testing.assert_allclose(al.W_, Q, atol=1e-8)
    Xn = rng.normal(size=(5, p))
    np.testing.assert_allclose(al.transform(Xn), Xn @ Q, atol=1e-8)
    assert il.get_metric("procrustes")(X, X @ Q).value == pytest.approx(0.0, abs=1e-6)


def test_aligner_matches_scipy_and_fits_scale_and_centre():
    X, Y = _data(3)
    al = il.get_aligner("procrustes").fit(X, Y)
    R, _ = orthogonal_procrustes(X, Y)
    np.testing.assert_allclose(al.W_, R, atol=1e-10)
    rng = np.random.default_rng(0)
    Q = _orth(rng, 8)
    Y2 = 2.5 * X @ Q + 7
    al = il.get_aligner("procrustes", center=True, scale=True).fit(X, Y2)
    assert al.scale_ == pytest.approx(2.5)
    np.testing.assert_allclose(al.transform(X), Y2, atol=1e-9)


def test_iterative_normalization():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)) * [1, 2, 3, 4, 5, 6] + 4
    Xn, means = iterative_normalization(X, 5)
    np.testing.assert_allclose(np.linalg.norm(Xn, axis=1), 1.0)
    assert np.abs(Xn.mean(0)).max() < 0.05  # close to centred after a few rounds
    assert len(means) == 5
    # replaying the fitted means on the same rows reproduces the normalisation
    again, _ = iterative_normalization(X, 5, means)
    np.testing.assert_allclose(again, Xn)
    al = il.get_aligner("procrustes", iternorm=5).fit(X, X)
    np.testing.assert_allclose(al.transform(X[:3]), Xn[:3] @ al.W_, atol=1e-12)
    np.testing.assert_allclose(al.transform_target(X[:3]), Xn[:3], atol=1e-12)


def test_identity_aligner():
    X, Y = _data()
    al = il.get_aligner("identity")
    with pytest.raises(NotFittedError):
        al.transform(X)
    np.testing.assert_array_equal(al.fit(X, Y).transform(X), X)
    with pytest.raises(InputError, match="equal width"):
        il.get_aligner("identity").fit(X, Y[:, :3])


def test_bad_input():
    X, Y = _data()
    with pytest.raises(InputError, match="same number of rows"):
        il.get_metric("procrustes")(X, Y[:-1])
    with pytest.raises(InputError, match="constant"):
        il.get_metric("procrustes")(np.ones((10, 8)), Y[:10])
    with pytest.raises(InputError, match="iternorm"):
        il.get_aligner("procrustes", iternorm=-1).fit(X, Y)
    with pytest.raises(InputError, match="columns"):
        il.get_aligner("procrustes").fit(X, Y).transform(X[:, :3])


def test_contract():
    check_metric(il.get_metric("procrustes"))
    for kw in ({}, {"iternorm": 3}, {"center": True, "scale": True}):
        check_aligner(il.get_aligner("procrustes", **kw))
    check_aligner(il.get_aligner("identity"))
