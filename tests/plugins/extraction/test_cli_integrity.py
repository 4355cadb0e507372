"""``interlingua extract`` / ``info --verify`` under fault injection.

Damaged segments and stores, a second writer while one runs, a killed writer's lock,
and resumes whose model or settings no longer match the store.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from interlingua.cli import main
from interlingua.core.store import ActivationStore
from interlingua.core.store_writer import StoreWriter, partial_dir


@pytest.fixture()
def corpus(parallel_tsv) -> Path:
    return parallel_tsv(16)


def run(*args) -> int:
    return main([str(a) for a in args])


def interrupted(monkeypatch, *args, after: int = 3) -> int:
    """Run ``extract`` and interrupt it (Ctrl-C) after ``after`` committed windows."""
    calls = {"n": 0}
    original = StoreWriter.append

    def append(self, records, layers=None, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise KeyboardInterrupt
        return original(self, records, layers, **kwargs)

    monkeypatch.setattr(StoreWriter, "append", append)
    try:
        return run("extract", *args)
    finally:
        monkeypatch.setattr(StoreWriter, "append", original)


def flip(path: Path, key: str, skip: int = 8, n: int = 32) -> None:
    """Invert ``n`` bytes inside the raw values of dataset ``key`` (not its header)."""
    with h5py.File(path, "r") as f:
        ds = f[key]
        offset = ds.id.get_offset() if ds.chunks is None else ds.id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset + skip)
        old = fh.read(n)
        fh.seek(offset + skip)
        fh.write(bytes(b ^ 0xFF for b in old))


def assert_same_store(a: Path, b: Path) -> None:
    with ActivationStore.open(a) as x, ActivationStore.open(b) as y:
        assert x.layers == y.layers and x.n_sentences == y.n_sentences
        assert list(x.sentences.text) == list(y.sentences.text)
        assert list(x.words.text) == list(y.words.text)
        for name in x.layers:
            for level in ("words", "sentences"):
                np.testing.assert_array_equal(x.layer(name, level)[:], y.layer(name, level)[:])


def base_args(model: Path, corpus: Path) -> list[str]:
    return [str(model), str(corpus), "--quiet", "--batch-size", "3", "--sort-window", "4"]


@pytest.mark.parametrize("damaged", ["segment", "rows"])
def test_damaged_segment_is_refused_then_recomputed_on_request(tiny_bert, corpus, tmp_path,
                                                              monkeypatch, capsys, damaged):
    args = base_args(tiny_bert, corpus)
    whole = tmp_path / "whole.h5"
    assert run("extract", *args, "-o", whole) == 0
    part = tmp_path / "part.h5"
    assert interrupted(monkeypatch, *args, "-o", part, after=4) == 130
    seg = partial_dir(part) / "seg-000001.h5"
    if damaged == "segment":  # the committed block file (its sentences' columns)
        flip(seg, "sentences/pair_id", skip=0, n=8)
        reason = "checksum mismatch"
    else:  # the second window's rows, written in place in the store file
        with h5py.File(whole, "r") as f:
            first_row = int(f["sentences/word_offsets"][4])
            row_bytes = f["layers/2/words"].shape[1] * 4
        flip(part.with_name("part.h5.writing"), "layers/2/words", skip=first_row * row_bytes)
        reason = "its rows in part.h5.writing do not match its commit record"
    capsys.readouterr()
    assert run("extract", *args, "-o", part, "--resume") == 1
    err = capsys.readouterr().err
    assert f"{seg}: {reason}" in " ".join(err.split())
    assert "--resume --discard-damaged" in " ".join(err.split())
    assert not part.exists() and seg.exists()  # refused, nothing discarded silently
    assert run("extract", *args, "-o", part, "--discard-damaged") == 2  # needs --resume
    assert run("extract", *args, "-o", part, "--resume", "--discard-damaged") == 0
    assert "discarded 3 damaged or later segment(s) from seg-000001.h5" in " ".join(
        capsys.readouterr().err.split())
    assert_same_store(whole, part)
    assert run("info", "--verify", part) == 0
    assert "verified 13 datasets" in capsys.readouterr().out


def test_info_verify_names_the_damaged_dataset(tiny_bert, corpus, tmp_path, capsys):
    store = tmp_path / "s.h5"
    assert run("extract", *base_args(tiny_bert, corpus), "-o", store, "--layers", "0,-1") == 0
    assert run("info", "--verify", store) == 0
    assert "verified 11 datasets" in capsys.readouterr().out
    flip(store, "layers/2/words", n=8)
    assert run("info", "--verify", store) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "/layers/2/words: checksum mismatch" in err and "/layers/0/words" not in err
    with h5py.File(store, "a") as f:  # a store written before checksums existed
        del f["checksums"]
    assert run("info", "--verify", store) == 1
    assert "carries no checksums" in capsys.readouterr().err
    assert run("info", store) == 0  # still readable


HOLDER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from interlingua.core.store import ActivationStore, SentenceRecord
    writer = ActivationStore.create(sys.argv[1], model="m", extractor="test", segment_bytes=1)
    writer.append([SentenceRecord(["a", "b"], "en")], {"0": {"words": np.ones((2, 3))}})
    print("ready", flush=True)
    time.sleep(60)
""")


