"""Layer-wise comparison over activation stores: pairing, streaming = in-memory,
significance, and the Dask path on a LocalCluster."""

import numpy as np
import pytest

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.core.store import ActivationStore, SentenceRecord
from interlingua.plugins.similarity.compare import compare_layers, metric_label, pair_rows

N_PAIRS, DIM, NOISE = 150, 6, (2.0, 0.3, 1.0)  # layer 1 is the most shared


def make_parallel_store(path, n_pairs=N_PAIRS, dim=DIM, seed=0, batch=40):
    """en/es sentences paired by pair_id (es rows in shuffled order), each with a
    flagged target word; layer k: es = en + NOISE[k] * noise."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(3, n_pairs, dim))
    own = {lang: rng.normal(size=(3, n_pairs, dim)) for lang in ("en", "es")}
    order = {"en": np.arange(n_pairs), "es": rng.permutation(n_pairs)}
    truth = {}
    with ActivationStore.create(path, model="toy", extractor="test") as st:
        records, rows = [], []
        for lang in ("en", "es"):
            for pid in order[lang]:
                n_words = 2 + pid % 3
                records.append(SentenceRecord([f"{lang}{pid}_{j}" for j in range(n_words)],
                                              lang, pair_id=int(pid), target=int(pid % 2)))
                rows.append((lang, pid, n_words))
        for k in range(3):
            truth[str(k)] = {lang: shared[k] + NOISE[k] * own[lang][k] for lang in ("en", "es")}
        for start in range(0, len(records), batch):
            recs, meta = records[start:start + batch], rows[start:start + batch]
            layers = {}
            for k in range(3):
                sent = np.stack([truth[str(k)][lang][pid] for lang, pid, _ in meta])
                words = np.concatenate([
                    np.stack([truth[str(k)][lang][pid] + (0 if j == pid % 2 else 5.0 + j)
                              for j in range(nw)]) for lang, pid, nw in meta])
                layers[str(k)] = {"sentences": sent.astype(np.float32),
                                  "words": words.astype(np.float32)}
            st.append(recs, layers)
        st.finalize()
    return truth


@pytest.fixture(scope="module")
def parallel_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("cmp") / "par.h5"
    truth = make_parallel_store(path)
    return path, truth


def test_pairing_of_two_languages(parallel_store):
    path, _ = parallel_store
    p = pair_rows(path, lang_a="en", lang_b="es")
    assert p.n == N_PAIRS and p.how == "pair_id"
    with ActivationStore.open(path) as st:
        pid = st.sentences.pair_id
        np.testing.assert_array_equal(pid[p.rows_a], pid[p.rows_b])
    p = pair_rows(path, level="words")  # the two languages are found automatically
    assert p.how == "target words" and p.n == N_PAIRS


def test_sentence_comparison_equals_in_memory_metrics(parallel_store):
    path, truth = parallel_store
    metrics = ["anc", "cka", "cka:debiased=true", "cca", "svcca:dims=3", "pwcca",
               "procrustes", "retrieval", "cka:kernel=rbf"]
    cmp = compare_layers(path, metrics=metrics, lang_a="en", lang_b="es", chunk_rows=17)
    assert cmp.layers == ["0", "1", "2"]
    assert cmp.labels[2] == "cka[debiased=True]"
    for layer in cmp.layers:
        X = truth[layer]["en"].astype(np.float32).astype(np.float64)
        Y = truth[layer]["es"].astype(np.float32).astype(np.float64)
        for spec, label in zip(metrics, cmp.labels):
            from interlingua.plugins.similarity.compare import parse_metric_spec

            expected = parse_metric_spec(spec)(X, Y).value
            assert cmp.results[label][layer].value == pytest.approx(expected, abs=1e-9), label
    anc = cmp.values("anc")
    assert anc[1] > anc[2] > anc[0]  # the planted "first align, then predict" shape
    rows = cmp.rows()
    assert len(rows) == 3 * len(metrics)
    d = cmp.to_dict()
    assert d["n"] == N_PAIRS and d["results"]["anc"]["1"]["metric"] == "anc"


def test_word_level_uses_target_words(parallel_store):
    path, truth = parallel_store
    cmp = compare_layers(path, metrics=["anc"], level="words", layers=["1"])
    X = truth["1"]["en"].astype(np.float32).astype(np.float64)
    Y = truth["1"]["es"].astype(np.float32).astype(np.float64)
    assert cmp.values("anc")[0] == pytest.approx(il.get_metric("anc")(X, Y).value, abs=1e-9)


def test_two_stores_row_by_row_and_by_language(tmp_path, parallel_store):
    path, _truth = parallel_store
    other = tmp_path / "other.h5"
    make_parallel_store(other, seed=0)
    same = compare_layers(path, other, metrics=["cka"], level="words")
    assert same.info["pairing"] == "row order"
    assert all(v == pytest.approx(1.0) for v in same.values("cka"))
    cross = compare_layers(path, other, metrics=["anc"], lang_a="en", lang_b="es")
    single = compare_layers(path, metrics=["anc"], lang_a="en", lang_b="es")
    np.testing.assert_allclose(cross.values("anc"), single.values("anc"), atol=1e-12)
    words = compare_layers(path, other, metrics=["anc"], lang_a="es", level="words")
    assert words.info["pairing"] == "pair_id, word by word"


def test_significance_columns(parallel_store):
    path, _ = parallel_store
    cmp = compare_layers(path, metrics=["anc", "procrustes"], lang_a="en", lang_b="es",
                         n_permutations=30, n_bootstrap=30, significance_rows=80, seed=3)
    for label in cmp.labels:
        for layer in cmp.layers:
            r = cmp.results[label][layer]
            assert r.pvalue is not None and 0 < r.pvalue <= 1
            assert r.ci is not None and r.ci[0] <= r.ci[1]
            assert r.details["permutation"]["rows"] == 80
    assert cmp.results["anc"]["1"].pvalue == pytest.approx(1 / 31)
    again = compare_layers(path, metrics=["anc"], lang_a="en", lang_b="es", n_bootstrap=30,
                           significance_rows=80, seed=3)
    assert again.results["anc"]["1"].ci == cmp.results["anc"]["1"].ci


def test_dask_local_cluster_matches_local(parallel_store):
    distributed = pytest.importorskip("distributed")
    path, _ = parallel_store
    metrics = ["anc", "cka:debiased=true", "pwcca"]
    local = compare_layers(path, metrics=metrics, lang_a="en", lang_b="es")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = compare_layers(path, metrics=metrics, lang_a="en", lang_b="es", dask=client,
                                partition_rows=40, chunk_rows=16)
    for label in local.labels:
        np.testing.assert_allclose(remote.values(label), local.values(label), atol=1e-10)


def test_errors(parallel_store, tmp_path):
    path, _ = parallel_store
    with pytest.raises(InputError, match="paired metrics"):
        compare_layers(path, metrics=["superexact"])
    with pytest.raises(InputError, match="no parameter"):
        compare_layers(path, metrics=["cka:kernal=rbf"])
    with pytest.raises(InputError, match="not in both stores"):
        compare_layers(path, metrics=["anc"], layers=["7"])
    with pytest.raises(InputError, match="level"):
        compare_layers(path, metrics=["anc"], level="tokens")
    with pytest.raises(InputError, match="fr"):
        compare_layers(path, metrics=["anc"], lang_a="en", lang_b="fr")
    with pytest.raises(InputError, match="max_memory_gb"):
        compare_layers(path, metrics=["retrieval"], max_memory_gb=1e-6)
    with pytest.raises(InputError, match="given twice"):
        compare_layers(path, metrics=["anc", "anc"])
    # no targets → clear message at word level
    plain = tmp_path / "plain.h5"
    with ActivationStore.create(plain, model="toy", extractor="test") as st:
        recs = [SentenceRecord(["a", "b"], "en", pair_id=0), SentenceRecord(["c"], "es", pair_id=0),
                SentenceRecord(["d"], "en", pair_id=1), SentenceRecord(["e"], "es", pair_id=1)]
        st.append(recs, {"0": {"sentences": np.eye(4, 3, dtype=np.float32),
                               "words": np.ones((5, 3), dtype=np.float32)}})
        st.finalize()
    with pytest.raises(InputError, match="target"):
        compare_layers(plain, metrics=["anc"], level="words")


def test_metric_label():
    assert metric_label(il.get_metric("cka")) == "cka"
    assert metric_label(il.get_metric("retrieval", method="csls", k=5)) == \
        "retrieval[method=csls,k=5]"
