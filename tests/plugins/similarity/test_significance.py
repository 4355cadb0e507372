"""Permutation test and bootstrap CI for paired metrics."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kstest

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.plugins.similarity.significance import (
    bootstrap_ci,
    permutation_test,
    with_significance,
)


def _related(seed, n=60, d=5, noise=0.5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, X + noise * rng.normal(size=(n, d))


@pytest.mark.parametrize("name", ["anc", "cka", "procrustes"])
def test_strongly_related_inputs_have_small_pvalue(name):
    X, Y = _related(0)
    res = permutation_test(il.get_metric(name), X, Y, n_permutations=199, seed=1)
    assert res.pvalue == pytest.approx(1 / 200)  # nothing in the null reaches the observed
    assert res.alternative == ("less" if name == "procrustes" else "greater")
    assert res.null.shape == (199,)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), name=st.sampled_from(["anc", "cka", "retrieval"]))
def test_property_related_inputs_are_significant(seed, name):
    X, Y = _related(seed, n=40, noise=0.3)
    res = permutation_test(il.get_metric(name), X, Y, n_permutations=49, seed=seed)
    assert res.pvalue <= 0.04


def test_pvalues_of_independent_inputs_are_roughly_uniform():
    m = il.get_metric("anc", absolute=False)
    pvalues = []
    for seed in range(60):
        rng = np.random.default_rng(100 + seed)
        X, Y = rng.normal(size=(25, 3)), rng.normal(size=(25, 3))
        pvalues.append(permutation_test(m, X, Y, n_permutations=99, seed=seed).pvalue)
    pvalues = np.array(pvalues)
    assert kstest(pvalues, "uniform").pvalue > 0.001
    assert 0.3 < pvalues.mean() < 0.7


def test_seeded_and_reproducible():
    X, Y = _related(2, noise=3.0)
    m = il.get_metric("cka")
    a = permutation_test(m, X, Y, n_permutations=50, seed=7)
    b = permutation_test(m, X, Y, n_permutations=50, seed=7)
    np.testing.assert_array_equal(a.null, b.null)
    c = bootstrap_ci(m, X, Y, n_bootstrap=50, seed=3)
    d = bootstrap_ci(m, X, Y, n_bootstrap=50, seed=3)
    assert c.ci == d.ci


def test_bootstrap_interval_covers_the_estimate_and_shrinks_with_n():
    m = il.get_metric("cka")
    small = bootstrap_ci(m, *_related(3, n=40, noise=2.0), n_bootstrap=200, seed=0)
    large = bootstrap_ci(m, *_related(3, n=400, noise=2.0), n_bootstrap=200, seed=0)
    for r in (small, large):
        assert r.ci[0] <= r.observed <= r.ci[1]
    assert large.ci[1] - large.ci[0] < small.ci[1] - small.ci[0]


def test_with_significance_fills_pvalue_and_ci():
    X, Y = _related(4)
    res = with_significance(il.get_metric("anc"), X, Y, n_permutations=30, n_bootstrap=30)
    assert res.pvalue is not None and res.ci is not None
    assert res.details["permutation"]["n_permutations"] == 30
    assert res.to_dict()["ci"] == list(res.ci)


def test_bad_input():
    X, Y = _related(5)
    with pytest.raises(InputError, match="paired metric"):
        permutation_test(il.get_metric("superexact"), X, Y)
    with pytest.raises(InputError, match="n_permutations"):
        permutation_test(il.get_metric("anc"), X, Y, n_permutations=0)
    with pytest.raises(InputError, match="level"):
        bootstrap_ci(il.get_metric("anc"), X, Y, level=1.5)
    with pytest.raises(InputError, match="same number of rows"):
        bootstrap_ci(il.get_metric("anc"), X, Y[:-1])