def test_running_extraction_is_never_replaced_or_called_interrupted(tiny_bert, corpus,
                                                                    tmp_path, capsys):
    out = tmp_path / "busy.h5"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        files = {p.name: p.read_bytes() for p in partial_dir(out).iterdir()}
        for extra in ([], ["--overwrite"], ["--resume"]):
            assert run("extract", *base_args(tiny_bert, corpus), "-o", out, *extra) == 1
            err = " ".join(capsys.readouterr().err.split())
            assert f"is being written by process {proc.pid}" in err
            assert "interrupted" not in err and "--resume" not in err
        assert run("info", out) == 0
        shown = " ".join(capsys.readouterr().out.split())
        assert f"BEING WRITTEN by process {proc.pid}" in shown and "interrupted" not in shown
        assert {p.name: p.read_bytes() for p in partial_dir(out).iterdir()} == files
    finally:
        proc.kill()
        proc.wait()
    # killed: its lock file is left behind but blocks nobody
    assert out.with_name("busy.h5.lock").exists()
    assert run("extract", *base_args(tiny_bert, corpus), "-o", out) == 1
    assert "interrupted extraction" in capsys.readouterr().err
    assert run("extract", *base_args(tiny_bert, corpus), "-o", out, "--overwrite") == 0
    assert not out.with_name("busy.h5.lock").exists()


def test_resume_refuses_swapped_weights(tiny_bert, corpus, tmp_path, monkeypatch, capsys):
    from safetensors.numpy import load_file, save_file

    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    args = base_args(model, corpus)
    part = tmp_path / "part.h5"
    assert interrupted(monkeypatch, *args, "-o", part) == 130
    weights = model / "model.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1
    save_file(tensors, weights)
    capsys.readouterr()
    assert run("extract", *args, "-o", part, "--resume") == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "cannot resume part.h5: model weights differ" in err and "model.safetensors" in err
    assert partial_dir(part).is_dir() and not part.exists()


@pytest.mark.parametrize("change, field", [
    (["--sort-window", "8"], "sort_window differs (stored 4, now 8)"),
    (["--layers", "0"], "layers differs"),
    (["--prefix", "query: "], "prefix differs"),
    (["--extractor", "neurox"], "extractor differs (stored 'hf', now 'neurox')"),
])
def test_resume_refuses_other_settings(tiny_bert, corpus, tmp_path, monkeypatch, capsys,
                                       change, field):
    if "neurox" in change:
        from interlingua.plugins.extraction.neurox import NeuroXExtractor

        if NeuroXExtractor.unavailable_reason():
            pytest.skip("NeuroX is not installed")
    args = base_args(tiny_bert, corpus)
    part = tmp_path / "part.h5"
    assert interrupted(monkeypatch, *args, "-o", part, after=1) == 130
    capsys.readouterr()
    assert run("extract", *args, *change, "-o", part, "--resume") == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "cannot resume part.h5" in err and field in err
    assert os.listdir(partial_dir(part))  # still resumable with the right settings
    assert run("extract", *base_args(tiny_bert, corpus), "-o", part, "--resume") == 0
