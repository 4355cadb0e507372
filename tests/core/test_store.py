import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from interlingua.core.errors import InputError, StoreError
from interlingua.core.store import ActivationStore, SentenceRecord, layer_sort_key

WRITER = Path(__file__).with_name("_writer.py")
sys.path.insert(0, str(WRITER.parent))
from _writer import batch  # noqa: E402


def _write(path, batches, **kw):
    store = ActivationStore.create(path, model="m", extractor="test", **kw)
    for records, layers in batches:
        store.append(records, layers)
    store.finalize()


def _records(n_words=(3, 2), langs=("en", "es"), pair_ids=(0, 0)):
    return [
        SentenceRecord([f"w{i}{k}" for k in range(n)], lang, pid)
        for i, (n, lang, pid) in enumerate(zip(n_words, langs, pair_ids))
    ]


def _layers(rng, n_words, n_sent, dim=4, names=("0", "1")):
    return {name: {"words": rng.normal(size=(n_words, dim)),
                   "sentences": rng.normal(size=(n_sent, dim))} for name in names}


def _contents(path):
    with ActivationStore.open(path) as st:
        layers = {(n, lvl): st.layer(n, lvl)[:] for n in st.layers for lvl in st.levels(n)}
        s, w = st.sentences, st.words
        meta = (list(s.text), list(s.lang), s.pair_id.tolist(), s.target.tolist(),
                s.word_offsets.tolist(), list(w.text), w.sentence.tolist())
        return layers, meta, st.complete


def test_float32_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    batches = [(_records(), _layers(rng, 5, 2)), (_records((1, 4), pair_ids=(1, 1)),
                                                  _layers(rng, 5, 2))]
    path = tmp_path / "a.h5"
    _write(path, batches)
    with ActivationStore.open(path) as st:
        assert st.complete and st.n_sentences == 4 and st.n_words == 10
        assert st.layers == ["0", "1"]
        expected = np.concatenate([b[1]["1"]["words"] for b in batches]).astype(np.float32)
        np.testing.assert_array_equal(st.layer("1")[:], expected)
        chunks = list(st.layer("1").iter_chunks(rows=3))
        assert [len(c) for c in chunks] == [3, 3, 3, 1]
        np.testing.assert_array_equal(np.concatenate(chunks), expected)
        order = np.array([7, 0, 3, 3, 9])
        np.testing.assert_array_equal(st.layer("1")[order], expected[order])
        np.testing.assert_array_equal(
            np.concatenate(list(st.layer("1").iter_chunks(rows=2, index=order))), expected[order]
        )
        mask = np.zeros(10, bool)
        mask[[1, 8]] = True
        np.testing.assert_array_equal(st.layer("1")[mask], expected[mask])
        np.testing.assert_array_equal(st.layer("1")[2:9:3], expected[2:9:3])
        sent = np.concatenate([b[1]["0"]["sentences"] for b in batches]).astype(np.float32)
        np.testing.assert_array_equal(st.layer("0", "sentences")[:], sent)
        assert st.words.text.tolist()[:3] == ["w00", "w01", "w02"]
        assert st.sentences.word_offsets.tolist() == [0, 3, 5, 6, 10]


