"""ANC (seed 001 §5): exactness against scipy, invariances, streaming, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.testing import check_metric


def _data(seed=0, n=120, d=16):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 5, d) + rng.normal(size=d) * 10
    Y = 0.7 * X + rng.normal(size=(n, d)) * 3 - 4
    Y[:, 3] = -Y[:, 3]  # one anti-correlated neuron
    return X, Y


def test_matches_scipy_pearsonr_per_neuron():
    X, Y = _data()
    res = il.get_metric("anc")(X, Y)
    ref = np.array([pearsonr(X[:, i], Y[:, i]).statistic for i in range(X.shape[1])])
    np.testing.assert_allclose(res.per_unit, ref, rtol=0, atol=1e-12)
    assert res.value == pytest.approx(np.mean(np.abs(ref)), abs=1e-12)
    signed = il.get_metric("anc", absolute=False)(X, Y)
    assert signed.value == pytest.approx(np.mean(ref), abs=1e-12)
    assert res.per_unit[3] < 0
    assert res.details["most_correlated"][0] == int(np.argmax(np.abs(ref)))


def test_constant_neurons_count_as_zero_and_are_reported():
    X, Y = _data()
    X[:, 0] = 2.5
    Y[:, 5] = -1.0
    res = il.get_metric("anc")(X, Y)
    ref = np.array([0.0 if i in (0, 5) else pearsonr(X[:, i], Y[:, i]).statistic
                    for i in range(X.shape[1])])
    assert res.per_unit[0] == 0.0 and res.per_unit[5] == 0.0
    # zero-variance neurons stay in the denominator (authors' behaviour)
    assert res.value == pytest.approx(np.mean(np.abs(ref)), abs=1e-12)
    assert res.details["n_constant"] == 2
    assert res.details["n_constant_x"] == 1 and res.details["n_constant_y"] == 1
    # the same holds streamed in chunks (constant detection is exact)
    streamed = il.get_metric("anc").stream((X[i:i + 7], Y[i:i + 7]) for i in range(0, 120, 7))
    assert streamed.details["n_constant"] == 2
    assert streamed.value == pytest.approx(res.value, abs=1e-12)


def test_streaming_equals_in_memory_float32_chunks():
    X, Y = _data(3, n=1000)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    m = il.get_metric("anc")
    full = m(X32.astype(np.float64), Y32.astype(np.float64))
    streamed = m.stream((X32[i:i + 97], Y32[i:i + 97]) for i in range(0, 1000, 97))
    assert abs(full.value - streamed.value) < 1e-12
    np.testing.assert_allclose(full.per_unit, streamed.per_unit, atol=1e-12)
    a, b, c = m.accumulator(), m.accumulator(), m.accumulator()
    a.update(X[:10], Y[:10])
    b.update(X[10:600], Y[10:600])
    c.update(X[600:], Y[600:])
    assert abs(a.merge(c.merge(b)).result().value - m(X, Y).value) < 1e-12


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100), shift=st.floats(-1e3, 1e3))
def test_invariant_to_positive_per_neuron_affine_maps(seed, scale, shift):
    rng = np.random.default_rng(seed)
    X, Y = _data(seed, n=60, d=6)
    m = il.get_metric("anc")
    s = rng.uniform(0.2, 5, 6) * scale
    b = rng.normal(size=6) * shift
    assert m(X * s + b, Y).value == pytest.approx(m(X, Y).value, abs=1e-9)
    assert m(X, Y * s - b).value == pytest.approx(m(X, Y).value, abs=1e-9)


def test_bad_input():
    X, Y = _data()
    m = il.get_metric("anc")
    with pytest.raises(InputError, match="same number of rows"):
        m(X, Y[:-1])
    with pytest.raises(InputError, match="same number of columns"):
        m(X, Y[:, :-1])
    bad = X.copy()
    bad[4, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        m(bad, Y)
    bad[4, 2] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        m(bad, Y)
    with pytest.raises(InputError):
        m(X[:1], Y[:1])
    with pytest.raises(InputError, match="columns"):
        m.stream([(X[:5], Y[:5]), (X[5:, :3], Y[5:, :3])])


@pytest.mark.parametrize("absolute", [True, False])
def test_contract(absolute):
    check_metric(il.get_metric("anc", absolute=absolute))
