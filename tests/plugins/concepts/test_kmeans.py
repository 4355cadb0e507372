"""kmeans / minibatch-kmeans discoverers: sklearn equivalence, seeds, streaming from a store."""

import numpy as np
import pytest
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.core.store import ActivationStore, SentenceRecord
from interlingua.testing import check_discoverer


def blobs(n=600, k=6, d=8, seed=0, spread=12.0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * spread
    truth = rng.integers(0, k, n)
    X = centers[truth] + rng.normal(size=(n, d))
    return X.astype(dtype), truth


@pytest.fixture
def store_layer(tmp_path):
    """A real store whose word-level layer '1' holds the blobs (17-word sentences)."""
    X, truth = blobs(n=680)
    path = tmp_path / "acts.h5"
    with ActivationStore.create(path, model="m", extractor="test", chunk_rows=64) as st:
        for start in range(0, 680, 170):
            recs = [SentenceRecord([f"w{start + i + j}" for j in range(17)], "en")
                    for i in range(0, 170, 17)]
            block = X[start:start + 170]
            st.append(recs, {"1": {"words": block, "sentences": block[:10]}})
        st.finalize()
    st = ActivationStore.open(path)
    yield st.layer("1"), X, truth
    st.close()


def test_contract():
    check_discoverer(il.get_discoverer("kmeans"))
    check_discoverer(il.get_discoverer("minibatch-kmeans", batch_size=64))


def test_kmeans_equals_sklearn_and_is_seeded():
    X, truth = blobs(dtype=np.float64)
    d = il.get_discoverer("kmeans", n_clusters=6, n_init=2, random_state=3).fit(X)
    ref = KMeans(n_clusters=6, n_init=2, random_state=3).fit(X)
    np.testing.assert_array_equal(d.labels_, ref.labels_)
    np.testing.assert_allclose(d.cluster_centers_, ref.cluster_centers_)
    assert d.inertia_ == pytest.approx(ref.inertia_)
    assert adjusted_rand_score(truth, d.labels_) == pytest.approx(1.0)
    again = il.get_discoverer("kmeans", n_clusters=6, n_init=2, random_state=3).fit_predict(X)
    np.testing.assert_array_equal(again, d.labels_)
    assert d.labels_.dtype == np.int64
    np.testing.assert_array_equal(d.predict(X[:10]), d.labels_[:10])


def test_kmeans_float32_stays_float32_and_matches_seeded_sklearn():
    X, truth = blobs()
    d = il.get_discoverer("kmeans", n_clusters=6, random_state=3).fit(X)
    assert d.cluster_centers_.dtype == np.float32  # float32 input is not doubled
    assert adjusted_rand_score(truth, d.labels_) == pytest.approx(1.0)
    # float32 path: greedy k-means++ with float32 products on all rows (n = 600 <=
    # init_size = 100 K), seeded by the first draw of default_rng(random_state); then
    # the Hamerly-pruned Lloyd (kmeans_lloyd), whose result is scikit-learn's Lloyd
    # from the same centres
    from interlingua.plugins.concepts.kmeans_seeding import greedy_kmeans_plusplus

    rng = np.random.default_rng(3)
    centers, _ = greedy_kmeans_plusplus(X, 6, int(rng.integers(2**31 - 1)))
    ref = KMeans(n_clusters=6, init=centers, n_init=1).fit(X)
    np.testing.assert_array_equal(d.labels_, ref.labels_)
    np.testing.assert_allclose(d.cluster_centers_, ref.cluster_centers_, rtol=1e-5,
                               atol=1e-5)
    assert d.n_iter_ == ref.n_iter_


def test_default_parameters_are_explicit():
    params = il.get_discoverer("kmeans").get_params()
    assert params["n_clusters"] == 600
    assert params["n_init"] == 1
    assert il.get_discoverer("minibatch-kmeans").get_params()["n_init"] == 3


def test_minibatch_in_memory_equals_sklearn():
    X, truth = blobs(dtype=np.float64)
    d = il.get_discoverer("minibatch-kmeans", n_clusters=6, batch_size=100,
                          random_state=1).fit(X)
    ref = MiniBatchKMeans(n_clusters=6, batch_size=100, random_state=1, n_init=3,
                          max_iter=100).fit(X)
    np.testing.assert_array_equal(d.labels_, ref.labels_)
    assert adjusted_rand_score(truth, d.labels_) > 0.95
    f32 = il.get_discoverer("minibatch-kmeans", n_clusters=6, batch_size=100,
                            random_state=1).fit(X.astype(np.float32))
    assert f32.cluster_centers_.dtype == np.float32
    assert adjusted_rand_score(truth, f32.labels_) > 0.95


def test_kmeans_fit_store_equals_fit_on_the_same_rows(store_layer):
    layer, X, _ = store_layer
    index = np.arange(3, 680, 2)
    a = il.get_discoverer("kmeans", n_clusters=6).fit_store(layer, index, rows=50)
    b = il.get_discoverer("kmeans", n_clusters=6).fit(X[index])
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_streaming_reproducible_and_chunk_size_independent(store_layer):
    layer, X, truth = store_layer
    params = dict(n_clusters=6, batch_size=64, block_rows=128, random_state=5)
    a = il.get_discoverer("minibatch-kmeans", **params).fit_store(layer, rows=1000)
    b = il.get_discoverer("minibatch-kmeans", **params).fit_store(layer, rows=33)
    # `rows` only sets the read size of the assignment pass: identical results
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-9)
    assert adjusted_rand_score(truth, a.labels_) > 0.95
    # inertia is the float64 sum of squared distances to the assigned centres
    ref = ((X.astype(np.float64) - a.cluster_centers_[a.labels_]) ** 2).sum()
    assert a.inertia_ == pytest.approx(ref, rel=1e-5)
    # block_rows is part of the algorithm: another shuffling granularity may move
    # individual points, but the clustering quality is the same
    c = il.get_discoverer("minibatch-kmeans", **{**params, "block_rows": 300}).fit_store(layer)
    assert adjusted_rand_score(a.labels_, c.labels_) > 0.95
    assert c.inertia_ == pytest.approx(a.inertia_, rel=0.05)