def test_sparse_and_dense_index_paths_agree(tmp_path):
    rng = np.random.default_rng(1)
    n = 40000
    records = [SentenceRecord(["x"] * 100, "en") for _ in range(n // 100)]
    values = rng.normal(size=(n, 3)).astype(np.float32)
    path = tmp_path / "big.h5"
    _write(path, [(records, {"0": {"words": values}})])
    with ActivationStore.open(path) as st:
        sparse = np.array([39999, 5, 20000, 12])  # far apart: fancy indexing path
        dense = np.arange(100, 5000, 3)[::-1]  # close together: contiguous span path
        np.testing.assert_array_equal(st.layer("0")[sparse], values[sparse])
        np.testing.assert_array_equal(st.layer("0")[dense], values[dense])
        with pytest.raises(InputError, match="out of range"):
            st.layer("0")[np.array([n])]


def test_float16_within_rounding(tmp_path):
    rng = np.random.default_rng(2)
    layers = _layers(rng, 5, 2)
    path = tmp_path / "h.h5"
    _write(path, [(_records(), layers)], dtype="float16")
    with ActivationStore.open(path) as st:
        got = st.layer("0")[:]
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, layers["0"]["words"], rtol=2**-10, atol=1e-7)
        assert st.attrs["dtype"] == "float16"


def test_selection_by_language_and_pair(tmp_path):
    rng = np.random.default_rng(3)
    records = _records((2, 3, 1, 2), ("en", "es", "es", "en"), (5, 7, 5, -1))
    path = tmp_path / "p.h5"
    _write(path, [(records, _layers(rng, 8, 4))])
    with ActivationStore.open(path) as st:
        assert st.languages == ["en", "es"]
        assert st.sentence_rows("es").tolist() == [1, 2]
        assert st.word_rows("es").tolist() == [2, 3, 4, 5]
        assert st.word_rows(sentence_rows=[3, 0]).tolist() == [6, 7, 0, 1]
        rows_en, rows_es = st.parallel_rows("en", "es")
        assert rows_en.tolist() == [0] and rows_es.tolist() == [2]
        with pytest.raises(InputError, match="'fr'.*languages: en, es"):
            st.sentence_rows("fr")
        info = st.info()
        assert info["languages"] == {"en": 2, "es": 2} and info["n_pair_ids"] == 2


def test_target_rows(tmp_path):
    rng = np.random.default_rng(4)
    records = [SentenceRecord(["a", "happy", "day"], "en", target=1),
               SentenceRecord(["no", "target"], "en"),
               SentenceRecord(["feliz"], "es", target=0)]
    path = tmp_path / "t.h5"
    _write(path, [(records, _layers(rng, 6, 3))])
    with ActivationStore.open(path) as st:
        words, sents = st.target_rows()
        assert words.tolist() == [1, 5] and sents.tolist() == [0, 2]
        assert st.words.text[words].tolist() == ["happy", "feliz"]
        assert st.target_rows("es")[0].tolist() == [5]


def test_seq2seq_layer_names_sort_naturally():
    names = ["decoder/10", "encoder/2", "decoder/2", "encoder/10", "encoder/0"]
    assert sorted(names, key=layer_sort_key) == [
        "encoder/0", "encoder/2", "encoder/10", "decoder/2", "decoder/10"]
    assert sorted(["10", "2", "0"], key=layer_sort_key) == ["0", "2", "10"]


def test_nested_layer_names(tmp_path):
    rng = np.random.default_rng(5)
    layers = {"encoder/0": {"words": rng.normal(size=(5, 4))},
              "decoder/1": {"words": rng.normal(size=(5, 4))}}
    path = tmp_path / "s2s.h5"
    _write(path, [(_records(), layers)])
    with ActivationStore.open(path) as st:
        assert st.layers == ["encoder/0", "decoder/1"]
        assert st.levels("encoder/0") == ["words"]
        with pytest.raises(StoreError, match="no sentences-level rows"):
            st.layer("encoder/0", "sentences")


def test_as_dask_matches(tmp_path):
    rng = np.random.default_rng(6)
    layers = _layers(rng, 5, 2)
    path = tmp_path / "d.h5"
    _write(path, [(_records(), layers)])
    with ActivationStore.open(path) as st:
        arr = st.layer("1").as_dask(rows=2)
        assert arr.chunks[0] == (2, 2, 1)
        np.testing.assert_allclose(arr.compute(), layers["1"]["words"].astype(np.float32))
        import pickle

        clone = pickle.loads(pickle.dumps(arr))
        np.testing.assert_allclose(clone.sum(axis=0).compute(),
                                   layers["1"]["words"].astype(np.float32).sum(axis=0),
                                   rtol=1e-6)


# -- bad input ------------------------------------------------------------------------
def test_nan_rejected_with_layer_name_and_nothing_written(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "n.h5"
    store = ActivationStore.create(path, model="m", extractor="t")
    store.append(_records(), _layers(rng, 5, 2))
    assert not path.exists()  # only finalize makes the store file appear
    bad = _layers(rng, 5, 2)
    bad["1"]["words"][2, 1] = np.nan
    with pytest.raises(InputError, match="layer '1' \\(words\\).*NaN"):
        store.append(_records(), bad)
    assert store.progress == 2 and store.n_words == 5
    store.finalize()
    layers, _, complete = _contents(path)
    assert complete and layers[("1", "words")].shape == (5, 4)


def test_float16_overflow_rejected(tmp_path):
    store = ActivationStore.create(tmp_path / "o.h5", model="m", extractor="t", dtype="float16")
    with pytest.raises(InputError, match="float16 range"):
        store.append(_records(), {"0": {"words": np.full((5, 2), 1e6)}})
    store.close()


@pytest.mark.parametrize("layers, message", [
    ({"0": {"words": np.zeros((4, 3))}}, "expected shape \\(5, d\\)"),
    ({"0": {"sentences": np.zeros((3, 3))}}, "expected shape \\(2, d\\)"),
    ({"0": {"tokens": np.zeros((5, 3))}}, "unknown level"),
    ({}, "at least one layer"),
    ({"../x": {"words": np.zeros((5, 3))}}, "invalid layer name"),
])
def test_bad_batches(tmp_path, layers, message):
    store = ActivationStore.create(tmp_path / "b.h5", model="m", extractor="t")
    with pytest.raises(InputError, match=message):
        store.append(_records(), layers)
    store.close()


def test_later_batches_must_match_layers_and_widths(tmp_path):
    rng = np.random.default_rng(8)
    store = ActivationStore.create(tmp_path / "c.h5", model="m", extractor="t")
    store.append(_records(), _layers(rng, 5, 2))
    with pytest.raises(InputError, match="differ from the earlier batches"):
        store.append(_records(), _layers(rng, 5, 2, names=("0",)))
    with pytest.raises(InputError, match="0: sentences\\[5\\], words\\[5\\]"):
        store.append(_records(), _layers(rng, 5, 2, dim=5))
    store.close()


def test_bad_records(tmp_path):
    store = ActivationStore.create(tmp_path / "r.h5", model="m", extractor="t")
    with pytest.raises(InputError, match="target 3 outside"):
        store.append([SentenceRecord(["a", "b"], "en", target=3)],
                     {"0": {"words": np.zeros((2, 1))}})
    with pytest.raises(InputError, match="language"):
        store.append([SentenceRecord(["a"], "")], {"0": {"words": np.zeros((1, 1))}})
    store.close()


def test_existing_file_refused_without_overwrite(tmp_path):
    path = tmp_path / "e.h5"
    path.write_bytes(b"precious")
    with pytest.raises(StoreError, match="already exists"):
        ActivationStore.create(path, model="m", extractor="t")
    assert path.read_bytes() == b"precious"
    writer = ActivationStore.create(path, model="m", extractor="t", overwrite=True)
    assert path.read_bytes() == b"precious"  # replaced only once the new store is complete
    writer.append(_records(), _layers(np.random.default_rng(0), 5, 2))
    writer.finalize()
    assert h5py.is_hdf5(path)


def test_interrupted_write_blocks_a_fresh_create(tmp_path):
    path = tmp_path / "f.h5"
    writer = ActivationStore.create(path, model="m", extractor="t")
    writer.append(_records(), _layers(np.random.default_rng(0), 5, 2))
    writer.close()
    with pytest.raises(StoreError, match="interrupted extraction.*--resume"):
        ActivationStore.create(path, model="m", extractor="t")
    ActivationStore.create(path, model="m", extractor="t", overwrite=True).close()


def test_open_errors(tmp_path):
    with pytest.raises(StoreError, match="no such file"):
        ActivationStore.open(tmp_path / "missing.h5")
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(StoreError, match="not an HDF5 file"):
        ActivationStore.open(text)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(StoreError, match="another format.*something-else"):
        ActivationStore.open(foreign)
    neurox = tmp_path / "neurox.hdf5"
    with h5py.File(neurox, "w") as f:
        f.create_dataset("0", data=np.zeros((2, 3, 4)))
        f.create_dataset("sentence_to_index", data=['{"a b c": "0"}'])
    with pytest.raises(StoreError, match="NeuroX activation file"):
        ActivationStore.open(neurox)
    newer = tmp_path / "newer.h5"
    _write(newer, [(_records(), _layers(np.random.default_rng(0), 5, 2))])
    with h5py.File(newer, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(StoreError, match="format version 99"):
        ActivationStore.open(newer, allow_incomplete=True)
    broken = tmp_path / "broken.h5"
    _write(broken, [(_records(), _layers(np.random.default_rng(0), 5, 2))])
    with h5py.File(broken, "a") as f:
        del f["sentences/lang"]
    with pytest.raises(StoreError, match="/sentences/lang is missing"):
        ActivationStore.open(broken, allow_incomplete=True)
    truncated = tmp_path / "truncated.h5"
    _write(truncated, [(_records(), _layers(np.random.default_rng(0), 5, 2))])
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(StoreError):
        ActivationStore.open(truncated)


def test_missing_layer(tmp_path):
    path = tmp_path / "l.h5"
    _write(path, [(_records(), _layers(np.random.default_rng(0), 5, 2))])
    with ActivationStore.open(path) as st, pytest.raises(StoreError, match="no layer '7'.*0, 1"):
        st.layer(7)


def test_complete_store_cannot_be_resumed(tmp_path):
    path = tmp_path / "ro.h5"
    _write(path, [(_records(), _layers(np.random.default_rng(0), 5, 2))])
    with pytest.raises(StoreError, match="already complete"):
        ActivationStore.resume(path)
    with pytest.raises(StoreError, match="nothing to resume"):
        ActivationStore.resume(tmp_path / "never.h5")


def test_store_without_complete_flag_is_refused(tmp_path):
    path = tmp_path / "legacy.h5"
    _write(path, [(_records(), _layers(np.random.default_rng(0), 5, 2))])
    with h5py.File(path, "a") as f:
        f.attrs["complete"] = False
    with pytest.raises(StoreError, match="incomplete"):
        ActivationStore.open(path)
    with ActivationStore.open(path, allow_incomplete=True) as st:
        assert st.n_sentences == 2


# -- interruption and resume ----------------------------------------------------------
def _run_writer(path, *args, check=True):
    cmd = [sys.executable, str(WRITER), str(path), *map(str, args)]
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)


def test_incomplete_store_detected_and_resumed(tmp_path):
    path = tmp_path / "i.h5"
    store = ActivationStore.create(path, model="m", extractor="t")
    for i in range(3):
        store.append(*batch(i))
    store.close()  # closed without finalize, like an interrupted run
    assert not path.exists()
    with pytest.raises(StoreError, match="incomplete.*--resume"):
        ActivationStore.open(path)
    store = ActivationStore.resume(path)
    assert store.progress == 18 and store.n_words == sum(
        len(r.words) for i in range(3) for r in batch(i)[0])
    for i in range(store.progress // 6, 5):
        store.append(*batch(i))
    store.finalize()
    reference = tmp_path / "ref.h5"
    _write(reference, [batch(i) for i in range(5)])
    _assert_same(path, reference)
    assert not (tmp_path / "i.h5.partial").exists()


def _assert_same(a, b):
    layers_a, meta_a, complete_a = _contents(a)
    layers_b, meta_b, complete_b = _contents(b)
    assert complete_a and complete_b
    assert meta_a == meta_b
    assert layers_a.keys() == layers_b.keys()
    for key in layers_a:
        np.testing.assert_array_equal(layers_a[key], layers_b[key])


def test_killed_between_data_and_commit_resumes_exactly(tmp_path):
    path = tmp_path / "k.h5"
    proc = _run_writer(path, 6, "--kill-after-data", 3, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not path.exists()
    with pytest.raises(StoreError, match="incomplete"):
        ActivationStore.open(path)
    # Batch 3 was written but never committed: the resumed run starts after batch 2.
    writer = ActivationStore.resume(path)
    assert writer.progress == 18
    writer.close()
    _run_writer(path, 6, "--resume")
    reference = tmp_path / "ref.h5"
    _run_writer(reference, 6)
    _assert_same(path, reference)


@pytest.mark.parametrize("delay", [0.0, 0.023, 0.061])
def test_killed_at_a_random_moment_resumes_exactly(tmp_path, delay):
    n_batches = 40  # ~2 s of writing with --slow, so the kill lands mid-run
    reference = tmp_path / "ref.h5"
    _run_writer(reference, n_batches)
    path = tmp_path / "r.h5"
    proc = subprocess.Popen([sys.executable, str(WRITER), str(path), str(n_batches), "--slow"])
    deadline = time.time() + 60
    while not (tmp_path / "r.h5.partial" / "seg-000002.h5").exists():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.005)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not path.exists()
    writer = ActivationStore.resume(path)
    assert 18 <= writer.progress < 6 * n_batches
    writer.close()
    _run_writer(path, n_batches, "--resume")
    _assert_same(path, reference)
