"""Rows written in place: the part of :class:`~.store_writer.StoreWriter` that reserves
the store file at its final size and writes rows at their final positions.

Kept apart from the writer's life cycle (create, resume, append, commit, finalize) in
:mod:`.store_writer`, which inherits :class:`PlacedWriting`; the file itself is
:mod:`.store_placement`. The rules: :meth:`~PlacedWriting.reserve` once, before any
row; :meth:`~PlacedWriting.place` any sentences not appended yet, in any order (on a
placer thread when the writer commits in the background); ``append(records)`` only
sentences whose rows are all placed where their records say; finalize only when every
reserved sentence is appended.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from interlingua.core.errors import InputError, StoreError
from interlingua.core.store_assembly import StoreAssembler, record_columns, segment_columns
from interlingua.core.store_format import (
    LAYER_NAME,
    LEVELS,
    SentenceRecord,
    check_layer_rows,
    describe_schema,
)
from interlingua.core.store_partial import MANIFEST, atomic_write_text, writing_path
from interlingua.core.store_placement import PlacedDigests, PlacedRows


class PlacedWriting:
    """Mixin of :class:`~.store_writer.StoreWriter`: rows written in place."""

    def _init_placed(self) -> None:
        self._rows: PlacedRows | None = None
        self._placed_digests: PlacedDigests | None = None
        # Where place() put each sentence's words, checked when its record is appended.
        self._placed_starts: np.ndarray | None = None
        self._placed_counts: np.ndarray | None = None
        self._placer: ThreadPoolExecutor | None = None
        self._placing: Future | None = None

    def reserve(self, n_sentences: int, n_words: int,
                schema: dict[str, dict[str, int]]) -> None:
        """Create the store file with every layer dataset at its final size, so that
        rows can be written in place (:meth:`place`) in any order.

        Call it once, before anything is appended, when the sizes are known (an
        extraction tokenizes its corpus first). Sentences are then appended with
        ``append(records)`` (no layer rows) once all their rows are placed, and the
        store must end with exactly ``n_sentences`` sentences and ``n_words`` words.

        Parameters
        ----------
        n_sentences, n_words : int
            Sentences and words the store will hold.
        schema : dict
            ``{layer: {level: width}}``.

        Raises
        ------
        InputError
            A compressed store (compressed rows cannot be written in place), a bad
            schema or negative sizes.
        StoreError
            Rows were appended or reserved already.
        """
        self._require_open()
        if self.placed or self._appended or self._manifest["schema"] is not None:
            raise StoreError(f"{self.path}: reserve() must come before any row")
        if self._manifest["compression"]:
            raise InputError("rows written in place cannot be compressed")
        if n_sentences < 0 or n_words < 0:
            raise InputError("reserve() needs sizes >= 0")
        schema = {str(name): {str(lv): int(dim) for lv, dim in levels.items()}
                  for name, levels in schema.items()}
        for name, levels in schema.items():
            if not LAYER_NAME.fullmatch(name) or not levels or \
                    any(lv not in LEVELS or dim < 1 for lv, dim in levels.items()):
                raise InputError(f"layer {name!r}: bad name, levels or widths {levels}")
        if not schema:
            raise InputError("reserve() needs at least one layer")
        rows = PlacedRows.create(writing_path(self.path), schema, int(n_sentences),
                                 int(n_words), self._manifest["attrs"]["dtype"])
        self._manifest["schema"] = schema
        self._manifest["placed"] = {"n_sentences": int(n_sentences), "n_words": int(n_words),
                                    "layout": rows.layout}
        atomic_write_text(self.dir / MANIFEST, json.dumps(self._manifest))
        self._adopt_placed(rows, PlacedDigests(rows))

    def _adopt_placed(self, rows: PlacedRows, digests: PlacedDigests) -> None:
        self._rows, self._placed_digests = rows, digests
        n = self._manifest["placed"]["n_sentences"]
        # Where place() put each sentence's words, checked when its record is appended.
        self._placed_starts = np.full(n, -1, np.int64)
        self._placed_counts = np.full(n, -1, np.int64)

    def place(self, sentences: Sequence[int], word_starts: Sequence[int],
              word_counts: Sequence[int], layers: dict[str, dict[str, np.ndarray]]) -> None:
        """Write the rows of some sentences at their final positions (after :meth:`reserve`).

        Parameters
        ----------
        sentences : sequence of int
            Store positions of the sentences (not yet appended), in any order.
        word_starts, word_counts : sequence of int
            Each sentence's first word row in the store and its number of words.
        layers : dict
            ``{layer: {"words": rows of the sentences one after the other,
            "sentences": one row each}}``, every reserved layer and level. A
            :attr:`background` writer writes them on a thread of its own while the
            caller goes on (one batch at a time): the caller must not modify them.

        Raises
        ------
        InputError
            Shapes or layers other than reserved, NaN/inf values, float16 overflow,
            positions outside the reservation or of sentences already appended.
        """
        self._require_open()
        if self._rows is None:
            raise StoreError(f"{self.path}: place() needs reserve() first")
        sent = np.asarray(sentences, dtype=np.int64)
        starts = np.asarray(word_starts, dtype=np.int64)
        counts = np.asarray(word_counts, dtype=np.int64)
        if not (len(sent) == len(starts) == len(counts)):
            raise InputError("place(): sentences, word_starts and word_counts differ in length")
        if len(sent) and (sent.min() < self._appended or sent.max() >= len(self._placed_starts)
                          or counts.min() < 0):
            raise InputError(f"place(): sentence positions outside [{self._appended}, "
                             f"{len(self._placed_starts)}) (appended or not reserved)")
        float16 = self._manifest["attrs"]["dtype"] == "float16"
        arrays, schema = check_layer_rows(layers, len(sent), int(counts.sum()),
                                          float16=float16, copy=False)
        if schema != self._manifest["schema"]:
            raise InputError("layers/levels/widths differ from the reservation: expected "
                             f"{describe_schema(self._manifest['schema'])}, got "
                             f"{describe_schema(schema)}")
        self._wait_placing()
        if self.background:  # written while the next batch runs through the model
            if self._placer is None:
                self._placer = ThreadPoolExecutor(1, thread_name_prefix="store-placer")
            self._placing = self._placer.submit(self._write_placed, sent, starts, counts, arrays)
        else:
            self._write_placed(sent, starts, counts, arrays)

    def _write_placed(self, sent: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                      arrays: dict[str, dict[str, np.ndarray]]) -> None:
        ones = np.ones(len(sent), dtype=np.int64)
        for name, levels in arrays.items():
            for level, values in levels.items():
                if level == "words":
                    self._rows.write(f"layers/{name}/words", starts, counts, values)
                else:
                    self._rows.write(f"layers/{name}/sentences", sent, ones, values)
        self._placed_starts[sent] = starts
        self._placed_counts[sent] = counts

    def _wait_placing(self) -> None:
        """Wait for the batch being placed in the background (and raise its error)."""
        placing, self._placing = self._placing, None
        if placing is not None:
            placing.result()

    def _stop_placer(self) -> None:
        placing, self._placing = self._placing, None
        if placing is not None:
            placing.exception()  # a failed batch was not appended: nothing to commit
        if self._placer is not None:
            self._placer.shutdown(wait=True)
            self._placer = None

    def _check_placed(self, records: list[SentenceRecord]) -> None:
        """Appended records must match the rows placed for them, all of them placed."""
        lo, hi = self._appended, self._appended + len(records)
        if hi > self.reserved[0]:
            raise InputError(f"{self.path}: more sentences than the {self.reserved[0]} "
                             "reserved")
        counts = np.array([len(r.words) for r in records], dtype=np.int64)
        expected = self._appended_words + np.concatenate([[0], np.cumsum(counts)[:-1]])
        if not np.array_equal(self._placed_starts[lo:hi], expected) \
                or not np.array_equal(self._placed_counts[lo:hi], counts):
            missing = np.flatnonzero(self._placed_starts[lo:hi] < 0)
            what = (f"no rows were placed for sentence {lo + int(missing[0])}" if len(missing)
                    else "the rows placed for them are at other positions or of other lengths")
            raise InputError(f"{self.path}: appended sentences {lo}-{hi - 1} do not match "
                             f"their rows: {what}")

    def _finalize_placed(self) -> None:
        """Finish a store whose rows were written in place: hash the last block's rows
        while they are flushed to disk, then write the columns of every block, the
        digests and the attributes into the file (no row is copied)."""
        if (self._appended, self._appended_words) != self.reserved:
            raise StoreError(
                f"{self.path}: {self._appended} sentences and {self._appended_words} words "
                f"were appended, {self.reserved[0]} and {self.reserved[1]} reserved")
        with ThreadPoolExecutor(1, thread_name_prefix="store-sync") as pool:
            # flushing while hashing leaves little to the store file's final fsync
            synced = pool.submit(self._rows.sync)
            # the model is done: every core can hash
            self._placed_digests.advance(self._appended, self._appended_words,
                                         threads=os.cpu_count() or 1)
            synced.result()
        buffered = self._buffer
        last = record_columns(self._take_buffer()[0]) if buffered else None

        def blocks():
            for segment, _, _ in self._segments:
                yield segment_columns(segment)
            if last is not None:
                yield last

        try:
            self._assembler.finish_placed(blocks(), self._placed_digests.prefix())
        except BaseException:
            self._buffer = buffered
            self._assembler.discard(delete=False)  # its rows serve a resume
            self._assembler = StoreAssembler(writing_path(self.path), self._manifest)
            raise
        self._rows.close()


__all__ = ["PlacedWriting"]
