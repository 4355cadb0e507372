"""Background commits of the store writer (issue 15): order, failures, interrupts, memory.

The extraction hands each window to the writer thread (``StoreWriter.background``) and
goes on with the next forward pass. These tests check that a store written that way is
the store written synchronously, that a failing block stops everything after it (no
gap in the committed segments), that close() waits for the block in flight, and that
the final file is built from memory (no finalize pass over the segments).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from interlingua.core import store_partial, store_writer
from interlingua.core.checksums import verify_store
from interlingua.core.errors import InputError, StoreError
from interlingua.core.store import ActivationStore
from interlingua.core.store_format import all_finite
from interlingua.core.store_writer import partial_dir

sys.path.insert(0, str(Path(__file__).parent))
from _writer import assert_same_store as _assert_same
from _writer import batch
from _writer import contents as _contents


def _write(path: Path, n: int, *, background: bool, stop: int | None = None) -> None:
    writer = ActivationStore.create(path, model="m", extractor="test", chunk_rows=16)
    writer.background = background
    for i in range(n if stop is None else stop):
        writer.append(*batch(i))
        writer.flush()
    if stop is None:
        writer.finalize()
    else:
        writer.close()


def test_background_store_equals_synchronous_store(tmp_path):
    _write(tmp_path / "sync.h5", 5, background=False)
    _write(tmp_path / "bg.h5", 5, background=True)
    _assert_same(tmp_path / "sync.h5", tmp_path / "bg.h5")
    with h5py.File(tmp_path / "sync.h5") as a, h5py.File(tmp_path / "bg.h5") as b:
        assert dict(a["checksums"].attrs).keys() == dict(b["checksums"].attrs).keys()
        for key in a["checksums"].attrs:
            if key != "root-attrs":  # the root attributes hold creation times
                assert a["checksums"].attrs[key] == b["checksums"].attrs[key], key
    assert verify_store(tmp_path / "bg.h5") > 0


def test_store_equals_the_rows_appended(tmp_path):
    # Independent of any writer: the rows of the finished store are the appended ones.
    path = tmp_path / "s.h5"
    _write(path, 3, background=True)
    layers, meta = _contents(path)
    blocks = [batch(i) for i in range(3)]
    for name in ("0", "1", "2"):
        for level in ("words", "sentences"):
            expected = np.concatenate([b[1][name][level] for b in blocks])
            np.testing.assert_array_equal(layers[(name, level)], expected)
    texts = [w for records, _ in blocks for r in records for w in r.words]
    assert meta[4] == texts
    counts = [len(r.words) for records, _ in blocks for r in records]
    assert meta[3] == np.concatenate([[0], np.cumsum(counts)]).tolist()


def test_close_waits_for_the_block_in_flight(tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    started, release = threading.Event(), threading.Event()
    original = store_writer.write_segment

    def slow(*args, **kwargs):
        started.set()
        release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(store_writer, "write_segment", slow)
    writer = ActivationStore.create(path, model="m", extractor="test")
    writer.background = True
    writer.append(*batch(0))
    writer.flush()  # returns while the block is being written
    assert started.wait(10) and writer.committed == 0 and writer.progress == 6
    threading.Timer(0.2, release.set).start()
    writer.close()  # an interrupted run: waits for the block, stays resumable
    assert writer.committed == 6
    resumed = ActivationStore.resume(path)
    assert resumed.progress == 6
    for i in range(1, 3):
        resumed.append(*batch(i))
    resumed.finalize()
    _write(tmp_path / "ref.h5", 3, background=False)
    _assert_same(path, tmp_path / "ref.h5")


def test_a_failed_background_block_stops_later_blocks(tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    original = store_writer.write_segment
    calls = []

    def failing(pdir, index, *args, **kwargs):
        calls.append(index)
        if index == 1:
            raise OSError(28, "No space left on device")
        return original(pdir, index, *args, **kwargs)

    monkeypatch.setattr(store_writer, "write_segment", failing)
    writer = ActivationStore.create(path, model="m", extractor="test")
    writer.background = True
    writer.append(*batch(0))
    writer.flush()
    writer.append(*batch(1))
    writer.flush()  # fails on the writer thread
    writer.append(*batch(2))
    with pytest.raises(OSError, match="No space left"):
        writer.flush()  # the failure surfaces here; block 2 is not committed
    with pytest.raises(StoreError, match="failed to commit.*resumable"):
        writer.flush()
    writer.close()  # already reported: no second error, nothing more committed
    assert calls == [0, 1]
    assert sorted(p.name for p in partial_dir(path).glob("seg-*.h5")) == ["seg-000000.h5"]
    assert not path.exists() and not path.with_name("s.h5.writing").exists()
    monkeypatch.setattr(store_writer, "write_segment", original)
    resumed = ActivationStore.resume(path)
    assert resumed.progress == 6
    for i in range(1, 4):
        resumed.append(*batch(i))
    resumed.finalize()
    _write(tmp_path / "ref.h5", 4, background=False)
    _assert_same(path, tmp_path / "ref.h5")


def test_an_unseen_background_failure_is_raised_by_close(tmp_path, monkeypatch):
    def failing(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store_writer, "write_segment", failing)
    writer = ActivationStore.create(tmp_path / "s.h5", model="m", extractor="test")
    writer.background = True
    writer.append(*batch(0))
    writer.flush()
    with pytest.raises(OSError, match="Input/output error"):
        writer.close()
    assert not (tmp_path / "s.h5").exists()


def test_finalize_does_not_read_the_segments(tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    writer = ActivationStore.create(path, model="m", extractor="test", segment_bytes=1)
    for i in range(3):
        writer.append(*batch(i))
    opened = []
    real = h5py.File

    def spy(name, *args, **kwargs):
        opened.append(Path(str(name)).name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", spy)
    writer.finalize()
    assert not [n for n in opened if n.startswith("seg-")]


def test_resume_rebuilds_a_stale_writing_file(tmp_path):
    path = tmp_path / "s.h5"
    _write(path, 4, background=True, stop=2)
    stale = path.with_name("s.h5.writing")
    stale.write_bytes(b"garbage left by a killed run")
    resumed = ActivationStore.resume(path)
    for i in range(2, 4):
        resumed.append(*batch(i))
    resumed.finalize()
    _write(tmp_path / "ref.h5", 4, background=False)
    _assert_same(path, tmp_path / "ref.h5")
    assert not stale.exists()


def test_append_copies_the_callers_arrays_by_default(tmp_path):
    path = tmp_path / "s.h5"
    records, layers = batch(0)
    keep = {k: {lv: a.copy() for lv, a in v.items()} for k, v in layers.items()}
    writer = ActivationStore.create(path, model="m", extractor="test")
    writer.append(records, layers)  # copy=True: later changes to the caller's arrays
    layers["0"]["words"][:] = 7.0    # do not reach the store
    writer.finalize()
    with ActivationStore.open(path) as st:
        np.testing.assert_array_equal(st.layer("0", "words")[:], keep["0"]["words"])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None])
def test_all_finite_matches_numpy(dtype, bad):
    rng = np.random.default_rng(0)
    values = (rng.normal(size=(257, 33)) * 1e3).astype(dtype)
    if bad is not None:
        values[200, 7] = bad
    assert all_finite(values) == bool(np.isfinite(values).all())
    big = np.full((4, 4), np.finfo(dtype).max, dtype=dtype)  # a sum that overflows
    assert all_finite(big)


def test_append_still_refuses_nan_without_copy(tmp_path):
    records, layers = batch(0)
    layers["1"]["sentences"][3, 2] = np.nan
    writer = ActivationStore.create(tmp_path / "s.h5", model="m", extractor="test")
    with pytest.raises(InputError, match="layer '1' \\(sentences\\): contains NaN"):
        writer.append(records, layers, copy=False)
    writer.abort()


def test_segments_keep_their_layout(tmp_path):
    # Segments written through record_columns hold what resume and info read.
    path = tmp_path / "s.h5"
    _write(path, 2, background=True, stop=2)
    info = store_partial.partial_info(path)
    assert info["n_sentences"] == 12 and info["segments"] == 2


def test_finalize_puts_the_last_rows_into_the_store_without_a_segment(tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    written = []
    original = store_writer.write_segment

    def spy(pdir, index, *args, **kwargs):
        written.append(index)
        return original(pdir, index, *args, **kwargs)

    monkeypatch.setattr(store_writer, "write_segment", spy)
    writer = ActivationStore.create(path, model="m", extractor="test", chunk_rows=16)
    writer.background = True
    for i in range(3):
        writer.append(*batch(i))
        if i < 2:
            writer.flush()
    writer.finalize()  # block 2 was never flushed
    assert written == [0, 1]
    _write(tmp_path / "ref.h5", 3, background=False)
    _assert_same(path, tmp_path / "ref.h5")


def test_a_failed_finalize_leaves_the_last_rows_committable(tmp_path, monkeypatch):
    from interlingua.core import store_assembly

    path = tmp_path / "s.h5"
    writer = ActivationStore.create(path, model="m", extractor="test", chunk_rows=16)
    writer.append(*batch(0))
    writer.flush()
    writer.append(*batch(1))

    def full(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_assembly.StoreAssembler, "finish", full)
    with pytest.raises(OSError, match="No space left"):
        writer.finalize()
    assert not path.exists() and not path.with_name("s.h5.writing").exists()
    monkeypatch.undo()
    writer.close()  # the unfinalized rows become a segment: nothing is lost
    resumed = ActivationStore.resume(path)
    assert resumed.progress == 12
    resumed.append(*batch(2))
    resumed.finalize()
    _write(tmp_path / "ref.h5", 3, background=False)
    _assert_same(path, tmp_path / "ref.h5")
