"""In-memory moment metrics on float32 input (issue 15): no float64 copy of the input
(peak traced by ``tracemalloc``, which sees numpy's allocations), the float64 input's
value per metric (float32 products only for linear CKA, within 1e-6), NaN refused
wherever it sits, other metrics still get float64 rows."""

import tracemalloc
from typing import ClassVar

import numpy as np
import pytest

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.result import MetricResult
from interlingua.core.validation import check_paired
from interlingua.plugins.similarity import moments
from interlingua.plugins.similarity.cka import _linear_from_moments
from interlingua.plugins.similarity.moments import Moments, merge_requirements

N, DIM = 60_000, 256

#: name, params, |float32 input − float64 input| allowed. Only linear CKA multiplies in
#: float32; every other metric folds float32 blocks in float64 (the same arithmetic).
METRICS = [
    ("anc", {}, 1e-12),
    ("cka", {}, 1e-6),
    ("cka", {"debiased": True}, 1e-12),
    ("cca", {}, 1e-12),
    ("svcca", {}, 1e-12),
    ("pwcca", {}, 1e-12),
    ("procrustes", {}, 1e-12),
]
IDS = [name + "".join(f"-{k}" for k in params) for name, params, _ in METRICS]


def _rows(n: int, d: int, seed: int, kind: str = "plain") -> tuple[np.ndarray, np.ndarray]:
    """float32 paired rows: Y = X·A + noise; ``"outliers"`` adds a decaying spectrum, a
    few huge-mean neurons and a rotation (transformer-like activations)."""
    rng = np.random.default_rng(seed)
    if kind == "outliers":
        spectrum = 3 * np.exp(-np.arange(d) / 30) + 0.05
        X = rng.normal(size=(n, d)) * spectrum
        X[:, :3] = X[:, :3] * 20 + 100
        X = X @ np.linalg.qr(rng.normal(size=(d, d)))[0]
        Y = 0.3 * X @ rng.normal(size=(d, d)) / np.sqrt(d) + rng.normal(size=(n, d)) - 7
    else:
        X = rng.normal(size=(n, d)) + 0.5
        Y = X @ rng.normal(size=(d, d)) / np.sqrt(d) + 1.5 * rng.normal(size=(n, d))
    return X.astype(np.float32), Y.astype(np.float32)


@pytest.fixture(scope="module")
def rows32():
    return _rows(N, DIM, 0)


def _peak(fn) -> tuple[int, object]:
    """Peak bytes traced while ``fn()`` runs (allocations made before do not count)."""
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, out


# -- memory ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "params", "tol"), METRICS, ids=IDS)
def test_peak_stays_below_the_input_size(rows32, name, params, tol):
    """Input + everything the call allocates < 2 × the input (it was ~4.8× for CKA:
    float64 copies of X and Y, then another in Moments.update)."""
    X, Y = rows32
    metric = il.get_metric(name, **params)
    size = X.nbytes + Y.nbytes
    peak, result = _peak(lambda: metric(X, Y))
    assert np.isfinite(result.value)
    assert peak < size, f"{name}: traced peak {peak / size:.2f}× the input"


@pytest.mark.parametrize("old", ["float64 inputs", "one block"])
def test_bound_fails_for_the_old_path(rows32, monkeypatch, old):
    """The bound catches a full-size float64 copy: what validation gave every metric
    before, and what Moments.update made of a whole chunk before it used blocks."""
    X, Y = rows32
    size = X.nbytes + Y.nbytes
    if old == "float64 inputs":
        peak, _ = _peak(lambda: check_paired(X, Y))
    else:
        monkeypatch.setattr(moments, "BLOCK_ELEMENTS", 1 << 40)
        peak, _ = _peak(lambda: il.get_metric("anc")(X, Y))
    assert peak >= size


# -- values ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "params", "tol"), METRICS, ids=IDS)
def test_float32_input_equals_the_float64_input(rows32, name, params, tol):
    X, Y = (a[:20_000] for a in rows32)
    metric = il.get_metric(name, **params)
    got = metric(X, Y)
    want = metric(X.astype(np.float64), Y.astype(np.float64))
    assert abs(got.value - want.value) <= tol
    if want.per_unit is not None:
        np.testing.assert_allclose(got.per_unit, want.per_unit, rtol=0, atol=max(tol, 1e-12))


HARD = [(300, 64, "outliers"), (2000, 256, "outliers"), (20, 768, "plain"), (300, 64, "plain")]


@pytest.mark.parametrize(("name", "params", "tol", "n", "d", "kind"), [
    (*metric, *data) for metric in METRICS for data in HARD
    if not (metric[0] in ("cca", "pwcca") and data[0] <= data[1])])  # CCA: n > d only
