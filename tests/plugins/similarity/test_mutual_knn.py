"""Mutual k-nearest-neighbour alignment (Huh et al. 2024, §2): exact against a plain
full-matrix reference for every block size, the index tie rule, near-ties below float32
resolution, errors, the contract, and `compare` / `run` on stores and files."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import interlingua as il
from interlingua.cli import main
from interlingua.core.errors import InputError
from interlingua.core.store import ActivationStore, SentenceRecord
from interlingua.plugins.similarity import mutual_knn as mk
from interlingua.plugins.similarity.cli import compare
from interlingua.plugins.similarity.compare import compare_layers, metric_label
from interlingua.registry.manager import DEFAULT_PLUGINS
from interlingua.testing import check_metric


# -- slow, obvious references ---------------------------------------------------------
def ref_knn(X, k, pairwise=False):
    """Full n×n cosine matrix, self excluded, stable argsort (ties to the lower index).
    ``pairwise`` computes each cosine as an elementwise sum (bitwise equal for
    duplicate rows), else with one matrix product."""
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = (U[:, None, :] * U[None, :, :]).sum(-1) if pairwise else U @ U.T
    np.fill_diagonal(S, -np.inf)
    return np.argsort(-S, axis=1, kind="stable")[:, :k]


def ref_mutual_knn(X, Y, k, pairwise=False):
    A, B = ref_knn(X, k, pairwise), ref_knn(Y, k, pairwise)
    per = np.array([len(set(a) & set(b)) / k for a, b in zip(A, B)])
    return per.mean(), per


def knn(X, k, block):
    return mk.knn_indices(mk.unit_rows_checked(X), k, block=block)


def _data(seed=0, n=203, p=12, q=9, noise=1.0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, p))
    X = Z + noise * rng.normal(size=(n, p))
    Y = Z @ rng.normal(size=(p, q)) / np.sqrt(p) + noise * rng.normal(size=(n, q))
    return X, Y


# -- the definition -------------------------------------------------------------------
# Angles 0°, 45°, 90°, 135°, 180° in X; items 1 and 2 swap places in Y.
HAND_X = np.array([[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0]], dtype=float)
HAND_Y = np.array([[1, 0], [0, 1], [1, 1], [-1, 1], [-1, 0]], dtype=float)


def test_hand_computed_example():
    # k=2: N_X = {1,2} {0,2} {1,3} {2,4} {3,2}; N_Y = {2,1} {2,3} {0,1} {1,4} {3,1}
    res = il.get_metric("mutual-knn", k=2)(HAND_X, HAND_Y)
    np.testing.assert_array_equal(res.per_unit, [1, 0.5, 0.5, 0.5, 0.5])
    assert res.value == pytest.approx(0.6)
    assert res.details == {"n": 5, "k": 2, "chance": 0.5}
    assert res.metric == "mutual-knn" and res.params == {"k": 2, "block": 2048}


def test_exact_ties_go_to_the_lower_index():
    # k=1: items 1, 2, 3 of X have two neighbours 45° away (exactly equal cosines).
    for block in (1, 2, 3, 100):
        np.testing.assert_array_equal(knn(HAND_X, 1, block).ravel(), [1, 0, 1, 2, 3])
        np.testing.assert_array_equal(knn(HAND_Y, 1, block).ravel(), [2, 2, 0, 1, 3])
        np.testing.assert_array_equal(knn(HAND_X, 2, block),
                                      [[1, 2], [0, 2], [1, 3], [2, 4], [3, 2]])
    res = il.get_metric("mutual-knn", k=1, block=2)(HAND_X, HAND_Y)
    np.testing.assert_array_equal(res.per_unit, [0, 0, 0, 0, 1])
    assert res.value == pytest.approx(0.2)


@pytest.mark.parametrize("k", [1, 5, 17])
@pytest.mark.parametrize("block", [7, 64, 1000])  # < n and not dividing it; > n
def test_matches_full_matrix_reference(k, block):
    X, Y = _data()
    np.testing.assert_array_equal(knn(X, k, block), ref_knn(X, k))
    np.testing.assert_array_equal(knn(Y, k, block), ref_knn(Y, k))
    res = il.get_metric("mutual-knn", k=k, block=block)(X, Y)
    value, per = ref_mutual_knn(X, Y, k)
    np.testing.assert_array_equal(res.per_unit, per)
    assert res.value == pytest.approx(value, abs=1e-15)
    assert k / (len(X) - 1) < res.value < 1


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 70), p=st.integers(1, 9),
       k=st.integers(1, 69), block=st.integers(1, 80))
def test_any_shape_k_and_block(seed, n, p, k, block):
    k = min(k, n - 1)
    X = np.random.default_rng(seed).normal(size=(n, p))
    # p == 1 makes every cosine ±1: nothing but ties.
    np.testing.assert_array_equal(knn(X, k, block), ref_knn(X, k, pairwise=True))


def test_k_equal_n_minus_1_is_everything():
    X, Y = _data(n=30)
    assert il.get_metric("mutual-knn", k=29)(X, Y).value == 1.0


@pytest.mark.parametrize("block", [5, 64, 500])
def test_near_ties_below_float32_resolution(block):
    """Rows 1e-9 apart cannot be told apart by float32 products; the float64 rescoring
    must still give the float64 ranking, for every block size."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(240, 16))
    X[120:] = X[:120] + 1e-9 * rng.normal(size=(120, 16))
    for k in (1, 4, 11):
        np.testing.assert_array_equal(knn(X, k, block), ref_knn(X, k))


