"""The finished store file, built block by block while a store is written.

:class:`StoreAssembler` writes ``<store>.writing`` as the writer commits blocks of
sentences: each block is appended to resizable datasets laid out as described in
:mod:`interlingua.core.store`, straight from the rows in memory, and the SHA-256 of
every dataset is updated as it goes (:class:`~interlingua.core.checksums.DatasetDigests`).
:meth:`StoreAssembler.finish` then only writes the root attributes and digests, so
finalizing a store costs no second pass over its rows (issue 15: the old finalize copied
every segment into a new file and hashed it again).

``<store>.writing`` is not crash-safe (HDF5 files are not); the committed segments of
``<store>.partial/`` are. A resumed writer therefore deletes any ``.writing`` left by
the interrupted run and rebuilds it from the committed segments
(:meth:`StoreAssembler.append_segment`) in the same blocks, so the result holds what
an uninterrupted run writes.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from interlingua.core.checksums import GROUP, DatasetDigests
from interlingua.core.store_format import STR_DTYPE, SentenceRecord

#: Sentence-level columns of a block, in the order they are written.
_SENTENCE_COLUMNS = ("text", "lang", "pair_id", "target")


def record_columns(records: Sequence[SentenceRecord]) -> dict[str, Any]:
    """The columns of a block of sentences, as stored in segments and stores.

    Returns ``{"sentences/text", "sentences/lang": list of str, "sentences/pair_id",
    "sentences/target", "sentences/n_words": int64 arrays, "words/text": list of str}``.
    """
    return {
        "sentences/text": [r.text for r in records],
        "sentences/lang": [r.lang for r in records],
        "sentences/pair_id": np.array([r.pair_id for r in records], dtype=np.int64),
        "sentences/target": np.array([r.target for r in records], dtype=np.int64),
        "sentences/n_words": np.array([len(r.words) for r in records], dtype=np.int64),
        "words/text": [w for r in records for w in r.words],
    }


def segment_columns(segment: Path) -> dict[str, Any]:
    """The :func:`record_columns` of a committed segment file."""
    with h5py.File(segment, "r") as seg:
        return {key: seg[key][:] for key in (
            "sentences/text", "sentences/lang", "sentences/pair_id", "sentences/target",
            "sentences/n_words", "words/text")}


class StoreAssembler:
    """Appends committed blocks to the finished store file ``target``.

    Parameters
    ----------
    target : Path
        The file to build (``<store>.writing``); replaced if it exists.
    manifest : dict
        The manifest of the store being written: the layer schema, ``chunk_rows``,
        ``compression`` and the storage dtype (``attrs["dtype"]``). Root attributes are
        read from it at :meth:`finish`, so later :meth:`StoreWriter.set_attrs` count.

    Notes
    -----
    Datasets are created with the first block; their chunk rows are
    ``min(chunk_rows, 1 MiB of rows, rows of the first block)``, so a store written in
    one block is chunked as before and a resumed store, rebuilt in the same blocks, is
    chunked like an uninterrupted one.
    """

    def __init__(self, target: Path, manifest: dict[str, Any]) -> None:
        self.target = target
        self.manifest = manifest
        self.n_sentences = 0
        self.n_words = 0
        self._file: h5py.File | None = None
        self._columns: dict[str, h5py.Dataset] = {}
        self._layers: dict[tuple[str, str], h5py.Dataset] = {}
        self._digests = DatasetDigests()
        # Digests are computed on a thread of their own while h5py writes (sha256
        # releases the GIL): finishing the last block costs the slower of the two, not
        # their sum. One worker keeps each dataset's blocks in order.
        self._hasher: ThreadPoolExecutor | None = None
        self._hashing: list[Future] = []

    # -- building --------------------------------------------------------------------
    def _create(self, n_sent: int, n_words: int) -> None:
        self.target.unlink(missing_ok=True)
        f = self._file = h5py.File(self.target, "w")
        self._create_columns(n_sent, n_words)
        chunk_rows = int(self.manifest["chunk_rows"])
        compression = self.manifest["compression"]
        storage = self.manifest["attrs"]["dtype"]
        f.create_group("layers")
        for name, levels in (self.manifest["schema"] or {}).items():
            for level, dim in levels.items():
                n = n_words if level == "words" else n_sent
                rows = max(1, min(chunk_rows, (1 << 20) // max(dim * 4, 1), max(n, 1)))
                self._layers[(name, level)] = f.create_dataset(
                    f"layers/{name}/{level}", shape=(0, dim), maxshape=(None, dim),
                    dtype=storage if level == "words" else "float32",
                    chunks=(rows, dim), compression=compression,
                )
        for (name, level), ds in self._layers.items():
            self._digests.add(f"layers/{name}/{level}", ds.dtype)

    def _create_columns(self, n_sent: int, n_words: int) -> None:
        """The (empty, resizable) sentence and word columns of the open file."""
        f = self._file
        chunk_rows = int(self.manifest["chunk_rows"])
        string_rows = max(1, min(max(chunk_rows, 256), max(n_sent, n_words, 1)))
        for key, kind in (("sentences/text", STR_DTYPE), ("sentences/lang", STR_DTYPE),
                          ("sentences/pair_id", np.int64), ("sentences/target", np.int64),
                          ("sentences/word_offsets", np.int64), ("words/text", STR_DTYPE),
                          ("words/sentence", np.int64)):
            self._columns[key] = f.create_dataset(key, shape=(0,), maxshape=(None,),
                                                  dtype=kind, chunks=(string_rows,))
            self._digests.add(key, self._columns[key].dtype)
        self._put(self._columns["sentences/word_offsets"], "sentences/word_offsets",
                  np.zeros(1, dtype=np.int64))

    def _put(self, ds: h5py.Dataset, key: str, values: Any) -> None:
        if self._hasher is None:
            self._hasher = ThreadPoolExecutor(1, thread_name_prefix="store-digests")
        self._hashing.append(self._hasher.submit(self._digests.update, key, values))
        n = len(values)
        start = ds.shape[0]
        if n:
            ds.resize(start + n, axis=0)
            ds[start:start + n] = values

    def _wait_digests(self) -> None:
        """Wait until every block handed to the digest thread is hashed (its errors)."""
        pending, self._hashing = self._hashing, []
        for future in pending:
            future.result()

    def append(self, columns: dict[str, Any], layers: dict[str, dict[str, np.ndarray]]) -> None:
        """Append one block: :func:`record_columns` of its sentences and its layer rows
        (``{layer: {level: rows}}`` in the storage dtype, as checked by the writer)."""
        self._wait_digests()  # the previous block's: at most one block being hashed
        counts = np.asarray(columns["sentences/n_words"], dtype=np.int64)
        if self._file is None:
            self._create(len(counts), int(counts.sum()))
        self._append_columns(columns)
        for (name, level), ds in self._layers.items():
            self._put(ds, f"layers/{name}/{level}", layers[name][level])

    def _append_columns(self, columns: dict[str, Any]) -> None:
        """Append the sentence and word columns of one block (:func:`record_columns`)."""
        counts = np.asarray(columns["sentences/n_words"], dtype=np.int64)
        n_sent, n_words = len(counts), int(counts.sum())
        s0, w0 = self.n_sentences, self.n_words
        for name in _SENTENCE_COLUMNS:
            key = f"sentences/{name}"
            self._put(self._columns[key], key, columns[key])
        self._put(self._columns["words/text"], "words/text", columns["words/text"])
        self._put(self._columns["sentences/word_offsets"], "sentences/word_offsets",
                  w0 + np.cumsum(counts))
        self._put(self._columns["words/sentence"], "words/sentence",
                  np.repeat(np.arange(s0, s0 + n_sent, dtype=np.int64), counts))
        self.n_sentences, self.n_words = s0 + n_sent, w0 + n_words

    def append_segment(self, segment: Path) -> None:
        """Append the rows of a committed segment file (when rebuilding after a resume)."""
        columns = segment_columns(segment)
        with h5py.File(segment, "r") as seg:
            layers: dict[str, dict[str, np.ndarray]] = {}
            for name, levels in (self.manifest["schema"] or {}).items():
                layers[name] = {level: seg[f"layers/{name}/{level}"][:] for level in levels}
        self.append(columns, layers)

    # -- finishing -------------------------------------------------------------------
    def finish(self) -> None:
        """Write the root attributes and the digests, close and fsync ``target``."""
        if self._file is None:  # no sentence at all: an empty store
            self._create(0, 0)
        self._close_finished()

    def finish_placed(self, blocks: Iterable[dict[str, Any]],
                      layer_digests: dict[str, str]) -> None:
        """Finish a file whose layer rows were written in place
        (:mod:`~interlingua.core.store_placement`): append the sentence and word columns
        of ``blocks`` (:func:`record_columns` of each committed block, in order), record
        ``layer_digests`` (``{"layers/<name>/<level>": hex}``) with the columns' own,
        then write the root attributes, close and fsync.

        Columns left by a finish that was cut short are replaced."""
        f = self._file = h5py.File(self.target, "r+")
        for group in ("sentences", "words", GROUP):
            if group in f:
                del f[group]
        placed = self.manifest.get("placed", {})
        self._create_columns(int(placed.get("n_sentences", 0)), int(placed.get("n_words", 0)))
        for columns in blocks:
            self._wait_digests()
            self._append_columns(columns)
        for key, hexdigest in layer_digests.items():
            self._digests.add_recorded(key, hexdigest)
        self._close_finished()

    def _close_finished(self) -> None:
        f = self._file
        self._wait_digests()
        self._stop_hasher()
        for key, value in {**self.manifest["attrs"], "progress": self.n_sentences}.items():
            f.attrs[key] = value
        f.attrs["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        f.attrs["complete"] = True
        self._digests.write(f)
        f.close()
        self._file = None
        with open(self.target, "rb+") as fh:
            os.fsync(fh.fileno())

    def _stop_hasher(self) -> None:
        if self._hasher is not None:
            self._hasher.shutdown(wait=True, cancel_futures=True)
            self._hasher = None
        self._hashing = []

    def discard(self, *, delete: bool = True) -> None:
        """Close ``target`` if this assembler opened it and did not finish it (the
        writer failed, was closed or aborted), and delete it unless ``delete`` is false
        (a file whose rows were written in place is kept for a resume)."""
        self._stop_hasher()
        if self._file is not None:
            try:
                self._file.close()
            except (OSError, RuntimeError, ValueError):  # pragma: no cover - best effort
                pass
            self._file = None
            if delete:
                self.target.unlink(missing_ok=True)


def assemble(target: Path, manifest: dict[str, Any],
             segments: Sequence[tuple[Path, int, int]]) -> None:
    """Write the finished store ``target`` from committed segment files, in order.

    The one-pass equivalent of what a writer builds block by block; segments are
    not re-verified here (callers verify them first, see ``StoreWriter.resume``).
    """
    assembler = StoreAssembler(target, manifest)
    try:
        for segment, _, _ in segments:
            assembler.append_segment(segment)
        assembler.finish()
    except BaseException:
        assembler.discard()
        raise


__all__ = ["StoreAssembler", "assemble", "record_columns", "segment_columns"]
