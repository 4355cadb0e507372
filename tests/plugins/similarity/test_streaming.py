"""compare_layers streams every metric offering the public Accumulator protocol (a
third-party one included): chunked updates, merges across Dask partitions, result();
metrics without an accumulator get the whole paired matrix."""

import contextlib
import types
from typing import ClassVar

import numpy as np
import pytest

import interlingua as il
from interlingua.core.errors import InputError, PluginError
from interlingua.core.interfaces import Accumulator, Metric
from interlingua.core.params import Param
from interlingua.core.result import MetricResult
from interlingua.core.store import ActivationStore, SentenceRecord
from interlingua.plugins.similarity.compare import compare_layers, pair_rows
from interlingua.plugins.similarity.moments import Moments, share_moments
from interlingua.plugins.similarity.streaming import AccumulatorSet
from interlingua.registry import get_registry, reset_registry

N, DIM, CHUNK = 120, 5, 16


class CrossMeanAccumulator(Accumulator):
    """Running sums of a third-party metric, recording every chunk it is given."""

    def __init__(self, scale: float) -> None:
        self.scale, self.total, self.n, self.width = scale, 0.0, 0, None
        self.chunks: list[int] = []
        self.dtypes: set[str] = set()
        self.merges = 0

    def update(self, x, y):
        self.chunks.append(x.shape[0])
        self.dtypes.add(str(x.dtype))
        self.total += float(np.einsum("ij,ij->", x, y))
        self.n += x.shape[0]
        self.width = x.shape[1]
        return self

    def merge(self, other):
        self.total += other.total
        self.n += other.n
        self.width = self.width or other.width
        self.chunks += other.chunks
        self.dtypes |= other.dtypes
        self.merges += 1 + other.merges
        return self

    def result(self):
        return MetricResult(value=self.scale * self.total / (self.n * self.width),
                            details={"chunks": list(self.chunks), "merges": self.merges,
                                     "dtypes": sorted(self.dtypes)})


class CrossMean(Metric):
    """Mean elementwise product of X and Y (a third-party paired metric)."""

    name = "test-cross-mean"
    params = (Param("scale", 1.0, "multiplier", float),)
    same_dim = True
    computed: ClassVar[list[int]] = []  # rows given to compute(): must stay empty

    def compute(self, X, Y):
        CrossMean.computed.append(X.shape[0])
        return MetricResult(value=self.scale * float(np.mean(X * Y)))

    def accumulator(self):
        return CrossMeanAccumulator(self.scale)


class WholeOnly(Metric):
    """A metric without an accumulator: compare gives it the whole paired matrix."""

    name = "test-whole-only"
    seen: ClassVar[list[int]] = []

    def compute(self, X, Y):
        WholeOnly.seen.append(X.shape[0])
        return MetricResult(value=float(np.mean(X) - np.mean(Y)))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """en/es sentences paired by pair_id (es stored in reverse order), two layers."""
    path = tmp_path_factory.mktemp("stream") / "par.h5"
    rng = np.random.default_rng(7)
    base = rng.normal(size=(2, N, DIM))
    order = {"en": np.arange(N), "es": np.arange(N)[::-1]}
    recs, layers = [], {str(k): {"sentences": [], "words": []} for k in range(2)}
    for lang in ("en", "es"):
        recs += [SentenceRecord([f"{lang}{i}"], lang, pair_id=int(i), target=0)
                 for i in order[lang]]
        for k in range(2):
            rows = (base[k] + (k + 0.5) * rng.normal(size=(N, DIM)))[order[lang]]
            layers[str(k)]["sentences"].append(rows.astype(np.float32))
            layers[str(k)]["words"].append(rows.astype(np.float32))
    with ActivationStore.create(path, model="toy", extractor="test") as st:
        st.append(recs, {k: {lv: np.concatenate(v) for lv, v in lvs.items()}
                         for k, lvs in layers.items()})
        st.finalize()
    return path


def in_memory(path, metric):
    """The metric on the whole paired matrices of each layer."""
    p = pair_rows(path, lang_a="en", lang_b="es")
    with ActivationStore.open(path) as st:
        return {layer: metric(st.layer(layer).read(p.rows_a).astype(np.float64),
                              st.layer(layer).read(p.rows_b).astype(np.float64)).value
                for layer in st.layers}


