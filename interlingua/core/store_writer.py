"""Crash-safe writing of activation stores.

HDF5 files are not crash-safe: a process killed while h5py updates a file can leave
it unreadable. So a store is never written in place. While an extraction runs, its
rows go to ``<store>.partial/``: a ``manifest.json`` (root attributes and the layer
schema) and numbered *segment* files, each an HDF5 file holding a block of
sentences. A segment is written under a temporary name and renamed when complete;
renames are atomic, so after a kill every ``seg-*.h5`` is whole and anything else is
discarded. The same blocks are appended, from memory, to ``<store>.writing``
(:class:`~.store_assembly.StoreAssembler`), which :meth:`StoreWriter.finalize` closes
and renames to ``<store>`` — the store path only ever holds a complete file, and
finalizing costs no second pass over the rows. A resumed writer rebuilds
``<store>.writing`` from the committed segments, so a resumed run produces what an
uninterrupted run produces.

Rows written in place (:meth:`StoreWriter.reserve`, :meth:`StoreWriter.place`):
when the sizes are known up front, ``<store>.writing`` is created at its final size and
rows are written at their final offsets in any order (:mod:`.store_placement`); the
segments then hold only the sentences' columns, their commit records the digests of
the rows up to them, and a resume reopens the file and checks its rows against them.

Background commits (:attr:`StoreWriter.background`): an extraction hands each block
to one writer thread (segment file, checksum, fsync, ``.writing``) and goes on with
the next forward pass; at most one block is in flight, errors surface at the next
flush, :meth:`~StoreWriter.close` or :meth:`~StoreWriter.finalize`, and nothing after
a failed block is committed.

Integrity: each segment's SHA-256 goes to a commit record (``seg-NNNNNN.json``)
before the segment is committed, and is checked on resume; the finished store
records a digest of every dataset (:mod:`.checksums`). Concurrency: a writer holds an
exclusive OS lock on ``<store>.lock`` from create/resume until finalize/abort/close
(:mod:`.locking`), so a second writer is refused at once.

Layout of the store modules: the partial directory (manifest, segment files) is
:mod:`.store_partial`, the final file :mod:`.store_assembly`, rows written in place
:mod:`.store_placed_writer` (a mixin of the writer) and :mod:`.store_placement`, the
shared format constants :mod:`.store_format`. This module never imports :mod:`.store` (the reader
imports it when a write starts). It is over 400 lines because the writer's life cycle
(create, resume, append, commits in the background, finalize, abort, close) is one class
whose ordering and failure rules are checked more easily in one place.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from interlingua._version import __version__
from interlingua.core.checksums import (
    ALGORITHM,
    discard_segments,
    scan_segments,
)
from interlingua.core.errors import InputError, StoreError
from interlingua.core.locking import StoreLock
from interlingua.core.store_assembly import StoreAssembler, record_columns
from interlingua.core.store_format import (
    FORMAT,
    FORMAT_VERSION,
    SentenceRecord,
    check_layer_rows,
    describe_schema,
    layer_sort_key,
)
from interlingua.core.store_partial import (  # partial_dir & co. re-exported from here
    MANIFEST,
    atomic_write_text,
    committed_segments,
    fsync_dir,
    partial_dir,
    partial_info,
    read_manifest,
    write_segment,
    writing_path,
)
from interlingua.core.store_placed_writer import PlacedWriting
from interlingua.core.store_placement import reopen_placed


class StoreWriter(PlacedWriting):
    """Appends batches to a store being written; see the module docstring.

    Obtain one from :meth:`ActivationStore.create` or :meth:`ActivationStore.resume`.
    Appended rows are buffered in memory up to ``segment_bytes`` and then committed as
    one segment. :attr:`progress` counts appended sentences; after :meth:`close`
    (also on errors inside a ``with`` block) all of them are committed, unless a
    background commit failed (then the segments before the failed block are).
    """

    #: Commit blocks on a writer thread (see the module docstring); off by default.
    #: A background writer commits exactly the blocks its caller flushes (no automatic
    #: flush at ``segment_bytes``), and :meth:`finalize` puts rows still buffered
    #: straight into the store file.
    background: bool = False

    def __init__(self, path: Path, manifest: dict[str, Any],
                 segments: list[tuple[Path, int, int]], segment_bytes: int,
                 lock: StoreLock | None = None) -> None:
        self.path = path
        self._lock = lock
        #: Segment files discarded as damaged by ``resume(discard_damaged=True)``.
        self.discarded: list[Path] = []
        self.dir = partial_dir(path)
        self._manifest = manifest
        self._segments = segments
        self._segment_bytes = segment_bytes
        self._buffer: list[tuple[list[SentenceRecord], dict[str, dict[str, np.ndarray]]]] = []
        self._buffered_bytes = 0
        self._buffered_sentences = 0
        self._buffered_words = 0
        self._closed = False
        # Sentences/words appended so far (committed or not); main thread only.
        self._appended = sum(n for _, n, _ in segments)
        self._appended_words = sum(w for _, _, w in segments)
        self._assembler = StoreAssembler(writing_path(path), manifest)
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future | None = None
        self._failed: BaseException | None = None
        self._init_placed()

    # -- construction --------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        model: str,
        extractor: str,
        word_aggregation: str = "mean",
        sentence_pooling: str = "mean",
        dtype: str = "float32",
        model_revision: str = "",
        attrs: dict[str, Any] | None = None,
        overwrite: bool = False,
        compression: str | None = None,
        chunk_rows: int = 1024,
        segment_bytes: int = 64 << 20,
    ) -> StoreWriter:
        path = Path(path)
        if dtype not in ("float32", "float16"):
            raise InputError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        if compression not in (None, "gzip", "lzf"):
            raise InputError(f"compression must be None, 'gzip' or 'lzf', got {compression!r}")
        if chunk_rows < 1 or segment_bytes < 1:
            raise InputError("chunk_rows and segment_bytes must be >= 1")
        root = {
            **(attrs or {}),
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": model,
            "model_revision": model_revision,
            "extractor": extractor,
            "word_aggregation": word_aggregation,
            "sentence_pooling": sentence_pooling,
            "dtype": dtype,
            "interlingua_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        _check_attrs(root)
        manifest = {"format": FORMAT, "attrs": root, "schema": None, "chunk_rows": chunk_rows,
                    "compression": compression, "segment_bytes": segment_bytes,
                    "checksums": ALGORITHM}
        pdir = partial_dir(path)
        lock = StoreLock.acquire(path)  # before looking at (or removing) anything
        try:
            if not overwrite:
                if path.exists():
                    raise StoreError(
                        f"{path} already exists; pass overwrite=True (--overwrite) to replace it"
                    )
                if pdir.exists():
                    raise StoreError(
                        f"an interrupted extraction into {path} exists ({pdir}); resume it "
                        "(--resume) or pass overwrite=True (--overwrite) to start again"
                    )
            elif path.is_dir():
                raise StoreError(f"{path} is a directory")
            # An existing store is replaced only when the new one is finalized.
            shutil.rmtree(pdir, ignore_errors=True)
            writing_path(path).unlink(missing_ok=True)  # left by a killed run
            pdir.mkdir(parents=True)
            try:
                atomic_write_text(pdir / MANIFEST, json.dumps(manifest))
            except BaseException:
                shutil.rmtree(pdir, ignore_errors=True)
                raise
        except BaseException:
            lock.release()
            raise
        return cls(path, manifest, [], segment_bytes, lock)

    @classmethod
    def resume(cls, path: str | os.PathLike, *, discard_damaged: bool = False) -> StoreWriter:
        """Continue an interrupted write (see :meth:`ActivationStore.resume`).

        Every committed segment is checked against its checksum. A damaged, unreadable
        or missing segment raises :class:`~.checksums.DamagedSegmentError` naming it,
        unless ``discard_damaged``: then it and all later segments are deleted (listed
        in :attr:`discarded`) and the writer continues before them.
        """
        path = Path(path)
        pdir = partial_dir(path)
        lock = StoreLock.acquire(path)
        try:
            if not pdir.is_dir():
                if path.exists():
                    raise StoreError(f"{path} is already complete; nothing to resume")
                raise StoreError(f"nothing to resume: neither {path} nor {pdir} exists")
            manifest = read_manifest(path)
            for entry in pdir.iterdir():
                # Uncommitted leftovers of the interrupted run.
                if entry.name.endswith(".tmp"):
                    entry.unlink()
            placed = "placed" in manifest
            if not placed:
                writing_path(path).unlink(missing_ok=True)  # rebuilt from the segments
            verify = manifest.get("checksums") == ALGORITHM
            segments, problem, rest = scan_segments(pdir, verify=verify)
            if problem is not None and not discard_damaged:
                raise problem
            discard_segments(rest)
            if placed:  # rows are in the store file: check them against the records
                rows, digests, segments, damaged = reopen_placed(
                    writing_path(path), manifest, segments, discard_damaged=discard_damaged)
                discard_segments(damaged)
                rest = damaged + rest
            writer = cls(path, manifest, segments, int(manifest["segment_bytes"]), lock)
            writer.discarded = rest
            if placed:
                writer._adopt_placed(rows, digests)
            else:
                writer._rebuild()
            return writer
        except BaseException:
            lock.release()
            raise

    # -- state ---------------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._manifest["attrs"])

    @property
    def complete(self) -> bool:
        return False

    @property
    def committed(self) -> int:
        """Sentences safely on disk (what a resumed run starts from)."""
        return sum(n for _, n, _ in self._segments)

    @property
    def progress(self) -> int:
        """Sentences appended so far (committed, being committed, or buffered)."""
        return self._appended

    @property
    def n_sentences(self) -> int:
        return self.progress

    @property
    def n_words(self) -> int:
        return self._appended_words

    @property
    def segments(self) -> list[Path]:
        """The committed segment files, in order."""
        return [seg for seg, _, _ in self._segments]

    @property
    def reserved(self) -> tuple[int, int] | None:
        """``(sentences, words)`` reserved for rows written in place, else ``None``."""
        placed = self._manifest.get("placed")
        return (int(placed["n_sentences"]), int(placed["n_words"])) if placed else None

    @property
    def compression(self) -> str | None:
        """HDF5 compression of the layer datasets (``None``, ``"gzip"``, ``"lzf"``)."""
        return self._manifest["compression"]

    @property
    def placed(self) -> bool:
        """Whether rows are written in place (:meth:`reserve`) rather than appended."""
        return "placed" in self._manifest

    @property
    def layers(self) -> list[str]:
        schema = self._manifest["schema"] or {}
        return sorted(schema, key=layer_sort_key)

    def set_attrs(self, **attrs: Any) -> None:
        """Record extra root attributes (kept in the manifest until finalize)."""
        self._require_open()
        self._manifest["attrs"].update(attrs)
        _check_attrs(self._manifest["attrs"])
        atomic_write_text(self.dir / MANIFEST, json.dumps(self._manifest))

    def _require_open(self) -> None:
        if self._closed:
            raise StoreError(f"the writer of {self.path} is closed")

    # -- appending -----------------------------------------------------------------
    def append(self, records: Sequence[SentenceRecord],
               layers: dict[str, dict[str, np.ndarray]] | None = None, *,
               copy: bool = True) -> None:
        """Append one batch of sentences with their activations.

        Parameters
        ----------
        records : sequence of SentenceRecord
            The batch's sentences, in order.
        layers : dict or None
            ``{layer_name: {"words": (n_words_in_batch, d), "sentences": (n_sent, d)}}``.
            The first batch fixes the layer names, levels and widths; later batches
            must match. ``None`` after :meth:`reserve`: the rows were placed.
        copy : bool
            Copy rows that are already in their storage dtype (default). ``False``
            hands the arrays over: the caller must not modify them afterwards (they
            may be written later, on the writer thread).

        Raises
        ------
        InputError
            Shape mismatches, NaN/inf values (naming the layer), values overflowing
            float16, malformed records. Nothing is written in that case.
        """
        self._require_open()
        records = list(records)
        if not records:
            return
        n_words = 0
        for i, rec in enumerate(records):
            if not isinstance(rec, SentenceRecord):
                raise InputError(f"record {i}: expected SentenceRecord, got {type(rec).__name__}")
            if not rec.lang or not isinstance(rec.lang, str):
                raise InputError(f"record {i}: language must be a non-empty string")
            if rec.target != -1 and not 0 <= rec.target < len(rec.words):
                raise InputError(
                    f"record {i}: target {rec.target} outside its {len(rec.words)} words"
                )
            n_words += len(rec.words)
        if self.placed:
            if layers is not None:
                raise InputError("this store's rows are written in place: append(records) "
                                 "after place(), without layer rows")
            self._wait_placing()
            self._check_placed(records)
            arrays: dict[str, dict[str, np.ndarray]] = {}
        elif layers is None:
            raise InputError("append() needs the layer rows (or reserve() and place())")
        else:
            arrays = self._check_layers(layers, len(records), n_words, copy)
        self._buffer.append((records, arrays))
        self._buffered_sentences += len(records)
        self._buffered_words += n_words
        self._appended += len(records)
        self._appended_words += n_words
        self._buffered_bytes += sum(a.nbytes for lv in arrays.values() for a in lv.values())
        if self._buffered_bytes >= self._segment_bytes and not self.background:
            self.flush()  # background writers commit the blocks their caller flushes

    def _check_layers(self, layers: dict[str, dict[str, np.ndarray]], n_sent: int,
                      n_words: int, copy: bool = True) -> dict[str, dict[str, np.ndarray]]:
        float16 = self._manifest["attrs"]["dtype"] == "float16"
        out, schema = check_layer_rows(layers, n_sent, n_words, float16=float16, copy=copy)
        known = self._manifest["schema"]
        if known is None:
            self._manifest["schema"] = schema
            atomic_write_text(self.dir / MANIFEST, json.dumps(self._manifest))
        elif known != schema:
            raise InputError(
                "layers/levels/widths differ from the earlier batches: expected "
                f"{describe_schema(known)}, got {describe_schema(schema)}"
            )
        return out

    def flush(self, wait: bool | None = None) -> None:
        """Commit the buffered batches as one segment (atomic).

        Parameters
        ----------
        wait : bool, optional
            ``False`` hands the block to the writer thread and returns (after the
            previous block is committed); ``True`` commits it before returning.
            Default: ``not background``.
        """
        if wait is None:
            wait = not self.background
        if not self._buffer:
            if wait:
                self._wait()
            return
        self._wait()  # the previous block first: blocks are committed in order
        records, layers = self._take_buffer()
        if wait:
            self._commit(records, layers)
        else:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
            self._pending = self._executor.submit(self._commit, records, layers)

    def _take_buffer(self) -> tuple[list[SentenceRecord], dict[str, dict[str, np.ndarray]]]:
        """The buffered batches as one block (emptying the buffer)."""
        if len(self._buffer) == 1:  # one batch: no concatenation
            records, layers = self._buffer[0]
        else:
            records = [rec for recs, _ in self._buffer for rec in recs]
            layers = {
                name: {
                    level: np.concatenate([arrays[name][level] for _, arrays in self._buffer])
                    for level in levels
                }
                for name, levels in self._buffer[0][1].items()
            }
        self._buffer = []
        self._buffered_bytes = self._buffered_sentences = self._buffered_words = 0
        return list(records), layers

    def _commit(self, records: list[SentenceRecord],
                layers: dict[str, dict[str, np.ndarray]]) -> None:
        """Write one block: its segment (the commit), then the final file."""
        try:
            columns = record_columns(records)
            extra = None
            if self._rows is not None:  # rows are in place: hash and sync them first
                n_sent = self.committed + len(records)
                n_words = sum(w for _, _, w in self._segments) + len(columns["words/text"])
                self._placed_digests.advance(n_sent, n_words)
                self._rows.sync()
                self._rows.drop_cached(n_sent, n_words)
                extra = {"placed": self._placed_digests.prefix()}
            final, n_words = write_segment(self.dir, len(self._segments), records, layers,
                                           columns, extra)
            self._segments.append((final, len(records), n_words))
            if self._rows is None:
                self._assembler.append(columns, layers)
        except BaseException as exc:
            self._failed = exc
            raise

    def _wait(self) -> None:
        """Wait for the block in flight and re-raise its error; refuse to go on after a
        failed block (later blocks would leave a gap)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()
        elif self._failed is not None:
            raise StoreError(f"an earlier block of {self.path} failed to commit "
                             f"({self._failed}); the store stays resumable") from self._failed

    def _stop_worker(self) -> BaseException | None:
        """Finish the block in flight and stop the writer thread; returns the error of
        that block if it failed (an error nobody has seen yet)."""
        error = None
        pending, self._pending = self._pending, None
        if pending is not None:
            error = pending.exception()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        return error

    def _rebuild(self) -> None:
        """Rebuild ``<store>.writing`` from the committed segments (after a resume)."""
        for segment, _, _ in self._segments:
            try:
                self._assembler.append_segment(segment)
            except (OSError, KeyError) as exc:
                self._assembler.discard()
                raise StoreError(f"{segment}: unreadable ({exc})") from None

    # -- finishing -----------------------------------------------------------------
    def finalize(self, **attrs: Any) -> Path:
        """Commit everything, finish the store file and mark it complete.

        The store file was built block by block from the rows in memory (see the module
        docstring); finalize writes the root attributes and the SHA-256 of every
        dataset (``/checksums``) and renames it into place. Returns the store path.
        The segments are removed afterwards. On an error the store stays resumable.
        """
        self._require_open()
        self._wait_placing()
        self._wait()
        if attrs:
            self.set_attrs(**attrs)
        self._stop_worker()  # idle by now: _wait waited for the block in flight
        if self._rows is not None:
            self._finalize_placed()
            return self._installed()
        # The last buffered rows go straight into the store file: a segment only serves
        # a resume, and if finalize fails they are committed as one by close().
        buffered = self._buffer
        try:
            if buffered:
                records, layers = self._take_buffer()
                self._assembler.append(record_columns(records), layers)
            self._assembler.finish()
        except BaseException:
            self._buffer = buffered
            self._assembler.discard()
            self._assembler.target.unlink(missing_ok=True)  # we hold the lock
            self._assembler = StoreAssembler(writing_path(self.path), self._manifest)
            raise
        return self._installed()

    def _installed(self) -> Path:
        """Rename the finished file into place and clean up (end of finalize)."""
        target = self._assembler.target
        os.replace(target, self.path)
        fsync_dir(self.path.parent)
        shutil.rmtree(self.dir, ignore_errors=True)
        self._closed = True
        self._release()
        return self.path

    def abort(self) -> None:
        """Discard everything written by this run (the partial directory)."""
        self._stop_placer()
        self._stop_worker()
        self._buffer.clear()
        self._assembler.discard()
        if self._rows is not None:
            self._rows.close()
            self._rows.target.unlink(missing_ok=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        self._closed = True
        self._release()

    def close(self) -> None:
        """Commit buffered rows and stop writing (the store stays resumable).

        Raises the error of a failed background commit (after releasing the lock);
        rows appended after the failed block are not committed.
        """
        if self._closed:
            self._release()
            return
        error = None
        try:
            self._stop_placer()
            error = self._stop_worker()
            if error is None and self._failed is None:
                self.flush(wait=True)
        finally:
            self._closed = True
            # A resumed writer rebuilds the file from the segments, or (rows written in
            # place) continues it.
            self._assembler.discard(delete=self._rows is None)
            if self._rows is not None:
                self._rows.close()
            self._release()
        if error is not None:
            raise error

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StoreWriter({str(self.path)!r}, progress={self.progress})"


def _check_attrs(attrs: dict[str, Any]) -> None:
    try:
        json.dumps(attrs)
    except TypeError as exc:
        raise InputError(f"store attributes must be JSON-serialisable ({exc})") from None


__all__ = [
    "MANIFEST",
    "StoreWriter",
    "committed_segments",
    "partial_dir",
    "partial_info",
    "read_manifest",
]
