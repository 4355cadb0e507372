"""The extractor reports through the progress protocol; ``extract``'s options mirror the hf
extractor's declared parameters."""

from __future__ import annotations

import contextlib

import pytest
from click.testing import CliRunner

from interlingua.plugins.extraction.cli import _FLAGS, _HF_OPTIONS, extract
from interlingua.plugins.extraction.corpus import Corpus, CorpusSentence
from interlingua.plugins.extraction.hf import HFExtractor


class Recorder:
    """A :class:`~interlingua.core.progress.Progress` that records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @contextlib.contextmanager
    def task(self, description, total=None, **fields):
        self.calls.append(("task", description, total))
        calls = self.calls

        class _Task:
            def advance(self, steps=1, **fields):
                calls.append(("advance", steps, fields))

            def update(self, *, total=None, description=None):
                calls.append(("update", total, description))

        yield _Task()
        self.calls.append(("end", description))


def test_extractor_reports_through_the_protocol_with_a_rate(tiny_bert, tmp_path):
    pytest.importorskip("torch")
    sentences = [CorpusSentence(words=f"sentence number {i} here".split(), lang="en")
                 for i in range(7)]
    recorder = Recorder()
    ex = HFExtractor(model=str(tiny_bert), batch_size=3, progress=False)
    ex.extract(Corpus(sentences), tmp_path / "p.h5", progress=recorder)
    assert recorder.calls[0] == ("task", "extracting", 7)
    assert recorder.calls[-1] == ("end", "extracting")
    advances = [c for c in recorder.calls if c[0] == "advance"]
    assert [c[1] for c in advances] == [3, 3, 1]
    assert all("sent/s" in c[2]["rate"] and "tok/s" in c[2]["rate"] for c in advances)


def test_extract_options_carry_the_plugins_declared_defaults():
    options = {p.name: p for p in extract.params}
    for name in _HF_OPTIONS:
        spec = HFExtractor.param_spec(name)
        assert options[name].default == spec.default, name
        assert spec.help in (options[name].help or ""), name
        flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
        assert flag in options[name].opts, name
    assert options["word_aggregation"].opts == ["--word-agg"]
    assert options["sentence_pooling"].opts == ["--sentence-pool"]


def test_out_of_range_values_are_usage_errors_before_any_work(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\n", encoding="utf-8")
    for args, message in ((["--batch-size", "0"], "batch_size must be >= 1"),
                          (["--sort-window", "0"], "sort_window must be >= 1"),
                          (["--max-length", "1"], "max_length must be >= 2")):
        result = CliRunner().invoke(extract, ["no-model", str(corpus), "--lang", "en", "-o",
                                              str(tmp_path / "x.h5"), *args])
        assert result.exit_code == 2 and message in result.output, result.output


def test_hf_only_options_are_refused_for_neurox(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\n", encoding="utf-8")
    result = CliRunner().invoke(extract, ["m", str(corpus), "--lang", "en", "-o",
                                          str(tmp_path / "x.h5"), "--extractor", "neurox",
                                          "--layers", "0,1", "--prefix", "q: ",
                                          "--sentence-pool", "cls"])
    assert result.exit_code == 2
    assert "--layers, --prefix, --sentence-pool not supported by --extractor neurox" \
        in result.output
