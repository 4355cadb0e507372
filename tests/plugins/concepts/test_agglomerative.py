"""agglomerative (Ward) discoverer: scipy equivalence, determinism, size refusal."""

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, ward
from sklearn.metrics import adjusted_rand_score

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.testing import check_discoverer


def points(n=200, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + np.repeat(rng.normal(size=(5, d)) * 3, n // 5, axis=0)


def test_contract():
    check_discoverer(il.get_discoverer("agglomerative"))


def test_matches_scipy_ward():
    X = points()
    labels = il.get_discoverer("agglomerative", n_clusters=7).fit_predict(X)
    ref = fcluster(ward(X), t=7, criterion="maxclust")
    assert np.unique(labels).size == 7
    assert adjusted_rand_score(ref, labels) == pytest.approx(1.0)


def test_deterministic_and_centroids():
    X = points()
    a = il.get_discoverer("agglomerative", n_clusters=5).fit(X)
    b = il.get_discoverer("agglomerative", n_clusters=5).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    for c in range(5):
        np.testing.assert_allclose(a.cluster_centers_[c], X[a.labels_ == c].mean(axis=0))


def test_refuses_above_max_points_with_kmeans_hint():
    X = points(n=300)
    with pytest.raises(InputError, match="kmeans") as err:
        il.get_discoverer("agglomerative", n_clusters=5, max_points=299).fit(X)
    assert "GB" in str(err.value)
    il.get_discoverer("agglomerative", n_clusters=5, max_points=300).fit(X)


class _HugeLayer:
    """A pretend store layer of 10^6 rows that must not be read."""

    shape = (1_000_000, 768)

    def __getitem__(self, key):
        raise AssertionError("the layer was read before the size check")


def test_fit_store_refuses_before_reading():
    d = il.get_discoverer("agglomerative")
    with pytest.raises(InputError, match="minibatch-kmeans"):
        d.fit_store(_HugeLayer())
    with pytest.raises(InputError, match="max_points"):
        d.fit_store(_HugeLayer(), np.arange(30_000))


def test_fit_store_on_rows():
    X = points()
    index = np.arange(0, 200, 2)
    a = il.get_discoverer("agglomerative", n_clusters=4).fit_store(X, index)
    b = il.get_discoverer("agglomerative", n_clusters=4).fit(X[index])
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_other_linkage_and_bad_input():
    X = points()
    labels = il.get_discoverer("agglomerative", n_clusters=3, linkage="average").fit_predict(X)
    assert np.unique(labels).size == 3
    with pytest.raises(InputError):
        il.get_discoverer("agglomerative", linkage="centroid")
    with pytest.raises(InputError, match="larger than the number of points"):
        il.get_discoverer("agglomerative", n_clusters=500).fit(X)
