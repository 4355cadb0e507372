"""CCA / SVCCA / PWCCA: principal-angle references, a literal re-statement of the
google/svcca conventions, invariances, streaming and bad input."""

import numpy as np
import pytest
from scipy.linalg import subspace_angles

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.testing import check_metric


def _data(seed=0, n=300, p=9, q=7):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3, p) + rng.normal(size=p) * 4
    Y = X @ rng.normal(size=(p, q)) * 0.3 + rng.normal(size=(n, q)) + 2
    return X, Y


def canonical_correlations(X, Y):
    """cos of the principal angles between the centred column spaces."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    return np.sort(np.cos(subspace_angles(Xc, Yc)))[::-1]


def google_style(X, Y, eps=1e-10):
    """The google/svcca conventions restated: neurons × datapoints, np.cov, rescale,
    ridge, pinv square roots, SVD; PWCCA weights from a QR of the directions."""
    a1, a2 = X.T, Y.T
    p = a1.shape[0]
    cov = np.cov(a1, a2)
    sxx, sxy, syy = cov[:p, :p], cov[:p, p:], cov[p:, p:]
    xm, ym = np.abs(sxx).max(), np.abs(syy).max()
    sxx, syy, sxy = sxx / xm, syy / ym, sxy / np.sqrt(xm * ym)

    def isqrt(S):
        w, V = np.linalg.eigh(np.linalg.pinv(S + eps * np.eye(len(S))))
        return V @ np.diag(np.sqrt(w)) @ V.T

    u, s, vt = np.linalg.svd(isqrt(sxx) @ sxy @ isqrt(syy))
    s = np.abs(s)
    if a1.shape[0] <= a2.shape[0]:
        acts, coef = a1, u.T
    else:
        acts, coef = a2, vt
    m = acts.mean(axis=1, keepdims=True)
    dirns = coef @ (acts - m) + m
    P, _ = np.linalg.qr(dirns.T)
    w = np.abs(P.T @ acts.T).sum(axis=1)
    w /= w.sum()
    return s, float(np.sum(w * s))


def test_cca_equals_principal_angles_and_google_conventions():
    X, Y = _data()
    rho = canonical_correlations(X, Y)
    res = il.get_metric("cca")(X, Y)
    np.testing.assert_allclose(res.per_unit, rho, atol=1e-8)
    assert res.value == pytest.approx(rho.mean(), abs=1e-8)
    s, _ = google_style(X, Y)
    np.testing.assert_allclose(res.per_unit, s, atol=1e-10)
    assert res.details["n_coefficients"] == 7


def test_squared_cca_is_kornblith_r2():
    X, Y = _data(1)
    Qx, _ = np.linalg.qr(X - X.mean(0))
    Qy, _ = np.linalg.qr(Y - Y.mean(0))
    r2 = np.sum((Qy.T @ Qx) ** 2) / min(X.shape[1], Y.shape[1])
    assert il.get_metric("cca", squared=True)(X, Y).value == pytest.approx(r2, abs=1e-8)


@pytest.mark.parametrize("dims", [3, 5, 20])
def test_svcca_is_cca_of_top_svd_directions(dims):
    X, Y = _data(2, p=12, q=10)

    def top(A):
        Ac = A - A.mean(0)
        U, S, _ = np.linalg.svd(Ac, full_matrices=False)
        k = min(dims, A.shape[1])
        return U[:, :k] * S[:k]

    rho = canonical_correlations(top(X), top(Y))
    res = il.get_metric("svcca", dims=dims)(X, Y)
    assert res.value == pytest.approx(rho.mean(), abs=1e-8)
    assert res.details["dims_x"] == min(dims, 12)


@pytest.mark.parametrize("swap", [False, True])
def test_pwcca_matches_google_style_qr(swap):
    X, Y = _data(3)
    if swap:  # Y has more neurons → X side weighted; otherwise Y side
        X, Y = Y, X
    _, ref = google_style(X, Y)
    res = il.get_metric("pwcca")(X, Y)
    assert res.value == pytest.approx(ref, abs=1e-9)
    assert res.per_unit.sum() == pytest.approx(1.0)
    assert res.details["weighted_side"] == ("x" if swap else "y")


def test_invertible_linear_invariance_of_cca():
    X, Y = _data(4)
    rng = np.random.default_rng(0)
    A = rng.normal(size=(9, 9)) + 3 * np.eye(9)
    # the epsilon ridge of the google conventions perturbs ill-conditioned inputs a
    # little; without it the invariance is exact
    m = il.get_metric("cca", epsilon=0.0)
    assert m(X @ A + 5, Y).value == pytest.approx(m(X, Y).value, abs=1e-10)
    m = il.get_metric("cca")
    assert m(X @ A + 5, Y).value == pytest.approx(m(X, Y).value, abs=1e-6)


@pytest.mark.parametrize("name", ["cca", "svcca", "pwcca"])
def test_streaming_equals_in_memory(name):
    X, Y = _data(5, n=3000)
    m = il.get_metric(name)
    full = m(X, Y).value
    streamed = m.stream((X[i:i + 401], Y[i:i + 401]) for i in range(0, 3000, 401)).value
    assert abs(full - streamed) < 1e-9
    a, b = m.accumulator(), m.accumulator()
    a.update(X[:1000], Y[:1000])
    b.update(X[1000:], Y[1000:])
    assert abs(b.merge(a).result().value - full) < 1e-9


def test_small_variance_neurons_are_dropped():
    X, Y = _data(6)
    X[:, 2] = 7.0 + 1e-9 * np.random.default_rng(0).normal(size=X.shape[0])
    res = il.get_metric("cca")(X, Y)
    assert res.details["n_coefficients"] == 7
    np.testing.assert_allclose(res.per_unit, canonical_correlations(np.delete(X, 2, 1), Y),
                               atol=1e-7)


def test_bad_input():
    X, Y = _data()
    with pytest.raises(InputError, match="more rows than neurons"):
        il.get_metric("cca")(X[:9], Y[:9])
    with pytest.raises(InputError, match="zero variance"):
        il.get_metric("cca")(np.ones((50, 3)), Y[:50])
    with pytest.raises(InputError, match="dims"):
        il.get_metric("svcca", dims=0)(X, Y)
    with pytest.raises(InputError, match="same number of rows"):
        il.get_metric("pwcca")(X, Y[:-2])


@pytest.mark.parametrize("name,kw", [("cca", {}), ("cca", {"squared": True}),
                                     ("svcca", {}), ("svcca", {"dims": 3}), ("pwcca", {})])
def test_contract(name, kw):
    check_metric(il.get_metric(name, **kw))