def test_streaming_on_numpy_array_and_index_matches_full_kmeans_quality():
    X, _truth = blobs(n=2000, k=10, seed=4)
    index = np.arange(0, 2000, 3)
    stream = il.get_discoverer("minibatch-kmeans", n_clusters=10, batch_size=128,
                               stream_epochs=2, random_state=0).fit_store(X, index)
    full = il.get_discoverer("kmeans", n_clusters=10).fit(X[index])
    assert stream.labels_.shape == (index.size,)
    assert adjusted_rand_score(full.labels_, stream.labels_) > 0.9
    assert stream.inertia_ <= 1.1 * full.inertia_


def test_seed_changes_streaming_result():
    X, _ = blobs(n=400, k=20, spread=1.0, seed=2)
    a = il.get_discoverer("minibatch-kmeans", n_clusters=20, batch_size=50,
                          random_state=0).fit_store(X)
    b = il.get_discoverer("minibatch-kmeans", n_clusters=20, batch_size=50,
                          random_state=1).fit_store(X)
    assert not np.array_equal(a.cluster_centers_, b.cluster_centers_)


def test_bad_input():
    X, _ = blobs(n=20)
    with pytest.raises(InputError, match="larger than the number of points"):
        il.get_discoverer("kmeans", n_clusters=50).fit(X)
    with pytest.raises(InputError, match="larger than the number of points"):
        il.get_discoverer("minibatch-kmeans", n_clusters=50).fit_store(X)
    bad = X.copy()
    bad[3, 2] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        il.get_discoverer("minibatch-kmeans", n_clusters=2, batch_size=8).fit_store(bad)
    with pytest.raises(InputError, match="NaN or infinite"):
        il.get_discoverer("kmeans", n_clusters=2).fit_store(bad)
    with pytest.raises(InputError, match="batch_size"):
        il.get_discoverer("minibatch-kmeans", n_clusters=2, batch_size=0).fit(X)
    with pytest.raises(il.core.NotFittedError):
        il.get_discoverer("kmeans").predict(X)


def test_discover_returns_concepts():
    X, truth = blobs(n=60, k=3)
    words = [f"w{t}" for t in truth]
    c = il.get_discoverer("kmeans", n_clusters=3).discover(X, words, ["en"] * 60)
    assert len(c) == 3
    assert sorted(len(c[i].types) for i in c) == [1, 1, 1]


def test_kmeans_init_on_a_sample():
    X, truth = blobs(n=1500, k=8, seed=6)
    a = il.get_discoverer("kmeans", n_clusters=8, init_size=200, n_init=2).fit(X)
    b = il.get_discoverer("kmeans", n_clusters=8, init_size=200, n_init=2).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    full = il.get_discoverer("kmeans", n_clusters=8).fit(X)
    assert a.inertia_ <= 1.05 * full.inertia_
    assert adjusted_rand_score(truth, a.labels_) > 0.95
    with pytest.raises(InputError, match="init_size"):
        il.get_discoverer("kmeans", n_clusters=8, init_size=5).fit(X)


def test_fit_store_leaves_the_callers_data_alone(store_layer):
    layer, X, _ = store_layer
    before = layer[:].copy()
    il.get_discoverer("kmeans", n_clusters=6).fit_store(layer)
    np.testing.assert_array_equal(layer[:], before)
    Y = X.copy()
    il.get_discoverer("kmeans", n_clusters=6).fit(Y)
    np.testing.assert_array_equal(Y, X)


def test_blockwise_tolerance_equals_numpy_variance():
    from interlingua.plugins.concepts.kmeans import _low_memory_kmeans, _mean_column_variance

    rng = np.random.default_rng(1)
    X = rng.normal(size=(20000, 7)) * np.arange(1, 8) + 3
    assert _mean_column_variance(X, block=999) == pytest.approx(np.var(X, axis=0).mean(),
                                                                 rel=1e-12)
    a = _low_memory_kmeans()(n_clusters=4, n_init=1, random_state=0, copy_x=False).fit(X.copy())
    b = KMeans(n_clusters=4, n_init=1, random_state=0).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a._tol == pytest.approx(b._tol, rel=1e-12)
