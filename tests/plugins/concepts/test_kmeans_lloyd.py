"""Hamerly-pruned exact Lloyd (kmeans_lloyd): scikit-learn's Lloyd result, fewer distances."""

import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

import interlingua as il
from interlingua.plugins.concepts.kmeans_lloyd import (
    LloydResult,
    column_mean_variance,
    kmeans_lloyd,
    nearest_centres,
)
from interlingua.plugins.concepts.kmeans_seeding import greedy_kmeans_plusplus


def blobs(n, k, d, spread, seed, offset=0.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * spread
    return (centers[rng.integers(0, k, n)] + rng.normal(size=(n, d)) + offset).astype(
        np.float32)


def case(name):
    """(X, init centres) of one dataset; all are tie-free for these seeds (checked by
    the equality tests themselves: a float32 near-tie would show as a label diff)."""
    rng = np.random.default_rng(7)
    if name == "blobs":
        X = blobs(4000, 12, 16, 4.0, seed=1)
    elif name == "overlapping":  # many iterations: the clusters touch
        X = blobs(3000, 15, 8, 1.2, seed=2)
    elif name == "uniform":  # no structure at all
        X = rng.random((2000, 6)).astype(np.float32)
    elif name == "far-from-origin":  # |x| ~ 1e3, spread ~ 1: needs the centring
        X = blobs(3000, 10, 16, 3.0, seed=3, offset=1000.0)
    elif name == "duplicated":  # every point three times, plus one copy shifted
        base = blobs(800, 8, 8, 3.0, seed=4)
        X = np.concatenate([base, base, base, base[:100] + 0.5])
    elif name in ("empty-cluster", "two-empty-clusters"):
        # centres far away from all points own nothing in the first iteration and are
        # relocated to the points farthest from their centres
        X = blobs(2000, 6, 8, 5.0, seed=5)
        init = greedy_kmeans_plusplus(X, 6, 0)[0]
        far = [200.0] if name == "empty-cluster" else [200.0, -300.0]
        return X, np.concatenate([init, np.array([[f] * 8 for f in far], np.float32)])
    else:
        raise ValueError(name)
    k = {"uniform": 12, "duplicated": 10}.get(name, 12)
    return X, greedy_kmeans_plusplus(X, k, 0)[0]


CASES = ["blobs", "overlapping", "uniform", "far-from-origin", "duplicated",
         "empty-cluster", "two-empty-clusters"]


def sklearn_lloyd(X, init, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KMeans(init.shape[0], init=init, n_init=1, algorithm="lloyd", **kw).fit(X)


def slow_inertia(X, centres, labels):
    X64, C64 = X.astype(np.float64), centres.astype(np.float64)
    return sum(float(((X64[i] - C64[labels[i]]) ** 2).sum()) for i in range(len(X)))


@pytest.mark.parametrize("name", CASES)
def test_same_result_as_sklearn_lloyd(name):
    X, init = case(name)
    ours = kmeans_lloyd(X, init, max_iter=300, tol=1e-4)
    ref = sklearn_lloyd(X, init, max_iter=300, tol=1e-4)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.n_iter_ == ref.n_iter_
    scale = np.abs(X).max()
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-5,
                               atol=1e-6 * scale)
    assert ours.cluster_centers_.dtype == np.float32
    assert ours.inertia_ == pytest.approx(slow_inertia(X, ours.cluster_centers_,
                                                       ours.labels_), rel=1e-10)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-4)


def test_empty_cluster_cases_really_relocate():
    for name, n_far in (("empty-cluster", 1), ("two-empty-clusters", 2)):
        X, init = case(name)
        one = kmeans_lloyd(X, init, max_iter=1, tol=0)
        # after one iteration the far centres sit on data points (the farthest ones)
        moved = one.cluster_centers_[-n_far:]
        assert np.abs(moved).max() < np.abs(X).max() + 1
        assert all((X == c).all(axis=1).any() for c in moved)


def test_same_assignments_in_every_iteration():
    X, init = case("overlapping")
    full = kmeans_lloyd(X, init, max_iter=300, tol=0)
    assert full.n_iter_ > 10
    for t in range(1, full.n_iter_ + 1):
        ours = kmeans_lloyd(X, init, max_iter=t, tol=0)
        ref = sklearn_lloyd(X, init, max_iter=t, tol=0)
        np.testing.assert_array_equal(ours.labels_, ref.labels_, err_msg=f"iteration {t}")


def test_pruning_prunes_and_changes_nothing():
    X = blobs(20000, 30, 32, 2.0, seed=8)
    init = greedy_kmeans_plusplus(X, 30, 1)[0]
    pruned = kmeans_lloyd(X, init, block_rows=3000)
    plain = kmeans_lloyd(X, init, block_rows=3000, prune=False)
    np.testing.assert_array_equal(pruned.labels_, plain.labels_)
    assert pruned.n_iter_ == plain.n_iter_ > 5
    np.testing.assert_allclose(pruned.cluster_centers_, plain.cluster_centers_, rtol=1e-6,
                               atol=1e-6)
    assert pruned.inertia_ == pytest.approx(plain.inertia_, rel=1e-9)
    n, runs = len(X), len(plain.n_distance_rows_)
    assert plain.n_distance_rows_ == [n] * runs
    assert pruned.n_distance_rows_[0] == n  # no bounds yet
    # after the first iteration, a small fraction of the points needs distances
    assert sum(pruned.n_distance_rows_[1:]) < 0.15 * n * (runs - 1)
    assert sum(pruned.n_distance_rows_) < 0.3 * n * runs


