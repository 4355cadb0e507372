"""Greedy k-means++ seeding (float32 products, float64 potentials) and its use by kmeans."""

import numpy as np
import pytest
from scipy import stats
from sklearn.cluster import KMeans, kmeans_plusplus

import interlingua as il
from interlingua.plugins.concepts.kmeans_seeding import greedy_kmeans_plusplus


def mixture(n=3000, k=40, d=32, spread=2.0, seed=0, offset=0.0):
    """Overlapping Gaussian clusters: the draws are not all decided by a wide margin."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * spread
    X = centers[rng.integers(0, k, n)] + rng.normal(size=(n, d)) + offset
    return X


def reference(X, k, seed, trials=None):
    """Greedy k-means++ written plainly (float64, explicit differences), drawing from
    the same RandomState stream as scikit-learn's ``_kmeans_plusplus``."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    rs = np.random.RandomState(seed)
    trials = 2 + int(np.log(k)) if trials is None else trials
    first = rs.choice(n, p=np.full(n, 1.0 / n))
    chosen, closest = [first], ((X - X[first]) ** 2).sum(axis=1)
    for _ in range(1, k):
        draws = rs.uniform(size=trials) * closest.sum()
        cands = [min(int(np.searchsorted(np.cumsum(closest), r)), n - 1) for r in draws]
        best, best_pot, best_d2 = -1, np.inf, None
        for c in cands:
            d2 = np.minimum(closest, ((X - X[c]) ** 2).sum(axis=1))
            if d2.sum() < best_pot:
                best, best_pot, best_d2 = c, d2.sum(), d2
        chosen.append(best)
        closest = best_d2
    return np.array(chosen)


def potential(X, centers):
    """Sum over rows of the squared distance to the nearest centre (float64)."""
    X, centers = np.asarray(X, np.float64), np.asarray(centers, np.float64)
    return float(((X[:, None, :] - centers[None]) ** 2).sum(axis=2).min(axis=1).sum())


def test_reference_is_scikit_learns_algorithm():
    X = mixture(n=800, k=10)
    for seed in range(3):
        _, idx = kmeans_plusplus(X, 12, random_state=seed)
        np.testing.assert_array_equal(reference(X, 12, seed), idx)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_same_centres_as_the_plain_reference(dtype, seed):
    # overlapping clusters, 40 centres x 5 candidates: a wrong distance, potential,
    # trial count or use of the random stream changes the picks within a few steps
    X = mixture().astype(dtype)
    centers, idx = greedy_kmeans_plusplus(X, 40, seed)
    ref = reference(X, 40, seed)
    np.testing.assert_array_equal(idx, ref)
    assert centers.dtype == dtype
    np.testing.assert_array_equal(centers, X[idx])  # data points, bit for bit
    assert len(set(idx.tolist())) == 40


def test_float32_products_are_accurate_far_from_the_origin():
    # a common offset of 1000 makes |x|^2 ~ 3e7 against distances ~ 70: the float32
    # expansion |x|^2 + |c|^2 - 2 x.c is only usable after centring the data
    X = mixture(n=2000, k=20, offset=1000.0).astype(np.float32)
    _, idx = greedy_kmeans_plusplus(X, 30, 3)
    ref = reference(X, 30, 3)
    np.testing.assert_array_equal(idx, ref)
    assert potential(X, X[idx]) == pytest.approx(potential(X, X[ref]), rel=1e-6)


def test_second_centre_follows_the_d2_distribution():
    # plain k-means++ (one trial): P(second = i | first = f) = D2(i, f) / sum_j D2(j, f)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3)).astype(np.float32) * np.arange(1, 7)[:, None]
    d2 = ((X[:, None, :].astype(np.float64) - X[None]) ** 2).sum(axis=2)
    observed, expected = np.zeros(6), np.zeros(6)
    for seed in range(3000):
        _, (first, second) = greedy_kmeans_plusplus(X, 2, seed, n_local_trials=1)
        observed[second] += 1
        expected += d2[first] / d2[first].sum()
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # a D (not D^2) sampler is rejected by the same test on these points
    d1 = np.sqrt(d2)
    wrong = sum(d1[f] / d1[f].sum() for f in range(6)) * 3000 / 6
    assert stats.chisquare(observed, wrong).pvalue < 1e-6


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_centre_per_well_separated_blob(dtype):
    rng = np.random.default_rng(2)
    k = 25
    blob_centers = rng.normal(size=(k, 16)) * 50
    truth = np.repeat(np.arange(k), 40)
    X = (blob_centers[truth] + rng.normal(size=(truth.size, 16))).astype(dtype)
    for seed in range(5):
        _, idx = greedy_kmeans_plusplus(X, k, seed)
        assert sorted(truth[idx].tolist()) == list(range(k))


