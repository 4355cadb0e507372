"""Rows written in place (issue 15): ``StoreWriter.reserve`` / ``place``.

A store whose rows were placed sentence by sentence, in any order, must be the store
written by appending the same rows (values, metadata and digests); an interrupted one
resumes from its committed blocks, whose rows are checked against their commit
records; every misuse ends in one clear error; memory stays bounded by a batch.
"""

from __future__ import annotations

import json
import sys
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

from interlingua.core import store_assembly, store_placement
from interlingua.core.checksums import DamagedSegmentError, verify_store
from interlingua.core.errors import InputError, StoreError
from interlingua.core.store import ActivationStore
from interlingua.core.store_writer import partial_dir

sys.path.insert(0, str(Path(__file__).parent))
from _writer import assert_same_store, batch

N_BLOCKS = 4  # blocks (windows) of 6 sentences, from _writer.batch


def corpus(n_blocks: int = N_BLOCKS):
    """Records and rows of ``n_blocks`` blocks, with each sentence's first word row."""
    records, layers = [], {}
    for i in range(n_blocks):
        recs, rows = batch(i)
        records += recs
        for name, levels in rows.items():
            for level, values in levels.items():
                layers.setdefault(name, {}).setdefault(level, []).append(values)
    layers = {n: {lv: np.concatenate(v) for lv, v in levels.items()}
              for n, levels in layers.items()}
    counts = np.array([len(r.words) for r in records], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return records, layers, counts, offsets


def appended(path: Path, n_blocks: int = N_BLOCKS) -> None:
    writer = ActivationStore.create(path, model="m", extractor="test")
    for i in range(n_blocks):
        writer.append(*batch(i))
    writer.finalize()


def schema_of(layers):
    return {n: {lv: a.shape[1] for lv, a in levels.items()} for n, levels in layers.items()}


def place_block(writer, block: int, data, seed: int = 0, batches: int = 3) -> None:
    """Place block ``block``'s sentences in a shuffled order, in a few batches."""
    _records, layers, counts, offsets = data
    sent = np.random.default_rng(seed + block).permutation(np.arange(6 * block, 6 * block + 6))
    for part in np.array_split(sent, batches):
        rows = np.concatenate([np.arange(offsets[s], offsets[s + 1]) for s in part])
        writer.place(part, offsets[part], counts[part],
                     {n: {"words": lv["words"][rows], "sentences": lv["sentences"][part]}
                      for n, lv in layers.items()})


def placed(path: Path, *, stop: int | None = None, background: bool = True, writer=None):
    """Write the corpus in place, block by block (one commit each); ``stop``: close
    after that many blocks (an interruption)."""
    data = corpus()
    records, layers, _counts, offsets = data
    if writer is None:
        writer = ActivationStore.create(path, model="m", extractor="test")
        writer.reserve(len(records), int(offsets[-1]), schema_of(layers))
    writer.background = background
    for block in range(writer.progress // 6, N_BLOCKS if stop is None else stop):
        place_block(writer, block, data)
        writer.append(records[6 * block:6 * block + 6])
        if block < N_BLOCKS - 1:
            writer.flush()
    try:
        if stop is None:
            writer.finalize()
    finally:
        writer.close()  # after a failed finalize: commits the last block


@pytest.mark.parametrize("background", [True, False])
def test_placed_store_is_the_appended_store(tmp_path, background):
    appended(tmp_path / "a.h5")
    placed(tmp_path / "b.h5", background=background)
    assert_same_store(tmp_path / "a.h5", tmp_path / "b.h5")
    assert verify_store(tmp_path / "b.h5") == verify_store(tmp_path / "a.h5")
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        assert b["layers/0/words"].chunks is None  # contiguous: written by offset
        ignore = {"root-attrs"}  # the creation times may differ by a second
        assert {k: v for k, v in a["checksums"].attrs.items() if k not in ignore} == \
            {k: v for k, v in b["checksums"].attrs.items() if k not in ignore}
        assert b["words/text"].chunks[0] > 1
    assert not partial_dir(tmp_path / "b.h5").exists()
    assert not (tmp_path / "b.h5.writing").exists()


def test_interrupted_placed_store_resumes_to_the_same_store(tmp_path):
    appended(tmp_path / "a.h5")
    path = tmp_path / "b.h5"
    placed(path, stop=2)
    assert (tmp_path / "b.h5.writing").exists()  # its rows serve the resume
    writer = ActivationStore.resume(path)
    assert writer.progress == 12 and writer.placed and writer.reserved == (24, 60)
    placed(path, writer=writer)
    assert_same_store(tmp_path / "a.h5", path)
    verify_store(path)


def _flip_rows(path: Path, key: str, row: int) -> None:
    with h5py.File(path, "r") as f:
        ds = f[key]
        offset = ds.id.get_offset() + row * ds.shape[1] * ds.dtype.itemsize
    with open(path, "r+b") as fh:
        fh.seek(offset)
        old = fh.read(4)
        fh.seek(offset)
        fh.write(bytes(b ^ 0xFF for b in old))


def test_damaged_rows_are_found_on_resume_and_recomputed_on_request(tmp_path):
    appended(tmp_path / "a.h5")
    path = tmp_path / "b.h5"
    placed(path, stop=3)
    data = corpus()
    _flip_rows(tmp_path / "b.h5.writing", "layers/1/words", int(data[3][6]) + 1)  # block 1
    with pytest.raises(DamagedSegmentError, match="seg-000001.h5: its rows in b.h5.writing "
                                                  "do not match its commit record"):
        ActivationStore.resume(path)
    writer = ActivationStore.resume(path, discard_damaged=True)
    assert writer.progress == 6 and [p.name for p in writer.discarded] == [
        "seg-000001.h5", "seg-000002.h5"]
    placed(path, writer=writer)
    assert_same_store(tmp_path / "a.h5", path)


def test_lost_store_file_is_refused_then_restarted_on_request(tmp_path):
    appended(tmp_path / "a.h5")
    path = tmp_path / "b.h5"
    placed(path, stop=2)
    (tmp_path / "b.h5.writing").write_bytes(b"not hdf5")
    with pytest.raises(DamagedSegmentError, match="seg-000000.h5: its rows are lost"):
        ActivationStore.resume(path)
    writer = ActivationStore.resume(path, discard_damaged=True)
    assert writer.progress == 0 and len(writer.discarded) == 2
    placed(path, writer=writer)
    assert_same_store(tmp_path / "a.h5", path)


def test_record_without_digests_is_damage(tmp_path):
    path = tmp_path / "b.h5"
    placed(path, stop=2)
    record = partial_dir(path) / "seg-000001.json"
    data = json.loads(record.read_text())
    del data["placed"]
    record.write_text(json.dumps(data))
    with pytest.raises(DamagedSegmentError, match="seg-000001.h5"):
        ActivationStore.resume(path)


def test_finalize_failure_keeps_rows_and_a_resume_finishes(tmp_path, monkeypatch):
    appended(tmp_path / "a.h5")
    path = tmp_path / "b.h5"
    real = store_assembly.StoreAssembler.finish_placed

    def cut_short(self, blocks, digests):  # columns half written, then a failure
        self._file = h5py.File(self.target, "r+")
        self._file.create_dataset("sentences/text", data=["junk"])
        raise OSError("disk full")

    monkeypatch.setattr(store_assembly.StoreAssembler, "finish_placed", cut_short)
    with pytest.raises(OSError, match="disk full"):
        placed(path)
    monkeypatch.setattr(store_assembly.StoreAssembler, "finish_placed", real)
    assert not path.exists() and (tmp_path / "b.h5.writing").exists()
    writer = ActivationStore.resume(path)
    assert writer.progress == 24  # the last block was committed by close()
    writer.finalize()
    assert_same_store(tmp_path / "a.h5", path)
    verify_store(path)


def test_misuse_is_refused(tmp_path):
    records, layers, counts, offsets = corpus(1)
    schema = schema_of(layers)
    writer = ActivationStore.create(tmp_path / "s.h5", model="m", extractor="test")
    with pytest.raises(StoreError, match="reserve"):
        writer.place([0], [0], [1], {})
    with pytest.raises(InputError, match="append"):
        writer.append(records[:1])  # no rows, not reserved
    with pytest.raises(InputError, match="bad name"):
        writer.reserve(6, int(offsets[-1]), {"0": {"tokens": 8}})
    writer.reserve(6, int(offsets[-1]), schema)
    with pytest.raises(StoreError, match="before any row"):
        writer.reserve(6, int(offsets[-1]), schema)
    rows = {n: {"words": lv["words"][: counts[0]], "sentences": lv["sentences"][:1]}
            for n, lv in layers.items()}
    with pytest.raises(InputError, match="outside"):
        writer.place([6], [0], [counts[0]], rows)
    bad = {n: dict(lv) for n, lv in rows.items()}
    bad["0"]["words"] = bad["0"]["words"].copy()
    bad["0"]["words"][0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        writer.place([0], [0], [counts[0]], bad)
    with pytest.raises(InputError, match="differ from the reservation"):
        writer.place([0], [0], [counts[0]], {"0": rows["0"]})
    with pytest.raises(InputError, match="no rows were placed for sentence 0"):
        writer.append(records[:2])
    writer.place([0], [0], [counts[0]], rows)
    with pytest.raises(InputError, match="without layer rows"):
        writer.append(records[:1], rows)
    with pytest.raises(InputError, match="no rows were placed for sentence 1"):
        writer.append(records[:2])
    writer.append(records[:1])
    with pytest.raises(InputError, match=r"outside \[1, 6\)"):  # already appended
        writer.place([0], [0], [counts[0]], rows)
    with pytest.raises(StoreError, match="1 sentences .* 6 and .* reserved"):
        writer.finalize()
    writer.abort()
    assert not (tmp_path / "s.h5.writing").exists()
    compressed = ActivationStore.create(tmp_path / "c.h5", model="m", extractor="test",
                                        compression="gzip")
    with pytest.raises(InputError, match="cannot be compressed"):
        compressed.reserve(6, int(offsets[-1]), schema)
    compressed.abort()


def test_rows_at_the_wrong_positions_are_refused(tmp_path):
    records, layers, counts, offsets = corpus(1)
    writer = ActivationStore.create(tmp_path / "s.h5", model="m", extractor="test")
    writer.reserve(6, int(offsets[-1]), schema_of(layers))
    # sentence 1 placed where sentence 2 starts: the records say otherwise
    rows = {n: {"words": lv["words"][offsets[1]:offsets[2]], "sentences": lv["sentences"][1:2]}
            for n, lv in layers.items()}
    writer.place([0], [0], [counts[0]],
                 {n: {"words": lv["words"][: counts[0]], "sentences": lv["sentences"][:1]}
                  for n, lv in layers.items()})
    writer.place([1], [offsets[2]], [counts[1]], rows)
    with pytest.raises(InputError, match="other positions or of other lengths"):
        writer.append(records[:2])
    writer.abort()


def test_float16_overflow_is_refused(tmp_path):
    _records, layers, counts, offsets = corpus(1)
    writer = ActivationStore.create(tmp_path / "s.h5", model="m", extractor="test",
                                    dtype="float16")
    writer.reserve(6, int(offsets[-1]), schema_of(layers))
    rows = {n: {"words": lv["words"][: counts[0]] * 1e6, "sentences": lv["sentences"][:1]}
            for n, lv in layers.items()}
    with pytest.raises(InputError, match="float16 range"):
        writer.place([0], [0], [counts[0]], rows)
    writer.abort()


def test_memory_is_bounded_by_a_batch(tmp_path, monkeypatch):
    """Placing 24 MB of rows in 48 batches, committing 4 blocks and finalizing never
    holds more than a couple of batches and one read block (1 MiB here)."""
    monkeypatch.setattr(store_placement, "READ_BYTES", 1 << 20)
    n_sent, words_per, width = 480, 50, 256
    rng = np.random.default_rng(0)
    from interlingua.core.store import SentenceRecord

    records = [SentenceRecord([f"w{j}" for j in range(words_per)], "en") for _ in range(n_sent)]
    writer = ActivationStore.create(tmp_path / "s.h5", model="m", extractor="test")
    writer.background = True
    writer.reserve(n_sent, n_sent * words_per, {"0": {"words": width, "sentences": width}})
    batch_rows = rng.normal(size=(10 * words_per, width)).astype(np.float32)  # 0.5 MB
    sent_rows = rng.normal(size=(10, width)).astype(np.float32)
    tracemalloc.start()
    try:
        for block in range(4):
            for b in range(12):
                sent = np.arange(block * 120 + b * 10, block * 120 + b * 10 + 10)
                writer.place(sent, sent * words_per, np.full(10, words_per),
                             {"0": {"words": batch_rows, "sentences": sent_rows}})
            writer.append(records[block * 120:(block + 1) * 120])
            if block < 3:
                writer.flush()
        writer.finalize()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    total = n_sent * words_per * width * 4
    assert total > 24e6 and peak < 4e6, peak
    with ActivationStore.open(tmp_path / "s.h5") as st:
        np.testing.assert_array_equal(st.layer("0")[words_per * 10 * 5:words_per * 10 * 6],
                                      batch_rows)
    verify_store(tmp_path / "s.h5")


def test_full_disk_is_refused_at_reserve(tmp_path, monkeypatch):
    """The rows' disk space is claimed when the file is reserved: a full disk is one
    line before any row is computed, and no file is left behind."""
    import errno
    import os

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    _records, layers, _counts, offsets = corpus(1)
    writer = ActivationStore.create(tmp_path / "s.h5", model="m", extractor="test")
    with pytest.raises(StoreError, match=r"not enough free disk space .* GB; No space left"):
        writer.reserve(6, int(offsets[-1]), schema_of(layers))
    assert not (tmp_path / "s.h5.writing").exists() and not writer.placed
    writer.abort()


def test_reserved_space_is_claimed(tmp_path):
    _records, layers, _counts, offsets = corpus(1)
    writer = ActivationStore.create(tmp_path / "s.h5", model="m", extractor="test")
    writer.reserve(6, int(offsets[-1]), schema_of(layers))
    rows_bytes = sum(int(offsets[-1]) * w * 4 if lv == "words" else 6 * w * 4
                     for levels in schema_of(layers).values() for lv, w in levels.items())
    assert (tmp_path / "s.h5.writing").stat().st_blocks * 512 >= rows_bytes
    writer.abort()


def test_file_system_without_fallocate_still_works(tmp_path, monkeypatch):
    import errno
    import os

    def unsupported(fd, offset, length):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    appended(tmp_path / "a.h5")
    placed(tmp_path / "b.h5")
    assert_same_store(tmp_path / "a.h5", tmp_path / "b.h5")