def test_memory_is_bounded_by_blocks_not_n_times_k():
    X = blobs(50000, 50, 64, 3.0, seed=9)
    init = greedy_kmeans_plusplus(X[:5000], 200, 0)[0]
    block = 2048
    tracemalloc.start()
    try:
        kmeans_lloyd(X, init, max_iter=5, block_rows=block)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    n, d, k = X.shape[0], X.shape[1], init.shape[0]
    # O(n) bounds and labels (a quarter of the data here) + a few block x (K + d) buffers
    budget = X.nbytes / 4 + 4 * block * (k + d) * 4
    assert peak < budget < n * k * 4 / 3  # far below one n x K distance matrix
    assert peak < 0.75 * X.nbytes  # and no copy of the data (centred or float64)


def test_data_is_left_alone_and_result_is_reproducible():
    X, init = case("far-from-origin")
    before = X.copy()
    a = kmeans_lloyd(X, init)
    np.testing.assert_array_equal(X, before)
    b = kmeans_lloyd(X, init)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


def test_predict_and_ties_go_to_the_lowest_index():
    X, init = case("blobs")
    res = kmeans_lloyd(X, init)
    # strict convergence (labels unchanged): no final E-step, predict agrees
    assert len(res.n_distance_rows_) == res.n_iter_
    np.testing.assert_array_equal(res.predict(X), res.labels_)
    centres = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], np.float32)
    pts = np.array([[2, 0], [0, 3], [1, 1]], np.float32)
    np.testing.assert_array_equal(nearest_centres(pts, centres), [0, 1, 0])
    np.testing.assert_array_equal(nearest_centres(pts + 5, centres, mean=np.full(2, 5.0)),
                                  [0, 1, 0])


def test_more_clusters_than_distinct_points():
    pts = np.array([[0, 0], [4, 0], [0, 4]], np.float32)
    X = np.repeat(pts, 10, axis=0)
    init = np.array([[0, 0], [4, 0], [0, 4], [0, 0], [4.5, 0]], np.float32)
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):
        res = kmeans_lloyd(X, init)
    np.testing.assert_array_equal(res.labels_, np.repeat([0, 1, 2], 10))
    # the empty clusters (every point on its centre: nothing to relocate) sit at the
    # centre of the biggest cluster (the first of the three tied ones)
    np.testing.assert_array_equal(res.cluster_centers_[3:], [[0, 0], [0, 0]])
    assert res.inertia_ == 0.0


def test_single_cluster_and_float64_input():
    X = blobs(500, 3, 4, 3.0, seed=10)
    one = kmeans_lloyd(X, X[:1])
    assert (one.labels_ == 0).all()
    np.testing.assert_allclose(one.cluster_centers_[0], X.astype(np.float64).mean(0),
                               rtol=1e-6, atol=1e-6)
    X64 = X.astype(np.float64)
    init = greedy_kmeans_plusplus(X64, 3, 0)[0]
    res = kmeans_lloyd(X64, init)
    ref = sklearn_lloyd(X64, init)
    np.testing.assert_array_equal(res.labels_, ref.labels_)
    np.testing.assert_allclose(res.cluster_centers_, ref.cluster_centers_, rtol=1e-12)


def test_bad_arguments():
    X = blobs(50, 2, 3, 3.0, seed=0)
    with pytest.raises(ValueError, match="init"):
        kmeans_lloyd(X, X[:2, :2])
    with pytest.raises(ValueError, match="max_iter"):
        kmeans_lloyd(X, X[:2], max_iter=0)
    with pytest.raises(ValueError, match="tol"):
        kmeans_lloyd(X, X[:2], tol=-1.0)
    with pytest.raises(ValueError, match="2-d"):
        kmeans_lloyd(X.astype(np.int64), X[:2])


def test_column_mean_variance():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10000, 5)) * np.arange(1, 6) + 7
    mean, var = column_mean_variance(X, block=777)
    np.testing.assert_allclose(mean, X.mean(0), rtol=1e-13)
    assert var == pytest.approx(np.var(X, axis=0).mean(), rel=1e-12)


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_discoverer_uses_pruned_lloyd_for_float32(algorithm):
    X = blobs(3000, 8, 16, 2.5, seed=11)
    d = il.get_discoverer("kmeans", n_clusters=8, algorithm=algorithm, n_init=2,
                          init_size=len(X), random_state=4).fit(X)
    rng = np.random.default_rng(4)
    seeds = [int(rng.integers(2**31 - 1)) for _ in range(2)]
    refs = [KMeans(8, init=greedy_kmeans_plusplus(X, 8, s)[0], n_init=1,
                   algorithm=algorithm).fit(X) for s in seeds]
    best = min(refs, key=lambda r: r.inertia_)
    assert isinstance(d._estimator_, LloydResult) == (algorithm == "lloyd")
    np.testing.assert_array_equal(d.labels_, best.labels_)
    assert d.labels_.dtype == np.int64
    np.testing.assert_array_equal(d.predict(X[:50]), best.predict(X[:50]))