@pytest.mark.parametrize("block", [4, 64, 500])
def test_exact_duplicates_use_the_crowded_pass(block, monkeypatch):
    """Twenty distinct rows, 300 draws (~15 copies each): with k=2 every row has more
    exactly tied neighbours than the 12 candidates kept, so the second pass collects
    them all; with k=9 (26 kept) the first pass suffices."""
    rng = np.random.default_rng(4)
    base = rng.normal(size=(20, 6))
    X = base[rng.integers(0, 20, size=300)]
    crowded = []
    pairs_above = mk._pairs_above
    monkeypatch.setattr(mk, "_pairs_above",
                        lambda U32, rows, *a: crowded.append(rows) or pairs_above(U32, rows, *a))
    for k in (2, 9):
        np.testing.assert_array_equal(knn(X, k, block), ref_knn(X, k, pairwise=True))
    assert crowded


def test_every_row_crowded(monkeypatch):
    """With no slack (m = k), every row takes the second pass; same result."""
    X, _ = _data(seed=5, n=150)
    monkeypatch.setattr(mk, "_EXTRA_CANDIDATES", -5)
    np.testing.assert_array_equal(knn(X, 5, 32), ref_knn(X, 5))


def test_float32_margin_bounds_the_float32_error():
    rng = np.random.default_rng(6)
    for p in (3, 384, 4096):
        U = mk.unit_rows_checked(rng.normal(size=(300, p)) + 0.3)
        exact = U @ U.T
        approx = U.astype(np.float32) @ U.astype(np.float32).T
        assert np.abs(approx - exact).max() < mk.float32_margin(p) / 2


# -- invariances ----------------------------------------------------------------------
def test_invariances_and_symmetry():
    X, Y = _data(seed=7)
    metric = il.get_metric("mutual-knn", k=8, block=50)
    base = metric(X, Y)
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.normal(size=(X.shape[1], X.shape[1])))[0]
    same = [
        (X * rng.uniform(0.1, 10, size=(len(X), 1)), Y),  # per-row positive scaling
        (X, Y * rng.uniform(0.1, 10, size=(len(Y), 1))),
        (X @ Q, Y),  # rotation of one space alone
        (X[:, rng.permutation(X.shape[1])], Y),  # neurons of one space permuted
        (3 * X, 0.2 * Y),
    ]
    for Xt, Yt in same:
        res = metric(Xt, Yt)
        assert res.value == base.value
        np.testing.assert_array_equal(res.per_unit, base.per_unit)
    assert metric(Y, X).value == base.value
    perm = rng.permutation(len(X))
    np.testing.assert_array_equal(metric(X[perm], Y[perm]).per_unit, base.per_unit[perm])
    assert metric(X + 3.0, Y).value != base.value  # cosine is not translation invariant
    assert {"orthogonal", "isotropic_scaling", "permutation", "joint_permutation",
            "row_permutation"} == metric.invariances
    assert "translation" not in metric.invariances and metric.symmetric


def test_identical_and_unrelated_spaces():
    X, _ = _data(seed=8, n=400)
    metric = il.get_metric("mutual-knn", k=10)
    assert metric(X, X).value == 1.0
    noise = np.random.default_rng(9).normal(size=X.shape)
    res = metric(X, noise)
    assert res.value < 5 * res.details["chance"] + 0.02