def test_third_party_accumulator_gets_chunks_never_a_layer(store):
    CrossMean.computed.clear()
    metric = CrossMean(scale=2.0)
    cmp = compare_layers(store, metrics=[metric, "anc"], lang_a="en", lang_b="es",
                         chunk_rows=CHUNK)
    assert CrossMean.computed == []  # the whole-matrix path was never taken
    expected = in_memory(store, metric)
    assert cmp.series == ["test-cross-mean[scale=2.0]", "anc"]
    for layer in cmp.layers:
        r = cmp.results["test-cross-mean[scale=2.0]"][layer]
        chunks = r.details["chunks"]
        assert len(chunks) == -(-N // CHUNK) and max(chunks) == CHUNK and sum(chunks) == N
        assert r.details["dtypes"] == ["float64"] and r.details["merges"] == 0
        assert r.value == pytest.approx(expected[layer], rel=1e-12)
        assert r.metric == "test-cross-mean" and r.params == {"scale": 2.0}
    anc = in_memory(store, il.get_metric("anc"))
    assert cmp.values("anc") == pytest.approx([anc[layer] for layer in cmp.layers], abs=1e-12)


@pytest.fixture
def registered():
    reset_registry()
    module = types.ModuleType("stream_test_plugins")

    @il.hookimpl
    def register_metrics(register):
        register(CrossMean)
        register(WholeOnly)

    module.register_metrics = register_metrics
    get_registry().register_module(module, provider="stream-tests", version="0.1")
    yield get_registry()
    reset_registry()


def test_registered_third_party_metrics_by_spec(store, registered):
    CrossMean.computed.clear()
    WholeOnly.seen.clear()
    cmp = compare_layers(store, metrics=["test-cross-mean:scale=3", "test-whole-only"],
                         lang_a="en", lang_b="es", chunk_rows=CHUNK)
    assert CrossMean.computed == []
    assert WholeOnly.seen == [N, N]  # no accumulator: one whole matrix per layer
    expected = in_memory(store, CrossMean(scale=3.0))
    whole = in_memory(store, WholeOnly())
    for layer in cmp.layers:
        assert cmp.results["test-cross-mean[scale=3.0]"][layer].value == \
            pytest.approx(expected[layer], rel=1e-12)
        assert cmp.results["test-whole-only"][layer].value == whole[layer]


def test_third_party_accumulators_merge_across_dask_partitions(store):
    distributed = pytest.importorskip("distributed")
    CrossMean.computed.clear()
    metric = CrossMean()
    local = compare_layers(store, metrics=[metric, "cka"], lang_a="en", lang_b="es",
                           chunk_rows=CHUNK)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = compare_layers(store, metrics=[metric, "cka"], lang_a="en", lang_b="es",
                                dask=client, partition_rows=40, chunk_rows=CHUNK)
    assert CrossMean.computed == []
    for layer in remote.layers:
        r = remote.results["test-cross-mean"][layer]
        assert r.details["merges"] == 2  # three partitions of 40 pairs, merged
        assert sum(r.details["chunks"]) == N and max(r.details["chunks"]) <= CHUNK
        assert r.value == pytest.approx(local.results["test-cross-mean"][layer].value,
                                        rel=1e-12)
    np.testing.assert_allclose(remote.values("cka"), local.values("cka"), atol=1e-12)


def test_builtin_moment_metrics_share_one_pass():
    metrics = [(m, il.get_metric(*m.split(":"))) for m in ("anc", "cka", "pwcca")]
    accs = AccumulatorSet(metrics)
    shared = {id(acc.moments) for acc in accs.accumulators}
    assert len(shared) == 1 and [acc.leads for acc in accs.accumulators] == [True, False,
                                                                             False]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    Y = X + rng.normal(size=(60, 4))
    for lo in range(0, 60, 25):
        accs.update(X[lo:lo + 25], Y[lo:lo + 25])
    assert accs.chunks == 3 and accs.accumulators[0].moments.n == 60  # folded in once
    for label, res in accs.results().items():
        assert res.value == pytest.approx(dict(metrics)[label](X, Y).value, abs=1e-10)
    with pytest.raises(ValueError, match="fresh"):
        share_moments(accs.accumulators)
    assert isinstance(accs.accumulators[1].moments, Moments)


def test_progress_protocol_and_on_layer(store):
    events = []

    class Step:
        def advance(self, steps=1, **fields):
            events.append(("advance", steps))

        def update(self, *, total=None, description=None):
            pass

    class Recorder:  # a Progress (interlingua.core.progress) that records its calls
        @contextlib.contextmanager
        def task(self, description, total=None, **fields):
            events.append(("task", description, total))
            yield Step()
            events.append(("end",))

    done = []
    compare_layers(store, metrics=["anc"], lang_a="en", lang_b="es", progress=Recorder(),
                   on_layer=done.append)
    assert events == [("task", f"comparing {N} paired sentences", 2), ("advance", 1),
                      ("advance", 1), ("end",)]
    assert done == ["0", "1"]


def test_bad_accumulator_and_layer_typo(store):
    class Broken(Metric):
        name = "test-broken"

        def accumulator(self):
            return object()

    with pytest.raises(PluginError, match="lacks update, merge, result"):
        compare_layers(store, metrics=[Broken()], lang_a="en", lang_b="es")
    with pytest.raises(InputError, match="did you mean '1'"):
        compare_layers(store, metrics=["anc"], lang_a="en", lang_b="es", layers=["11"])
