"""Automatic windows of the ``hf`` extractor and the rows they hold (issue 15)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import interlingua as il  # noqa: E402
from interlingua.core.store import ActivationStore  # noqa: E402
from interlingua.core.store_writer import partial_dir  # noqa: E402
from interlingua.plugins.extraction.forward import plan_batches  # noqa: E402
from interlingua.plugins.extraction.windows import (  # noqa: E402
    MAX_WINDOW,
    MIN_WINDOW,
    PLACED_WINDOW_FACTOR,
    WindowRows,
    layer_widths,
    release_free_heap,
    window_size,
)


class _Config:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_window_size_fits_the_budget():
    cfg = _Config(hidden_size=384, intermediate_size=1536)
    words = [30] * 100  # 31 rows per sentence with its sentence row
    # 13 layers x 384 floats x 31 rows = 619,008 bytes per sentence
    size = window_size(words, 13, 0, cfg, 1024)
    assert size == (1024 * 2**20 // 619_008) // 64 * 64 == 1728
    assert size * 619_008 <= 1024 * 2**20
    with_modules = window_size(words, 13, 12, cfg, 1024)  # + 12 x 1536 per row
    assert with_modules == max(MIN_WINDOW, (2**30 // (4 * 31 * (13 * 384 + 12 * 1536)))
                               // 64 * 64)
    assert window_size(words, 13, 0, cfg, 1) == MIN_WINDOW
    assert window_size([1] * 10, 1, 0, cfg, 10**6) == MAX_WINDOW
    assert window_size([], 13, 0, cfg, 1024) % 64 == 0


@pytest.mark.parametrize(("attrs", "expected"), [
    ({"hidden_size": 640, "intermediate_size": 2048}, (640, 2048)),
    ({"d_model": 512, "d_ff": 1024}, (512, 1024)),  # T5
    ({"n_embd": 768, "n_inner": None}, (768, 3072)),  # GPT-2: inner defaults to 4 x
])
def test_layer_widths_of_config_families(attrs, expected):
    assert layer_widths(_Config(**attrs)) == expected


def test_window_rows_are_in_corpus_order_whatever_the_batch_order():
    rng = np.random.default_rng(0)
    counts = [3, 1, 4, 1, 5, 2]
    words = [rng.normal(size=(c, 5)).astype(np.float32) for c in counts]
    sents = [rng.normal(size=5).astype(np.float32) for _ in counts]
    rows = WindowRows(counts)
    for batch in ([4, 2], [0, 5, 1], [3]):  # as length-sorted batches visit them
        rows.put_batch(batch, {"7": (np.concatenate([words[i] for i in batch]),
                                     np.stack([sents[i] for i in batch]))})
    np.testing.assert_array_equal(rows.layers["7"]["words"], np.concatenate(words))
    np.testing.assert_array_equal(rows.layers["7"]["sentences"], np.stack(sents))


def _corpus(n):
    base = ["the quick brown fox jumps", "a b", "one two three four five six seven eight",
            "hello world again", "x"]
    return [f"{base[i % 5]} {i}" for i in range(n)]


def _layers(path):
    with ActivationStore.open(path) as st:
        return {(n, lv): st.layer(n, lv)[:] for n in st.layers for lv in st.levels(n)}, \
            dict(st.attrs)


@pytest.mark.parametrize(("compression", "budget_mb", "n"), [
    (None, PLACED_WINDOW_FACTOR, 2400),  # rows written in place: windows wait on disk
    ("gzip", 1, 600),  # rows held in memory until the window is committed
])
def test_automatic_window_is_recorded_and_equals_the_explicit_one(
        tiny_bert, tmp_path, compression, budget_mb, n):
    auto = il.get_extractor("hf", model=str(tiny_bert), progress=False, lang="en", window_mb=1,
                            compression=compression)
    auto.extract(_corpus(n), tmp_path / "auto.h5")
    rows_auto, attrs = _layers(tmp_path / "auto.h5")
    from transformers import AutoConfig

    from interlingua.plugins.extraction.corpus import as_corpus

    words = [len(s.words) for s in as_corpus(_corpus(n), lang="en").sentences]
    n_layers = len({name for name, _ in rows_auto})
    expected = window_size(words, n_layers, 0, AutoConfig.from_pretrained(tiny_bert), budget_mb)
    assert attrs["sort_window"] == expected < n  # more than one window
    fixed = il.get_extractor("hf", model=str(tiny_bert), progress=False, lang="en",
                             sort_window=expected, compression=compression)
    fixed.extract(_corpus(n), tmp_path / "fixed.h5")
    rows_fixed, _ = _layers(tmp_path / "fixed.h5")
    for key in rows_auto:
        np.testing.assert_array_equal(rows_auto[key], rows_fixed[key])


def test_bigger_window_pads_less(tiny_bert):
    from interlingua.plugins.extraction.corpus import as_corpus
    from interlingua.plugins.extraction.loading import load_model
    from interlingua.plugins.extraction.words import tokenize_window

    loaded = load_model(str(tiny_bert), device="cpu")

    sentences = as_corpus(_corpus(600), lang="en").sentences
    rng = np.random.default_rng(1)
    order = rng.permutation(600)
    sentences = [sentences[i] for i in order]

    def padded(window):
        total = 0
        for lo in range(0, 600, window):
            toks = tokenize_window(loaded.tokenizer, sentences[lo:lo + window], lo, prefix="",
                                   max_length=loaded.max_length)
            for b in plan_batches(toks, 32, 8192):
                total += max(toks[i].n_tokens for i in b) * len(b)
        return total

    assert padded(600) < padded(64)


def test_resume_keeps_the_interrupted_runs_window(tiny_bert, tmp_path, interrupt_appends):
    corpus = _corpus(4000)
    small = il.get_extractor("hf", model=str(tiny_bert), progress=False, lang="en", window_mb=1)
    restore = interrupt_appends(2)
    with pytest.raises(KeyboardInterrupt):
        small.extract(corpus, tmp_path / "part.h5")
    restore()
    assert partial_dir(tmp_path / "part.h5").is_dir()
    # A default budget would choose a bigger window; the resume keeps the first one.
    big = il.get_extractor("hf", model=str(tiny_bert), progress=False, lang="en")
    big.extract(corpus, tmp_path / "part.h5", resume=True)
    small.extract(corpus, tmp_path / "full.h5")
    rows_resumed, attrs = _layers(tmp_path / "part.h5")
    rows_full, full_attrs = _layers(tmp_path / "full.h5")
    assert attrs["sort_window"] == full_attrs["sort_window"] < 4000 / 2
    for key in rows_full:
        np.testing.assert_array_equal(rows_resumed[key], rows_full[key])


def test_window_parameters_are_checked(tiny_bert, tmp_path):
    from interlingua.core.errors import InputError

    with pytest.raises(InputError, match="window_mb must be >= 1"):
        il.get_extractor("hf", model=str(tiny_bert), lang="en", window_mb=0).extract(
            _corpus(3), tmp_path / "x.h5")
    with pytest.raises(InputError, match="sort_window must be >= 1"):
        il.get_extractor("hf", model=str(tiny_bert), lang="en", sort_window=0).extract(
            _corpus(3), tmp_path / "x.h5")


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status")


def test_release_free_heap_gives_freed_pages_back():
    from interlingua.plugins.extraction import windows

    if windows._malloc_trim() is None:
        pytest.skip("the C library has no malloc_trim (not glibc)")
    # 160 MiB in heap-sized blocks, then one block above them: freeing the 160 MiB
    # leaves a hole glibc does not give back by itself (it trims only the heap's top).
    blocks = [bytearray(b"x" * 65536) for _ in range(2560)]
    pin = bytearray(b"y" * 65536)
    del blocks
    before = _rss_mib()
    assert release_free_heap() is True
    after = _rss_mib()
    assert before - after > 80, (before, after)
    assert pin[0] == ord("y")


def test_release_free_heap_without_malloc_trim_does_nothing(monkeypatch):
    from interlingua.plugins.extraction import windows

    monkeypatch.setattr(windows, "_malloc_trim", lambda: None)  # a libc without it
    assert release_free_heap() is False


def test_heap_is_released_after_every_window(tiny_bert, tmp_path, monkeypatch):
    from interlingua.plugins.extraction import hf

    calls = []

    def counting() -> bool:
        calls.append(1)
        return True

    monkeypatch.setattr(hf, "release_free_heap", counting)
    ex = il.get_extractor("hf", model=str(tiny_bert), progress=False, lang="en",
                          sort_window=4)
    ex.extract(_corpus(10), tmp_path / "out.h5")
    assert len(calls) == 3  # windows of 4, 4 and 2 sentences
