"""Fault injection: damaged segments and stores, concurrent writers, resume fingerprints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from interlingua.core.checksums import (
    DamagedSegmentError,
    dataset_digest,
    sha256_file,
    verify_store,
)
from interlingua.core.errors import StoreError
from interlingua.core.fingerprint import check_resume, make_fingerprint, model_identity
from interlingua.core.locking import StoreLock, lock_holder, lock_path
from interlingua.core.store import ActivationStore
from interlingua.core.store_writer import partial_dir

sys.path.insert(0, str(Path(__file__).parent))
from _writer import assert_same_store as _assert_same
from _writer import batch


def _write(path: Path, n_batches: int, *, stop: int | None = None, **attrs) -> None:
    """One segment per batch; ``stop`` = close (interrupted) after that many batches."""
    writer = ActivationStore.create(path, model="m", extractor="test", segment_bytes=1,
                                    chunk_rows=16, attrs=attrs or None)
    for i in range(n_batches if stop is None else stop):
        writer.append(*batch(i))
    if stop is None:
        writer.finalize()
    else:
        writer.close()


def _flip(path: Path, offset: int, n: int = 64) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        old = fh.read(n)
        fh.seek(offset)
        fh.write(bytes(b ^ 0xFF for b in old))


def _data_offset(path: Path, key: str) -> int:
    """File offset of the raw values of dataset ``key`` (contiguous or first chunk)."""
    with h5py.File(path, "r") as f:
        ds = f[key]
        return ds.id.get_offset() if ds.chunks is None else ds.id.get_chunk_info(0).byte_offset


# -- segment checksums ----------------------------------------------------------------
def test_every_committed_segment_has_its_checksum(tmp_path):
    path = tmp_path / "s.h5"
    _write(path, 3, stop=3)
    for seg in sorted(partial_dir(path).glob("seg-*.h5")):
        record = json.loads(seg.with_suffix(".json").read_text())
        assert record["sha256"] == sha256_file(seg)[0]
        assert record["size"] == seg.stat().st_size and record["n_sentences"] == 6


def test_flipped_segment_data_is_refused_then_discarded_and_recomputed(tmp_path):
    reference = tmp_path / "ref.h5"
    _write(reference, 5)
    path = tmp_path / "d.h5"
    _write(path, 5, stop=4)
    seg = partial_dir(path) / "seg-000002.h5"
    _flip(seg, _data_offset(seg, "layers/1/words") + 8)  # inside the values, not a header
    before = sorted(p.name for p in partial_dir(path).iterdir())
    with pytest.raises(DamagedSegmentError) as info:
        ActivationStore.resume(path)
    message = str(info.value)
    assert f"{seg}: checksum mismatch" in message and "\n" not in message
    assert "--resume --discard-damaged" in message and "from sentence 12" in message
    assert sorted(p.name for p in partial_dir(path).iterdir()) == before  # nothing removed
    with pytest.raises(StoreError, match="incomplete"):
        ActivationStore.open(path)  # no store appears from damaged segments
    writer = ActivationStore.resume(path, discard_damaged=True)
    assert writer.progress == 12
    assert [p.name for p in writer.discarded] == ["seg-000002.h5", "seg-000003.h5"]
    for i in range(writer.progress // 6, 5):
        writer.append(*batch(i))
    writer.finalize()
    _assert_same(path, reference)
    assert verify_store(path) == verify_store(reference)


def test_segment_damaged_after_its_commit_never_reaches_the_store(tmp_path):
    # The store file is built from the rows in memory, block by block, so a segment
    # damaged on disk after its commit (only needed for resuming) cannot leak into it.
    reference = tmp_path / "ref.h5"
    _write(reference, 3)
    path = tmp_path / "f.h5"
    writer = ActivationStore.create(path, model="m", extractor="test", segment_bytes=1,
                                    chunk_rows=16)
    for i in range(3):
        writer.append(*batch(i))
    seg = partial_dir(path) / "seg-000001.h5"
    _flip(seg, _data_offset(seg, "layers/0/sentences"))
    writer.finalize()
    _assert_same(path, reference)
    assert verify_store(path) == verify_store(reference)
    assert not partial_dir(path).exists() and not path.with_name("f.h5.writing").exists()


def test_segment_damaged_before_a_resume_is_found_and_recomputed(tmp_path):
    path = tmp_path / "f.h5"
    writer = ActivationStore.create(path, model="m", extractor="test", segment_bytes=1)
    for i in range(3):
        writer.append(*batch(i))
    writer.close()
    assert not path.with_name("f.h5.writing").exists()  # rebuilt by a resume
    seg = partial_dir(path) / "seg-000001.h5"
    _flip(seg, _data_offset(seg, "layers/0/sentences"))
    with pytest.raises(DamagedSegmentError, match="seg-000001.h5: checksum mismatch"):
        ActivationStore.resume(path)
    writer = ActivationStore.resume(path, discard_damaged=True)
    assert writer.progress == 6
    for i in range(1, 3):
        writer.append(*batch(i))
    writer.finalize()
    assert verify_store(path) > 0


def test_missing_or_unrecorded_segment_is_named(tmp_path):
    path = tmp_path / "m.h5"
    _write(path, 4, stop=4)
    (partial_dir(path) / "seg-000001.json").unlink()
    with pytest.raises(DamagedSegmentError, match="seg-000001.h5: no valid commit record"):
        ActivationStore.resume(path)
    (partial_dir(path) / "seg-000001.h5").unlink()
    with pytest.raises(DamagedSegmentError, match="seg-000001.h5: missing"):
        ActivationStore.resume(path)


# -- finished-store checksums ---------------------------------------------------------
def test_finished_store_verifies_and_damage_is_named(tmp_path):
    path = tmp_path / "v.h5"
    _write(path, 4)
    # 7 metadata columns + 3 layers x 2 levels
    assert verify_store(path) == 13
    _flip(path, _data_offset(path, "layers/2/words") + 4, n=16)
    with pytest.raises(StoreError, match="/layers/2/words: checksum mismatch") as info:
        verify_store(path)
    assert "/layers/1/words" not in str(info.value)


def test_changed_attributes_and_added_datasets_are_caught(tmp_path):
    path = tmp_path / "a.h5"
    _write(path, 2)
    with h5py.File(path, "a") as f:
        f.attrs["model"] = "another"
        f.create_dataset("layers/9/words", data=np.zeros((3, 2)))
    with pytest.raises(StoreError, match="root attributes.*/layers/9/words: added"):
        verify_store(path)


def test_dataset_digest_reads_in_bounded_chunks(tmp_path, monkeypatch):
    path = tmp_path / "c.h5"
    _write(path, 3)
    import interlingua.core.checksums as checksums

    with h5py.File(path, "r") as f:
        whole = {key: dataset_digest(f[key]) for key in ("layers/0/words", "words/text")}
        monkeypatch.setattr(checksums, "_READ_BYTES", 40)  # a row or two per read
        reads = []
        original = h5py.Dataset.__getitem__
        monkeypatch.setattr(h5py.Dataset, "__getitem__",
                            lambda ds, key: reads.append(key) or original(ds, key))
        assert {key: dataset_digest(f[key]) for key in whole} == whole
    assert len(reads) > 10


def test_store_without_checksums_opens_but_cannot_be_verified(tmp_path):
    path = tmp_path / "old.h5"
    _write(path, 2)
    with h5py.File(path, "a") as f:
        del f["checksums"]
    with ActivationStore.open(path) as st:
        assert st.n_sentences == 12
    with pytest.raises(StoreError, match="carries no checksums"):
        verify_store(path)


# -- one writer per store -------------------------------------------------------------
HOLDER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from interlingua.core.store import ActivationStore, SentenceRecord
    writer = ActivationStore.create(sys.argv[1], model="m", extractor="test", segment_bytes=1)
    writer.append([SentenceRecord(["a", "b"], "en")], {"0": {"words": np.ones((2, 3))}})
    print("ready", flush=True)
    time.sleep(60)
""")


