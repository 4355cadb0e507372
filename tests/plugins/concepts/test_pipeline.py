"""Concept discovery per layer, frequency filter, concept files, ConceptX, CALIGN/COLAP drivers."""

import hashlib

import numpy as np
import pytest

import interlingua as il
from interlingua.core.errors import FormatError, InputError, StoreError
from interlingua.core.store import ActivationStore, SentenceRecord
from interlingua.plugins.concepts.pipeline import (
    FrequencyFilter,
    calign_layers,
    colap_layers,
    default_concepts_path,
    discover_concepts,
    discover_layer,
    export_conceptx,
    list_runs,
    load_concepts,
    occurrence_numbers,
    read_conceptx,
    save_concepts,
)

N_CONCEPTS, WORDS_PER_CONCEPT, DIM = 6, 7, 16


def make_store(path, n_pairs=90, seed=0):
    """en/de parallel store. Layer "1": words of one concept (and their translations)
    share a centre -> aligned and overlapping concepts. Layer "0": a random vector per
    word type plus a large per-language offset -> lexical, language-specific clusters."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(N_CONCEPTS, DIM)) * 10
    offsets = {"en": rng.normal(size=DIM) * 40, "de": rng.normal(size=DIM) * 40}
    word_vec = {}
    with ActivationStore.create(path, model="synthetic", extractor="test", chunk_rows=64) as st:
        for start in range(0, n_pairs, 30):
            records, rows0, rows1 = [], [], []
            for p in range(start, min(start + 30, n_pairs)):
                cs = rng.integers(0, N_CONCEPTS, 6)
                ks = rng.integers(0, WORDS_PER_CONCEPT, 6)
                for lang, prefix in (("en", "e"), ("de", "d")):
                    words = [f"{prefix}{c}_{k}" for c, k in zip(cs, ks)]
                    records.append(SentenceRecord(words, lang, pair_id=p))
                    for w, c in zip(words, cs):
                        if w not in word_vec:
                            word_vec[w] = rng.normal(size=DIM) * 10
                        rows0.append(word_vec[w] + offsets[lang] + rng.normal(size=DIM) * 0.3)
                        rows1.append(centers[c] + rng.normal(size=DIM) * 0.5)
            n_sent = len(records)
            st.append(records, {
                "0": {"words": np.array(rows0), "sentences": np.zeros((n_sent, DIM))},
                "1": {"words": np.array(rows1), "sentences": np.zeros((n_sent, DIM))},
            })
        st.finalize()
    return path


def true_dictionary():
    return il.Dictionary.from_pairs(
        (f"e{c}_{k}", f"d{c}_{k}") for c in range(N_CONCEPTS) for k in range(WORDS_PER_CONCEPT))


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("concepts") / "acts.h5")


@pytest.fixture(scope="module")
def concept_file(store_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("cf") / "acts.concepts.h5"
    with ActivationStore.open(store_path) as st:
        discover_concepts(st, ["0", "1"], n_clusters=N_CONCEPTS, output=out,
                          freq_filter=FrequencyFilter(min_freq=2, max_freq=None))
        discover_concepts(st, ["0", "1"], n_clusters=N_CONCEPTS, output=out, mixed=True,
                          freq_filter=FrequencyFilter(min_freq=2, max_freq=None))
    return out


# -- frequency filter ------------------------------------------------------------------
def test_frequency_filter_hand_computed():
    words = ["a"] * 7 + ["b"] * 3 + ["c"] * 20
    keep = FrequencyFilter(min_freq=5, max_freq=None).select(words)
    assert keep.tolist() == list(range(7)) + list(range(10, 30))
    keep = FrequencyFilter(min_freq=5, max_freq=5, sample="first").select(words)
    assert keep.tolist() == list(range(5)) + list(range(10, 15))
    keep = FrequencyFilter(min_freq=3, max_freq=5, del_freq=19, sample="first").select(words)
    assert keep.tolist() == [0, 1, 2, 3, 4, 7, 8, 9]  # c (20 > 19) deleted, b (3 >= 3) kept
    keep = FrequencyFilter(min_freq=3, max_freq=5, del_freq=20, sample="first").select(words)
    assert 10 in keep.tolist()  # 20 occurrences is not *more* than del_freq = 20


def test_frequency_filter_random_sample_is_seeded():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in rng.integers(0, 30, 2000)]
    a = FrequencyFilter(min_freq=5, max_freq=10, seed=1).select(words)
    b = FrequencyFilter(min_freq=5, max_freq=10, seed=1).select(words)
    c = FrequencyFilter(min_freq=5, max_freq=10, seed=2).select(words)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    chosen = np.asarray(words, dtype=object)[a]
    _, counts = np.unique(chosen, return_counts=True)
    assert counts.max() == 10 and counts.size == 30
    assert np.all(np.diff(a) > 0)


def test_frequency_filter_types_are_word_and_language():
    words = ["die"] * 6 + ["die"] * 2
    langs = ["de"] * 6 + ["en"] * 2
    keep = FrequencyFilter(min_freq=3, max_freq=None).select(words, langs)
    assert keep.tolist() == list(range(6))
    assert FrequencyFilter(min_freq=3, max_freq=None).select(words).size == 8


def test_frequency_filter_bad_parameters():
    with pytest.raises(InputError):
        FrequencyFilter(min_freq=0)
    with pytest.raises(InputError):
        FrequencyFilter(min_freq=5, del_freq=3)
    with pytest.raises(InputError):
        FrequencyFilter(sample="middle")


def test_occurrence_numbers():
    assert occurrence_numbers(["a", "b", "a", "a", "b"]).tolist() == [0, 0, 1, 2, 1]
    assert occurrence_numbers(["a", "a"], ["en", "de"]).tolist() == [0, 0]


# -- discovery ---------------------------------------------------------------------------
def test_discover_layer_per_language(store_path):
    with ActivationStore.open(store_path) as st:
        run = discover_layer(st, "1", language="en", n_clusters=N_CONCEPTS,
                             freq_filter=FrequencyFilter(min_freq=1, max_freq=None))
        assert run.language == "en" and run.key == "en"
        np.testing.assert_array_equal(run.rows, st.word_rows("en"))
        np.testing.assert_array_equal(run.words, st.words.text[run.rows])
        np.testing.assert_array_equal(st.sentences.word_offsets[run.sentence] + run.token,
                                      run.rows)
        assert set(run.languages) == {"en"}
        assert run.centers.shape == (N_CONCEPTS, DIM)
        concepts = run.concepts
        # layer 1 groups exactly the words of each synthetic concept
        groups = sorted(sorted({w.split("_")[0] for w in concepts[c].types}) for c in concepts)
        assert groups == [[f"e{c}"] for c in range(N_CONCEPTS)]
        again = discover_layer(st, "1", language="en", n_clusters=N_CONCEPTS,
                               freq_filter=FrequencyFilter(min_freq=1, max_freq=None))
        np.testing.assert_array_equal(run.labels, again.labels)


def test_discover_layer_mixed_and_filter(store_path):
    with ActivationStore.open(store_path) as st:
        run = discover_layer(st, "1", n_clusters=N_CONCEPTS, discoverer="minibatch-kmeans",
                             freq_filter=FrequencyFilter(min_freq=3, max_freq=4, seed=3))
        assert run.language is None and run.key == "_mixed"
        assert set(run.languages) == {"en", "de"}
        _types, counts = np.unique([f"{lg}:{w}" for w, lg in zip(run.words, run.languages)],
                                  return_counts=True)
        assert counts.max() <= 4
        assert run.filter["max_freq"] == 4 and run.discoverer == "minibatch-kmeans"
        with pytest.raises(InputError, match="kept no occurrences"):
            discover_layer(st, "1", language="en", freq_filter=FrequencyFilter(min_freq=10_000))
        with pytest.raises(InputError, match="no sentences in language"):
            discover_layer(st, "1", language="xx")
        with pytest.raises(InputError, match="larger than the number of points"):
            discover_layer(st, "1", language="en", n_clusters=100_000,
                           freq_filter=FrequencyFilter(min_freq=1))


def test_agglomerative_and_template_instance(store_path):
    template = il.get_discoverer("agglomerative", n_clusters=4)
    with ActivationStore.open(store_path) as st:
        run = discover_layer(st, "1", language="de", discoverer=template, random_state=7,
                             freq_filter=FrequencyFilter(min_freq=1, max_freq=3))
    assert run.discoverer == "agglomerative" and run.n_clusters == 4
    assert "random_state" not in run.discoverer_params


# -- concept files ------------------------------------------------------------------------
def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_concept_file_round_trip_and_store_untouched(store_path, tmp_path):
    before = _digest(store_path)
    out = tmp_path / "c.h5"
    with ActivationStore.open(store_path) as st:
        runs = discover_concepts(st, ["1"], n_clusters=N_CONCEPTS, output=out,
                                 languages=["en", "de"])
        assert [r.key for r in runs] == ["en", "de"]
        with pytest.raises(StoreError, match="overwrite"):
            discover_concepts(st, ["1"], n_clusters=N_CONCEPTS, output=out)
        discover_concepts(st, ["1"], n_clusters=N_CONCEPTS, output=out, overwrite=True,
                          languages=["en"])
        with pytest.raises(StoreError, match="activation store"):
            save_concepts(store_path, runs[0], store=st)
    assert _digest(store_path) == before
    assert [(r["layer"], r["language"]) for r in list_runs(out)] == [("1", "de"), ("1", "en")]
    back = load_concepts(out, "1", "de")
    for key in ("rows", "labels", "sentence", "token", "occurrence", "centers"):
        np.testing.assert_array_equal(getattr(back, key), getattr(runs[1], key))
    np.testing.assert_array_equal(back.words, runs[1].words)
    assert back.filter == runs[1].filter
    assert back.discoverer_params == runs[1].discoverer_params
    assert back.inertia == pytest.approx(runs[1].inertia)
    with pytest.raises(StoreError, match="no concepts for layer"):
        load_concepts(out, "0", "de")
    with pytest.raises(StoreError, match="companion"):
        list_runs(store_path)


def test_default_companion_path():
    assert default_concepts_path("/x/acts.h5").name == "acts.concepts.h5"


def test_conceptx_export_and_read(concept_file, tmp_path):
    run = load_concepts(concept_file, "1", "en")
    path = export_conceptx(run, tmp_path / "clusters-1-en.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == run.rows.size
    word, occ, sent, tok, _cluster = lines[0].split("|||")
    assert word.startswith("e") and int(occ) >= 0 and int(sent) >= 0 and int(tok) >= 0
    clusters = [int(line.rsplit("|||", 1)[1]) for line in lines]
    assert clusters == sorted(clusters)  # grouped by cluster like ConceptX
    back = read_conceptx(path, language="en")
    original = run.concepts
    assert {c: back[c].types for c in back} == {c: original[c].types for c in original}
    assert back.languages == ["en"]


def test_read_conceptx_forms_and_errors(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("a|||0|||1|||2|||5\nb|||5\nx|||y|||0|||0|||0|||5\n", encoding="utf-8")
    c = read_conceptx(p)
    assert c[5].types == {"a", "b", "x|||y"}
    p.write_text("a|||0|||1|||2|||5\nb|||0|||zz\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"c\.txt:2"):
        read_conceptx(p)
    p.write_text("a|||0|||1|||5\n", encoding="utf-8")
    with pytest.raises(FormatError, match="2 or 5"):
        read_conceptx(p)
    p.write_bytes(b"a|||1\n\xff|||2\n")
    with pytest.raises(FormatError, match="UTF-8"):
        read_conceptx(p)


# -- layer-wise drivers ------------------------------------------------------------------------
def test_calign_layers(concept_file):
    res = calign_layers(concept_file, "en", "de", true_dictionary())
    assert res.layers == ["0", "1"]
    assert res.results["1"].value == pytest.approx(100.0)
    assert res.results["0"].value < 50.0  # lexical layer: random groupings of words
    rows = res.rows()
    assert rows[1]["layer"] == "1" and rows[1]["calign"] == pytest.approx(100.0)
    d = res.to_dict(full=False)
    assert "pairs" not in d["layers"]["1"]["details"]
    assert d["source"] == "en"
    ref = calign_layers(concept_file, "en", "de", true_dictionary(), ["1"], variant="reference")
    assert ref.layers == ["1"]
    cross = calign_layers(concept_file, "en", "de", true_dictionary(), ["1"],
                          target_layers=["0"])
    assert cross.layers == ["1->0"]
    with pytest.raises(StoreError, match="no concepts for fr"):
        calign_layers(concept_file, "en", "fr", true_dictionary())


def test_colap_layers(concept_file):
    res = colap_layers(concept_file)
    assert res.results["1"].value == pytest.approx(100.0)
    assert res.results["0"].value == pytest.approx(0.0)  # language offsets separate them
    assert "pair_de-en" in res.rows()[0]
    sub = colap_layers(concept_file, ["1"], languages=["en", "de"], theta=0.45)
    assert sub.layers == ["1"]
    with pytest.raises(StoreError, match="layer"):
        colap_layers(concept_file, ["7"])


def test_layerwise_drivers_return_the_core_result(concept_file):
    from interlingua.core.layerwise import LayerwiseResult
    from interlingua.plugins.concepts.pipeline import calign_layerwise, colap_layerwise

    res = calign_layerwise(concept_file, "en", "de", true_dictionary())
    assert isinstance(res, LayerwiseResult)
    assert res.series == ["en-de"] and res.layers == ["0", "1"]
    assert res.values() == calign_layers(concept_file, "en", "de", true_dictionary()).values
    assert res.best_layer() == "1" and res.meta["source"] == "en"
    col = colap_layerwise(concept_file)
    assert col.series == ["colap", "de-en"]
    assert col.values("colap") == pytest.approx([0.0, 100.0])
    pair = col.results["de-en"]["1"]
    assert pair.value == col.results["colap"]["1"].details["pairs"]["de-en"]["percent"]
    legacy = colap_layers(concept_file)
    assert legacy.layerwise.series == col.series and legacy.to_dict()["metric"] == "colap"


class _Recorder:
    """A Progress that records its tasks (the protocol of interlingua.core.progress)."""

    def __init__(self):
        self.tasks = []

    def task(self, description, total=None, **fields):
        import contextlib

        record = {"description": description, "total": total, "done": 0}
        self.tasks.append(record)

        class Task:
            def advance(self, steps=1, **fields):
                record["done"] += steps

            def update(self, *, total=None, description=None):
                pass

        return contextlib.nullcontext(Task())


def test_progress_protocol(store_path, concept_file, tmp_path):
    rec = _Recorder()
    with ActivationStore.open(store_path) as st:
        runs = discover_concepts(st, ["1"], n_clusters=N_CONCEPTS, progress=rec,
                                 freq_filter=FrequencyFilter(min_freq=2))
    assert rec.tasks == [{"description": "clustering", "total": 2, "done": 2}]
    assert sorted(r.key for r in runs) == ["de", "en"]
    calign_layers(concept_file, "en", "de", true_dictionary(), progress=rec)
    colap_layers(concept_file, ["1"], progress=rec)
    assert [(t["description"], t["done"]) for t in rec.tasks[1:]] == [("CALIGN", 2),
                                                                       ("COLAP", 1)]


def test_unknown_languages_get_a_suggestion(store_path, concept_file):
    with ActivationStore.open(store_path) as st:
        with pytest.raises(InputError, match="no sentences in language 'enn'.*did you mean 'en'"):
            discover_concepts(st, ["1"], languages=["de", "enn"])
    with pytest.raises(StoreError, match="did you mean 'de'"):
        calign_layers(concept_file, "en", "dee", true_dictionary())
    with pytest.raises(InputError, match="did you mean 'en'"):
        colap_layers(concept_file, ["1"], languages=["enn"])
