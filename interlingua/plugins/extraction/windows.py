"""Windows of the ``hf`` extractor: how many sentences, and their rows in memory.

A window is the unit of length sorting and of a store commit. Bigger windows mean
less padding — sorting 256 sentences at a time gave 8.5 % more padded tokens than a
global sort on 1,000 Bible verses and 13 % on 10,000 (multilingual-e5-small, batches
of 32), which is most of what separated the extractor from a bare length-sorted
forward loop (issue 15). By default (``sort_window=None``) a window holds as many
sentences as ``window_mb`` of rows (:func:`window_size`). Uncompressed stores write
each batch's rows in place in the store file and hold no window in memory; compressed
stores hold a window's rows until it is committed, written by each batch straight into
preallocated window arrays (:class:`WindowRows`), never concatenated."""

from __future__ import annotations

import ctypes
import functools
import mmap
from collections.abc import Sequence
from typing import Any

import numpy as np

from interlingua.core.errors import InputError

#: Bounds of an automatic window (sentences).
MIN_WINDOW, MAX_WINDOW = 64, 8192

#: Uncompressed stores size their windows for this many times ``window_mb``: their rows
#: go to the store file batch by batch and wait for the window's commit in the page
#: cache (written back by the kernel, dropped after the commit), not in the process.
#: Bigger windows pad less and have fewer longest batches: multilingual-e5-small on
#: 10,000 Bible verses, loop 96.2 -> 93.2 s and peak RSS 1,329 -> 1,289 MiB from 1,920
#: to 8,192 sentences per window (the default is now 7,680 there).
PLACED_WINDOW_FACTOR = 4


def layer_widths(config: Any) -> tuple[int, int]:
    """``(hidden size, FFN inner size)`` of a transformers config (estimates for sizing)."""
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    hidden = next((int(v) for k in ("hidden_size", "d_model", "n_embd", "dim")
                   if isinstance(v := getattr(config, k, None), int) and v > 0), 768)
    inner = next((int(v) for k in ("intermediate_size", "d_ff", "n_inner", "hidden_dim")
                  if isinstance(v := getattr(config, k, None), int) and v > 0), 4 * hidden)
    return hidden, inner


def window_size(words_per_sentence: Sequence[int], n_hidden_layers: int,
                n_module_layers: int, config: Any, budget_mb: int) -> int:
    """Sentences per window whose rows fit in ``budget_mb`` MiB (float32).

    Parameters
    ----------
    words_per_sentence : sequence of int
        Words of the corpus' first sentences (the estimate; deterministic for a corpus,
        so a resumed run gets the same windows).
    n_hidden_layers, n_module_layers : int
        Stored hidden-state layers and module layers.
    config : transformers config
        For the widths (:func:`layer_widths`).
    budget_mb : int
        Memory budget of one window's rows.

    Returns
    -------
    int
        Between :data:`MIN_WINDOW` and :data:`MAX_WINDOW`, a multiple of 64.
    """
    hidden, inner = layer_widths(config)
    rows = float(np.mean(words_per_sentence)) + 1.0 if len(words_per_sentence) else 32.0
    bytes_per_sentence = 4.0 * rows * (n_hidden_layers * hidden + n_module_layers * inner)
    fit = int(budget_mb * (1 << 20) // max(bytes_per_sentence, 1.0))
    return int(min(MAX_WINDOW, max(MIN_WINDOW, fit // 64 * 64)))


def small_pages(shape: tuple[int, int]) -> np.ndarray:
    """An uninitialised float32 array in anonymous memory without transparent huge pages.

    numpy asks the kernel for huge pages on big arrays (``madvise``); filling a fresh
    window that way took 1.45 s per 700 MB on our 2-core VM (the kernel compacts memory
    to find huge pages), 0.30 s with ordinary pages. Rows are filled sentence by
    sentence, so ordinary pages cost nothing else.
    """
    size = int(np.prod(shape)) * 4
    if size == 0:
        return np.empty(shape, np.float32)
    buffer = mmap.mmap(-1, size)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        buffer.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(buffer, dtype=np.float32).reshape(shape)


def check_float16_range(name: str, words: np.ndarray) -> None:
    """Refuse word rows beyond float16's range (storage ``dtype="float16"``)."""
    peak = float(np.abs(words).max(initial=0.0))
    if peak > 65504:
        raise InputError(
            f"layer {name!r} has activations up to {peak:.4g}, beyond the float16 "
            "range; use dtype float32"
        )


def release_free_heap() -> bool:
    """Give the free pages of the C heap back to the kernel (glibc ``malloc_trim``).

    The longest batches of a window free hundreds of MB of activations that glibc
    keeps in the heap; the next window's longest batches then fault in fresh pages on
    top of them instead of reusing them, so the peak RSS rose window after window
    (multilingual-e5-small, 10,000 verses: 1,308 MiB without, 1,231 MiB with a trim after
    each window, vs 1,104 MiB for 1,000 verses; 12-18 ms per call). Returns whether
    the C library has ``malloc_trim`` (glibc); elsewhere this does nothing.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim`` (looked up once), or None."""
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:  # no C library symbols to look at (not a POSIX build)
        return None


class WindowRows:
    """The rows of one window, in corpus order, filled batch by batch.

    Parameters
    ----------
    word_counts : sequence of int
        Stored words of each sentence of the window (in corpus order).
    """

    def __init__(self, word_counts: Sequence[int]) -> None:
        self.offsets = np.concatenate([[0], np.cumsum(word_counts)]).astype(np.int64)
        self.n_sentences = len(word_counts)
        self.layers: dict[str, dict[str, np.ndarray]] = {}

    def put_batch(self, positions: Sequence[int],
                  rows: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Store a batch: ``{layer: (word rows of the sentences at positions, one after
        the other; sentence rows)}`` — one scatter per layer and level."""
        pos = np.asarray(positions, dtype=np.int64)
        starts = self.offsets[pos]
        lengths = self.offsets[pos + 1] - starts
        # destination row of every word row: its sentence's start + its rank in it
        dest = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) \
            + np.arange(int(lengths.sum()))
        for name, (words, sentences) in rows.items():
            arrays = self.layers.get(name)
            if arrays is None:  # widths are known from the first batch
                arrays = self.layers[name] = {
                    "words": small_pages((int(self.offsets[-1]), words.shape[1])),
                    "sentences": small_pages((self.n_sentences, sentences.shape[1])),
                }
            arrays["words"][dest] = words
            arrays["sentences"][pos] = sentences


__all__ = [
    "MAX_WINDOW",
    "MIN_WINDOW",
    "PLACED_WINDOW_FACTOR",
    "WindowRows",
    "check_float16_range",
    "layer_widths",
    "release_free_heap",
    "small_pages",
    "window_size",
]