# -- errors ---------------------------------------------------------------------------
def test_bad_input():
    X, Y = _data(n=20)
    for k in (0, 20, 25, -1):
        with pytest.raises(InputError, match=r"k must be between 1 and n - 1 = 19 "):
            il.get_metric("mutual-knn", k=k)(X, Y)
    with pytest.raises(InputError, match="block must be"):
        il.get_metric("mutual-knn", block=0)(X, Y)
    with pytest.raises(InputError, match="expected int"):
        il.get_metric("mutual-knn", k=2.5)
    Z = X.copy()
    Z[[3, 7]] = 0.0
    with pytest.raises(InputError, match=r"^X: 2 all-zero row\(s\) \(3, 7\)"):
        il.get_metric("mutual-knn")(Z, Y)
    with pytest.raises(InputError, match=r"^Y: 2 all-zero row"):
        il.get_metric("mutual-knn")(Y, Z)
    with pytest.raises(InputError, match="same number of rows"):
        il.get_metric("mutual-knn")(X, Y[:-1])
    with pytest.raises(InputError, match="at least 2"):
        il.get_metric("mutual-knn", k=1)(X[:1], Y[:1])
    Z = X.copy()
    Z[4, 1] = np.nan
    with pytest.raises(InputError, match=r"NaN or infinite values in 1 row\(s\) \(4\)"):
        il.get_metric("mutual-knn")(Z, Y)
    with pytest.raises(InputError, match="k must be between 1 and n - 1 = 19, got 0"):
        mk.knn_indices(mk.unit_rows_checked(X), 0)
    with pytest.raises(InputError) as exc:
        il.get_metric("mutual-knn", k=50)(X, Y)
    assert "\n" not in str(exc.value)  # one line


def test_extreme_magnitudes_do_not_overflow():
    X, Y = _data(n=60)
    base = il.get_metric("mutual-knn", k=5)(X, Y).value
    assert il.get_metric("mutual-knn", k=5)(X * 1e300, Y * 1e-300).value == base


# -- registration, contract, drivers ---------------------------------------------------
def test_registered_as_builtin():
    assert "interlingua.plugins.similarity.mutual_knn" in DEFAULT_PLUGINS
    assert "mutual-knn" in {p.name for p in il.list_plugins() if p.kind == "metric"}
    assert metric_label(il.get_metric("mutual-knn", k=5)) == "mutual-knn[k=5]"
    assert not il.get_metric("mutual-knn").supports_streaming


@pytest.mark.parametrize("kw", [{}, {"k": 1, "block": 7}, {"k": 30, "block": 1000}])
def test_contract(kw):
    check_metric(il.get_metric("mutual-knn", **kw))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """en/es sentences paired by pair_id (es stored in shuffled order), 3 layers."""
    path = tmp_path_factory.mktemp("mknn") / "par.h5"
    rng = np.random.default_rng(0)
    n, d = 90, 6
    shared = rng.normal(size=(3, n, d))
    truth = {str(k): {lang: (shared[k] + (2.0, 0.3, 1.0)[k] * rng.normal(size=(n, d)))
                      .astype(np.float32) for lang in ("en", "es")} for k in range(3)}
    order = {"en": np.arange(n), "es": rng.permutation(n)}
    with ActivationStore.create(path, model="toy", extractor="test") as st_:
        recs = [SentenceRecord([f"{lang}{i}"], lang, pair_id=int(i), target=0)
                for lang in ("en", "es") for i in order[lang]]
        rows = {k: np.concatenate([truth[k][lang][order[lang]] for lang in ("en", "es")])
                for k in truth}
        st_.append(recs, {k: {"sentences": v, "words": v} for k, v in rows.items()})
        st_.finalize()
    return path, truth


def test_compare_layers(store):
    path, truth = store
    cmp = compare_layers(path, metrics=["mutual-knn:k=5,block=16", "mutual-knn", "anc"],
                         lang_a="en", lang_b="es")
    assert cmp.labels == ["mutual-knn[k=5,block=16]", "mutual-knn", "anc"]
    for layer in cmp.layers:
        X = truth[layer]["en"].astype(np.float64)
        Y = truth[layer]["es"].astype(np.float64)
        for label, k in (("mutual-knn[k=5,block=16]", 5), ("mutual-knn", 10)):
            value, _ = ref_mutual_knn(X, Y, k)
            assert cmp.results[label][layer].value == pytest.approx(value, abs=1e-15)
    values = cmp.values("mutual-knn")
    assert values[1] > values[2] > values[0]  # layer 1 shares most


def test_compare_command_and_run(store, tmp_path, capsys):
    path, truth = store
    out = tmp_path / "r.json"
    res = CliRunner().invoke(compare, [str(path), "-m", "mutual-knn:k=5", "-m", "cka",
                                       "--permutations", "9", "--out", str(out),
                                       "--no-plot"])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    r = data["results"]["mutual-knn[k=5]"]["1"]
    assert r["params"] == {"k": 5, "block": 2048} and r["pvalue"] == pytest.approx(0.1)
    assert main(["compare", str(path), "-m", "mutual-knn:k=90", "--no-plot"]) != 0
    err = capsys.readouterr().err
    assert "k must be between 1 and n - 1 = 89 (90 paired rows), got 90" in err
    out = tmp_path / "run.json"
    assert main(["run", "mutual-knn", f"{path}:1@en", f"{path}:1@es", "--param", "k=5",
                 "--out", str(out)]) == 0
    value, _ = ref_mutual_knn(truth["1"]["en"].astype(float), truth["1"]["es"].astype(float), 5)
    assert json.loads(out.read_text())["value"] == pytest.approx(value, abs=1e-15)
