"""``interlingua extract``: end to end, including kill -9 and --resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from interlingua.cli import main
from interlingua.core.store import ActivationStore


@pytest.fixture()
def parallel(parallel_tsv) -> Path:
    return parallel_tsv(30)


def run(*args) -> int:
    return main([str(a) for a in args])


def assert_same_store(a: Path, b: Path) -> None:
    with ActivationStore.open(a) as x, ActivationStore.open(b) as y:
        assert x.layers == y.layers and x.n_sentences == y.n_sentences
        assert list(x.sentences.text) == list(y.sentences.text)
        assert list(x.sentences.pair_id) == list(y.sentences.pair_id)
        assert list(x.words.text) == list(y.words.text)
        for name in x.layers:
            for level in ("words", "sentences"):
                np.testing.assert_array_equal(x.layer(name, level)[:], y.layer(name, level)[:])


def test_extract_tsv_then_info(tiny_bert, parallel, tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert run("extract", tiny_bert, parallel, "-o", out, "--quiet", "--layers", "0,-1",
               "--word-agg", "first", "--dtype", "float16", "--batch-size", "7") == 0
    shown = capsys.readouterr().out
    assert "sentences" in shown and "60" in shown
    with ActivationStore.open(out) as st:
        assert st.layers == ["0", "2"] and st.languages == ["en", "ru"]
        assert st.attrs["word_aggregation"] == "first" and st.attrs["dtype"] == "float16"
        rows_en, _ = st.parallel_rows("en", "ru")
        assert len(rows_en) == 30
    assert run("info", out) == 0
    assert "complete" in capsys.readouterr().out
    # an existing complete store is refused without --overwrite
    assert run("extract", tiny_bert, parallel, "-o", out, "--quiet") == 1
    assert "overwrite" in capsys.readouterr().err
    assert run("extract", tiny_bert, parallel, "-o", out, "--quiet", "--overwrite") == 0
    assert run("extract", tiny_bert, parallel, "-o", out, "--quiet", "--resume") == 0
    assert "already complete" in capsys.readouterr().out


def test_truncation_is_reported_on_screen(tiny_bert, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("short one\n" + "long " * 50 + "\n", encoding="utf-8")
    assert run("extract", tiny_bert, corpus, "--lang", "en", "-o", tmp_path / "t.h5",
               "--quiet", "--max-length", "16") == 0
    err = capsys.readouterr().err
    assert "1 sentence(s) were longer than max_length=16" in err
    with ActivationStore.open(tmp_path / "t.h5") as st:
        assert st.attrs["n_truncated_sentences"] == 1


def test_bad_input_gives_one_line_errors(tiny_bert, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello\n", encoding="utf-8")
    assert run("extract", tiny_bert, corpus, "-o", tmp_path / "x.h5", "--quiet") == 1
    assert "language" in capsys.readouterr().err
    assert run("extract", tmp_path / "nowhere", corpus, "--lang", "en", "-o",
               tmp_path / "x.h5", "--quiet") == 1
    assert "no such directory" in capsys.readouterr().err


KILLABLE = textwrap.dedent("""
    import sys, time
    from interlingua.core.store_writer import StoreWriter
    original = StoreWriter.flush
    def flush(self, wait=None):
        original(self, wait=True)  # so that "committed" is true when printed
        print("committed", self.committed, flush=True)
        time.sleep(0.3)
    StoreWriter.flush = flush
    from interlingua.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_kill_9_then_resume_equals_uninterrupted(tiny_bert, parallel, tmp_path):
    args = [str(tiny_bert), str(parallel), "--quiet", "--batch-size", "3", "--sort-window", "8"]
    whole = tmp_path / "whole.h5"
    assert run("extract", *args, "-o", whole) == 0
    part = tmp_path / "part.h5"
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, "extract", *args, "-o", str(part)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    committed = 0
    try:
        for line in proc.stdout:
            if line.startswith("committed"):
                committed = int(line.split()[1])
                if committed >= 16:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    assert 16 <= committed < 60
    assert not part.exists()  # the store path only ever holds a complete file
    assert run("extract", *args, "-o", part) == 1  # refused: interrupted, needs --resume
    assert run("extract", *args, "-o", part, "--resume") == 0
    assert_same_store(whole, part)


def test_line_without_tokens_names_file_and_line(tiny_bert, tmp_path, capsys):
    # U+FFFD passes the corpus reader (it is visible) but BERT's normaliser drops it.
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\n\ufffd \ufffd\n", encoding="utf-8")
    assert run("extract", tiny_bert, corpus, "--lang", "en", "-o", tmp_path / "t.h5",
               "--quiet") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"Error: {corpus}:2: no tokens after the tokenizer's normalisation: "
                     "'\ufffd \ufffd' holds only characters the tokenizer drops; delete the "
                     "line or fix its text"]
    assert "max_length" not in err


INTERRUPTIBLE = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignored
    from interlingua.core.store_writer import StoreWriter
    original = StoreWriter.flush
    def flush(self, wait=None):
        original(self, wait=True)  # so that "committed" is true when printed
        print("committed", self.committed, flush=True)
        time.sleep(0.5)
    StoreWriter.flush = flush
    from interlingua.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.slow
def test_sigint_says_how_to_resume(tiny_bert, parallel, tmp_path):
    args = [str(tiny_bert), str(parallel), "--quiet", "--batch-size", "4", "--sort-window", "8"]
    out = tmp_path / "int.h5"
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTIBLE, "extract", *args, "-o",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in proc.stdout:
            if line.startswith("committed"):
                proc.send_signal(signal.SIGINT)
                break
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()] == [
        "interrupted; committed batches are kept: rerun with --resume to continue"
    ]
    assert not out.exists()
    assert run("extract", *args, "-o", out, "--resume") == 0
    with ActivationStore.open(out) as st:
        assert st.n_sentences == 60