def _start_holder(path: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_second_writer_is_refused_while_the_first_runs(tmp_path):
    path = tmp_path / "busy.h5"
    proc = _start_holder(path)
    try:
        before = _snapshot(partial_dir(path))
        busy = f"{path} is being written by process {proc.pid}"
        for attempt in (lambda: ActivationStore.create(path, model="m", extractor="t"),
                        lambda: ActivationStore.create(path, model="m", extractor="t",
                                                       overwrite=True),
                        lambda: ActivationStore.resume(path),
                        lambda: ActivationStore.open(path)):
            t0 = time.monotonic()
            with pytest.raises(StoreError) as info:
                attempt()
            assert time.monotonic() - t0 < 2
            assert busy in str(info.value) and "interrupted" not in str(info.value)
        assert lock_holder(path)["pid"] == proc.pid
        assert _snapshot(partial_dir(path)) == before  # the first writer's files untouched
    finally:
        proc.kill()
        proc.wait()


def test_lock_of_a_killed_writer_does_not_block(tmp_path):
    path = tmp_path / "stale.h5"
    proc = _start_holder(path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lock_path(path).exists()  # left behind, but nobody holds it
    assert lock_holder(path) is None
    with pytest.raises(StoreError, match="interrupted extraction"):
        ActivationStore.create(path, model="m", extractor="t")
    writer = ActivationStore.resume(path)
    assert writer.progress == 1 and lock_holder(path)["pid"] == os.getpid()
    writer.finalize()
    assert not lock_path(path).exists()


def test_lock_is_held_for_the_writers_life_only(tmp_path):
    path = tmp_path / "life.h5"
    writer = ActivationStore.create(path, model="m", extractor="t")
    with pytest.raises(StoreError, match=f"being written by process {os.getpid()}"):
        ActivationStore.create(path, model="m", extractor="t", overwrite=True)
    writer.close()
    assert lock_holder(path) is None
    writer = ActivationStore.resume(path)
    writer.abort()
    assert lock_holder(path) is None and not lock_path(path).exists()
    lock = StoreLock.acquire(path)
    del lock  # garbage collected: released
    ActivationStore.create(path, model="m", extractor="t").close()


# -- resume fingerprints --------------------------------------------------------------
def _model_dir(root: Path) -> Path:
    model = root / "model"
    model.mkdir()
    for name, data in (("config.json", b"{}"), ("model.safetensors", b"w" * 64),
                       ("tokenizer.json", b"{}")):
        (model / name).write_bytes(data)
    return model


def _fields(model: Path, **changes) -> dict:
    fields = {"extractor": "hf", "model": model_identity(str(model), model),
              "layers": ["0", "2"], "sort_window": 8, "word_aggregation": "mean"}
    return {**fields, **changes}


def _texts() -> list[str]:
    return [r.text for i in range(5) for r in batch(i)[0]]


def test_resume_refuses_changed_weights_naming_the_file(tmp_path):
    model = _model_dir(tmp_path)
    path = tmp_path / "fp.h5"
    _write(path, 5, stop=2, **make_fingerprint(_fields(model)))
    writer = ActivationStore.resume(path)
    check_resume(writer, _fields(model), _texts())  # unchanged: accepted
    weights = model / "model.safetensors"
    weights.write_bytes(b"v" * 64)  # same size, new contents and time
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    with pytest.raises(StoreError, match="cannot resume fp.h5: model weights differ .*"
                                         "changed: model.safetensors"):
        check_resume(writer, _fields(model), _texts())
    writer.close()


def test_resume_refuses_other_settings_naming_each_field(tmp_path):
    model = _model_dir(tmp_path)
    path = tmp_path / "fs.h5"
    _write(path, 5, stop=2, **make_fingerprint(_fields(model)))
    writer = ActivationStore.resume(path)
    with pytest.raises(StoreError) as info:
        check_resume(writer, _fields(model, sort_window=4, layers=["0"]), _texts())
    message = str(info.value)
    assert message.startswith("cannot resume fs.h5: ") and "\n" not in message
    assert "sort_window differs (stored 8, now 4)" in message
    assert "layers differs (stored ['0', '2'], now ['0'])" in message
    assert "word_aggregation" not in message and "model" not in message
    with pytest.raises(StoreError) as info:  # another extractor: other fields not compared
        check_resume(writer, _fields(model, extractor="neurox", sort_window=4), _texts())
    assert "extractor differs (stored 'hf', now 'neurox');" in str(info.value)
    assert "sort_window" not in str(info.value)
    with pytest.raises(StoreError, match="sentence 3 differs from the corpus"):
        texts = _texts()
        texts[3] = "something else"
        check_resume(writer, _fields(model), texts)
    writer.close()


def test_store_without_fingerprint_is_compared_by_its_attributes(tmp_path):
    path = tmp_path / "legacy.h5"
    _write(path, 5, stop=1, sort_window=8)  # no fingerprint attributes, as before
    writer = ActivationStore.resume(path)
    model = _model_dir(tmp_path)
    fields = {**_fields(model), "model": {**_fields(model)["model"], "name": "m"},
              "extractor": "test"}
    check_resume(writer, fields, _texts())
    with pytest.raises(StoreError, match="sort_window differs \\(stored 8, now 4\\)"):
        check_resume(writer, {**fields, "sort_window": 4}, _texts())
    writer.close()