def test_float32_agreement_on_hard_inputs(name, params, tol, n, d, kind):
    """Ill-conditioned, offset and wide inputs: the same tolerances hold."""
    X, Y = _rows(n, d, 3, kind)
    metric = il.get_metric(name, **params)
    got = metric(X, Y).value
    want = metric(X.astype(np.float64), Y.astype(np.float64)).value
    assert abs(got - want) <= tol


def test_debiased_cka_would_not_survive_float32_products():
    """Why debiased CKA keeps float64 products: its terms cancel by ~d/n."""
    X, Y = _rows(5, 768, 1)
    want = il.get_metric("cka", debiased=True)(X.astype(np.float64), Y.astype(np.float64))
    single = Moments(cross="full", fourth=True, products="input").update(X, Y)
    assert abs(_linear_from_moments(single, True).value - want.value) > 1e-6
    assert abs(il.get_metric("cka", debiased=True)(X, Y).value - want.value) < 1e-12


@pytest.mark.parametrize(("name", "params", "tol"), METRICS, ids=IDS)
def test_blocks_leave_float64_results_unchanged(monkeypatch, name, params, tol):
    """float64 input folded in 7-row blocks equals one block (the old update) to 1e-12."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 9)) * [1, 2, 3, 4, 5, 6, 7, 8, 9] + 1e3
    Y = X @ rng.normal(size=(9, 9)) + rng.normal(size=(400, 9)) - 40
    metric = il.get_metric(name, **params)
    monkeypatch.setattr(moments, "BLOCK_ELEMENTS", 1 << 40)
    whole = metric(X, Y)
    monkeypatch.setattr(moments, "BLOCK_ELEMENTS", 7 * 9)
    blocked = metric(X, Y)
    assert blocked.value == pytest.approx(whole.value, rel=1e-12, abs=1e-12)
    if whole.per_unit is not None:
        np.testing.assert_allclose(blocked.per_unit, whole.per_unit, rtol=1e-12, atol=1e-12)


def test_shared_moments_multiply_in_float32_only_if_all_metrics_allow():
    assert merge_requirements({"products": "input"}, {"cross": "full"})["products"] == \
        "float64"
    assert merge_requirements({"products": "input"}, {"products": "input"})["products"] == \
        "input"
    # a float32 chunk after a float64 one keeps the non-float32 shift: float64 products
    X, Y = _rows(50, 4, 2)
    mixed = Moments(products="input").update(X[:20].astype(np.float64), Y[:20])
    mixed.update(X[20:], Y[20:])
    exact = Moments().update(X.astype(np.float64), Y.astype(np.float64))
    np.testing.assert_allclose(mixed.centered().cxy, exact.centered().cxy, rtol=1e-12)


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["X", "Y"])
@pytest.mark.parametrize(("name", "params", "tol"), METRICS, ids=IDS)
def test_nan_in_the_middle_of_a_block_is_refused(rows32, name, params, tol, side):
    """Finiteness is checked block by block; the message is the one of the whole-array
    check (every offending row counted, the first five listed)."""
    X, Y = (a[:40_000].copy() for a in rows32)
    bad = X if side == "X" else Y
    bad[20_011, 100] = np.nan
    bad[33_333, 0] = -np.inf
    message = f"{side}: contains NaN or infinite values in 2 row(s) (20011, 33333)"
    with pytest.raises(InputError) as err:
        il.get_metric(name, **params)(X, Y)
    assert str(err.value) == message
    with pytest.raises(InputError) as err:
        il.get_metric(name, **params)(X.astype(np.float64), Y.astype(np.float64))
    assert str(err.value) == message


class _DtypeSpy(Metric):
    """Records the dtype its compute() receives."""

    name: ClassVar[str] = "dtype-spy"
    seen: ClassVar[list] = []

    def compute(self, X: np.ndarray, Y: np.ndarray) -> MetricResult:
        type(self).seen.append((X.dtype, X))
        return MetricResult(value=0.0)


class _Float32Spy(_DtypeSpy):
    accepts_float32: ClassVar[bool] = True


def test_only_metrics_that_opt_in_get_float32():
    X32 = np.ones((6, 3), dtype=np.float32)
    _DtypeSpy.seen.clear()
    _DtypeSpy()(X32, X32)
    _Float32Spy()(X32, X32)
    _Float32Spy()(X32.astype(np.int64), X32)
    (off, _), (on, same), (ints, _) = _DtypeSpy.seen
    assert off == np.float64 and on == np.float32 and ints == np.float64
    assert same is X32  # no copy
    assert il.get_metric("cka").accepts_float32
    assert not il.get_metric("cka", kernel="rbf").accepts_float32
    for name in ("retrieval", "mutual-knn"):
        assert not il.get_metric(name).accepts_float32