def test_lloyd_inertia_no_worse_than_with_scikit_learns_seeding():
    # distributional comparison: independent seeds on each side, 8 runs each
    X = mixture(n=4000, k=60, d=24, spread=1.5, seed=5)
    X32 = X.astype(np.float32)
    ours, sk = [], []
    for seed in range(8):
        c, _ = greedy_kmeans_plusplus(X32, 30, seed)
        ours.append(KMeans(30, init=c, n_init=1).fit(X32).inertia_)
        c, _ = kmeans_plusplus(X, 30, random_state=100 + seed)
        sk.append(KMeans(30, init=c.astype(np.float32), n_init=1).fit(X32).inertia_)
    assert np.mean(ours) <= 1.01 * np.mean(sk)
    assert max(ours) <= 1.03 * max(sk)


def test_seeded_and_deterministic():
    X = mixture(n=1500).astype(np.float32)
    a = greedy_kmeans_plusplus(X, 20, 11)[1]
    np.testing.assert_array_equal(a, greedy_kmeans_plusplus(X, 20, 11)[1])
    np.testing.assert_array_equal(
        a, greedy_kmeans_plusplus(X, 20, np.random.RandomState(11))[1])
    assert not np.array_equal(a, greedy_kmeans_plusplus(X, 20, 12)[1])
    before = X.copy()
    greedy_kmeans_plusplus(X, 20, 0)
    np.testing.assert_array_equal(X, before)  # centring works on a copy


def test_edge_cases_and_bad_input():
    X = np.ones((5, 3), dtype=np.float32)  # all points equal: potential 0
    _, idx = greedy_kmeans_plusplus(X, 3, 0)
    assert idx.shape == (3,) and (idx >= 0).all() and (idx < 5).all()
    _, idx = greedy_kmeans_plusplus(mixture(n=10).astype(np.float32), 10, 0)
    assert sorted(idx.tolist()) == list(range(10))  # K = n takes every point
    with pytest.raises(ValueError, match="n_clusters"):
        greedy_kmeans_plusplus(X, 6, 0)
    with pytest.raises(ValueError, match="float32 or float64"):
        greedy_kmeans_plusplus(X.astype(np.int64), 2, 0)
    with pytest.raises(ValueError, match="n_local_trials"):
        greedy_kmeans_plusplus(X, 2, 0, n_local_trials=0)


def test_kmeans_seeds_float32_input_with_the_fast_path():
    X = mixture(n=1200, k=15, d=16, seed=3).astype(np.float32)
    d = il.get_discoverer("kmeans", n_clusters=15, init_size=500, random_state=4).fit(X)
    rng = np.random.default_rng(4)
    sample = X[np.sort(rng.choice(1200, size=500, replace=False))]
    centers, _ = greedy_kmeans_plusplus(sample, 15, int(rng.integers(2**31 - 1)))
    ref = KMeans(15, init=centers, n_init=1).fit(X)
    np.testing.assert_array_equal(d.labels_, ref.labels_)
    assert d.cluster_centers_.dtype == np.float32


def test_kmeans_keeps_scikit_learns_seeding_for_float64_input():
    X = mixture(n=1200, k=15, d=16, seed=3)
    d = il.get_discoverer("kmeans", n_clusters=15, init_size=500, random_state=4).fit(X)
    rng = np.random.default_rng(4)
    sample = X[np.sort(rng.choice(1200, size=500, replace=False))]
    centers, _ = kmeans_plusplus(sample, 15, random_state=int(rng.integers(2**31 - 1)))
    ref = KMeans(15, init=centers, n_init=1).fit(X)
    np.testing.assert_array_equal(d.labels_, ref.labels_)
    np.testing.assert_array_equal(d.cluster_centers_, ref.cluster_centers_)
    # n <= init_size: exactly scikit-learn's KMeans (the documented guarantee)
    full = il.get_discoverer("kmeans", n_clusters=15, random_state=4).fit(X)
    np.testing.assert_array_equal(full.labels_, KMeans(15, n_init=1, random_state=4)
                                  .fit(X).labels_)
