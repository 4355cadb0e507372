"""Layer rows written in place: the store file's layer datasets filled by position.

An extraction knows, before its first forward pass, how many sentences and words the
store will hold (a tokenize-only pass). So ``<store>.writing`` can be created with its
layer datasets at their final size, as contiguous HDF5 datasets allocated at once, and
each batch's rows written straight to their final byte offsets (``pwrite``) in
whatever order the length-sorted batches produce them. Nothing window-sized is held in
memory (issue 15: a window's rows used to be, and peak memory grew with the corpus
until two windows were in memory), and no row is copied again to finish the store.

The file's HDF5 metadata is written once, when it is created, and not touched again
until the store is finalized; rows only change bytes inside the datasets' reserved
extents. So a killed extraction leaves a readable file whose committed rows are
verified, on resume, against the digests their commit records hold
(:class:`PlacedDigests`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from interlingua.core.errors import StoreError

#: Bytes read at a time when hashing or copying placed rows.
READ_BYTES = 8 << 20


def layer_keys(schema: dict[str, dict[str, int]]) -> list[str]:
    """``layers/<name>/<level>`` of every layer dataset, in a fixed order."""
    return [f"layers/{name}/{level}" for name in sorted(schema) for level in sorted(schema[name])]


class PlacedRows:
    """The layer datasets of ``<store>.writing``, written and read by byte offset.

    Use :meth:`create` for a new store file and :meth:`open` to continue one.

    Attributes
    ----------
    target : Path
        The file.
    layout : dict
        ``{key: {"offset", "rows", "width", "dtype"}}`` per layer dataset (recorded in
        the writer's manifest, checked against the file by :meth:`open`).
    """

    def __init__(self, target: Path, layout: dict[str, dict[str, Any]]) -> None:
        self.target = target
        self.layout = layout
        self._dtypes = {k: np.dtype(v["dtype"]) for k, v in layout.items()}
        self._row_bytes = {k: int(v["width"]) * self._dtypes[k].itemsize
                           for k, v in layout.items()}
        self._fd: int | None = os.open(target, os.O_RDWR)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def create(cls, target: Path, schema: dict[str, dict[str, int]], n_sentences: int,
               n_words: int, word_dtype: str) -> PlacedRows:
        """Create ``target`` with every layer dataset at its final size (no fill).

        Parameters
        ----------
        target : Path
            The file to create (replaced if it exists).
        schema : dict
            ``{layer: {level: width}}``.
        n_sentences, n_words : int
            Rows of the sentence and word levels.
        word_dtype : str
            Storage type of word rows (sentence rows are float32).
        """
        target.unlink(missing_ok=True)
        layout: dict[str, dict[str, Any]] = {}
        with h5py.File(target, "w") as f:
            for key in layer_keys(schema):
                _, name_level = key.split("/", 1)
                name, level = name_level.rsplit("/", 1)
                rows = n_words if level == "words" else n_sentences
                width = int(schema[name][level])
                dtype = np.dtype(word_dtype if level == "words" else "float32")
                dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                dcpl.set_layout(h5py.h5d.CONTIGUOUS)
                # Space reserved now, never filled: rows are written in place later.
                dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
                dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
                group = f.require_group(key.rsplit("/", 1)[0])
                dsid = h5py.h5d.create(group.id, level.encode(), h5py.h5t.py_create(dtype),
                                       h5py.h5s.create_simple((rows, width)), dcpl=dcpl)
                offset = dsid.get_offset()
                layout[key] = {"offset": int(offset) if offset is not None else -1,
                               "rows": int(rows), "width": width, "dtype": dtype.str}
        end = max((v["offset"] + v["rows"] * v["width"] * np.dtype(v["dtype"]).itemsize
                   for v in layout.values() if v["offset"] >= 0), default=0)
        with open(target, "rb+") as fh:
            # Claim the disk space now: a full disk fails here, in one line, before any
            # forward pass, not hours later in the middle of a window.
            if end and hasattr(os, "posix_fallocate"):
                try:
                    os.posix_fallocate(fh.fileno(), 0, end)
                except OSError as exc:
                    # (other errors: a file system without fallocate; rows claim their
                    # space as they are written)
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                        fh.close()
                        target.unlink(missing_ok=True)
                        raise StoreError(
                            f"{target.parent}: not enough free disk space for the store's "
                            f"rows ({end / 1e9:.2f} GB; {exc.strerror})") from None
            os.fsync(fh.fileno())
        return cls(target, layout)

    @classmethod
    def open(cls, target: Path, layout: dict[str, dict[str, Any]]) -> PlacedRows:
        """Reopen ``target`` after an interruption, checking it still has ``layout``.

        Raises
        ------
        StoreError
            The file is missing, unreadable, or its layer datasets are not where (or
            what) ``layout`` says.
        """
        try:
            with h5py.File(target, "r") as f:
                for key, spec in layout.items():
                    ds = f.get(key)
                    if not isinstance(ds, h5py.Dataset) \
                            or (ds.id.get_offset() or -1) != spec["offset"] \
                            or ds.shape != (spec["rows"], spec["width"]) \
                            or ds.dtype != np.dtype(spec["dtype"]):
                        raise StoreError(f"{target}: {key} is not the dataset this "
                                         "extraction reserved")
        except OSError as exc:
            raise StoreError(f"{target}: unreadable ({exc})") from None
        return cls(target, layout)

    # -- rows --------------------------------------------------------------------------
    def write(self, key: str, first_rows: np.ndarray, counts: np.ndarray,
              values: np.ndarray) -> None:
        """Write runs of rows: run ``i`` = the next ``counts[i]`` rows of ``values``, at
        row ``first_rows[i]`` of dataset ``key`` (``values`` in its storage type)."""
        spec = self.layout[key]
        row_bytes = self._row_bytes[key]
        if values.dtype != self._dtypes[key] or values.shape[1:] != (spec["width"],):
            raise StoreError(f"{key}: rows of {values.dtype} {values.shape} do not fit "
                             f"{spec['dtype']} (n, {spec['width']})")
        ends = np.asarray(first_rows) + np.asarray(counts)
        if len(ends) and (int(np.min(first_rows)) < 0 or int(ends.max()) > spec["rows"]):
            raise StoreError(f"{key}: rows outside the reserved {spec['rows']}")
        raw = memoryview(np.ascontiguousarray(values)).cast("B")
        fd, base = self._require(), spec["offset"]
        src = 0
        for first, count in zip(first_rows.tolist(), counts.tolist()):
            size = count * row_bytes
            if size:
                _pwrite_all(fd, raw[src:src + size], base + first * row_bytes)
            src += size

    def read(self, key: str, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` of dataset ``key``."""
        spec = self.layout[key]
        row_bytes = self._row_bytes[key]
        out = np.empty((stop - start, spec["width"]), dtype=self._dtypes[key])
        buf = memoryview(out).cast("B")
        fd, pos, done = self._require(), spec["offset"] + start * row_bytes, 0
        while done < len(buf):
            n = os.preadv(fd, [buf[done:]], pos + done)
            if n == 0:
                raise StoreError(f"{self.target}: ends inside {key}")
            done += n
        return out

    def blocks(self, key: str, start: int, stop: int) -> Iterator[np.ndarray]:
        """Rows ``[start, stop)`` of ``key`` in blocks of about :data:`READ_BYTES`."""
        step = max(1, READ_BYTES // max(self._row_bytes[key], 1))
        for lo in range(start, stop, step):
            yield self.read(key, lo, min(stop, lo + step))

    def sync(self) -> None:
        """Flush written rows to disk (before a commit record names them)."""
        os.fdatasync(self._require())

    def drop_cached(self, n_sentences: int, n_words: int) -> None:
        """Let the kernel drop the (synced) rows before sentence ``n_sentences`` / word
        ``n_words`` from its page cache: committed rows are not read again, and a store
        of many GB would otherwise fill the cache and evict everything else (on our VM,
        growing the cache into fresh memory also slowed the forward pass)."""
        if not hasattr(os, "posix_fadvise"):  # pragma: no cover - not Linux
            return
        fd = self._require()
        for key, spec in self.layout.items():
            stop = n_words if key.endswith("/words") else n_sentences
            if stop and spec["offset"] >= 0:
                os.posix_fadvise(fd, spec["offset"], stop * self._row_bytes[key],
                                 os.POSIX_FADV_DONTNEED)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _require(self) -> int:
        if self._fd is None:
            raise StoreError(f"{self.target} is closed")
        return self._fd


class PlacedDigests:
    """SHA-256 of each layer dataset's rows, advanced window by window in row order.

    The digests are those of :mod:`~interlingua.core.checksums` (canonical bytes =
    little-endian values in row order) computed from the file; :meth:`prefix` gives the
    digests of the rows hashed so far, which commit records keep so a resumed run can
    tell which committed rows are intact.
    """

    def __init__(self, rows: PlacedRows) -> None:
        self.rows = rows
        self.position = {"words": 0, "sentences": 0}
        self._hashes = {key: hashlib.sha256() for key in rows.layout}

    def advance(self, n_sentences: int, n_words: int, *, threads: int = 1) -> None:
        """Hash rows up to sentence ``n_sentences`` / word ``n_words`` (exclusive).

        ``threads`` > 1 hashes that many datasets at once (SHA-256 releases the GIL):
        for the end of a run, when the model no longer needs the cores."""
        targets = {"words": n_words, "sentences": n_sentences}

        def hash_one(key: str) -> None:
            level = key.rsplit("/", 1)[1]
            for block in self.rows.blocks(key, self.position[level], targets[level]):
                self._hashes[key].update(block.astype(block.dtype.newbyteorder("<"),
                                                      copy=False))

        if threads > 1 and len(self._hashes) > 1:
            with ThreadPoolExecutor(threads, thread_name_prefix="store-digests") as pool:
                list(pool.map(hash_one, self._hashes))
        else:
            for key in self._hashes:
                hash_one(key)
        self.position = targets

    def prefix(self) -> dict[str, str]:
        """Digest of each dataset's rows hashed so far (the final digests after the
        last :meth:`advance`)."""
        return {key: digest.copy().hexdigest() for key, digest in self._hashes.items()}


def reopen_placed(target: Path, manifest: dict[str, Any],
                  segments: list[tuple[Path, int, int]], *, discard_damaged: bool = False,
                  ) -> tuple[PlacedRows, PlacedDigests, list[tuple[Path, int, int]], list[Path]]:
    """Reopen the store file of an interrupted extraction that wrote rows in place.

    The rows of every committed segment are hashed again and compared with the digests
    its commit record holds (the file is not crash-safe; the records are).

    Parameters
    ----------
    target : Path
        ``<store>.writing``.
    manifest : dict
        The writer's manifest (``manifest["placed"]``: sizes and layout).
    segments : list of (Path, int, int)
        The committed segments (verified), in order.
    discard_damaged : bool
        Keep the segments before the first whose rows do not match (and recreate a
        missing or unreadable file) instead of raising.

    Returns
    -------
    rows, digests, good, damaged
        The reopened file, the digests advanced over the good segments' rows, the good
        segments and the damaged ones (from the first mismatch on; to be discarded).

    Raises
    ------
    DamagedSegmentError
        The file is missing or unreadable, or a segment's rows do not match.
    """
    from interlingua.core.checksums import damaged_segment, record_path

    placed = manifest["placed"]
    try:
        rows = PlacedRows.open(target, placed["layout"])
    except StoreError as exc:
        if segments and not discard_damaged:
            raise damaged_segment(segments[0][0], 0, f"its rows are lost ({exc})", 0,
                                  len(segments) - 1) from None
        rows = PlacedRows.create(target, manifest["schema"], placed["n_sentences"],
                                 placed["n_words"], manifest["attrs"]["dtype"])
        if rows.layout != placed["layout"]:  # pragma: no cover - same sizes, same layout
            rows.close()
            raise StoreError(f"{target}: recreated with another layout; start again "
                             "with --overwrite") from None
        return rows, PlacedDigests(rows), [], [seg for seg, _, _ in segments]
    digests = PlacedDigests(rows)
    n_sent = n_words = 0
    for index, (segment, seg_sent, seg_words) in enumerate(segments):
        digests.advance(n_sent + seg_sent, n_words + seg_words)
        try:
            record = json.loads(record_path(segment).read_text(encoding="utf-8"))["placed"]
        except (OSError, ValueError, KeyError, TypeError):
            record = None
        if record != digests.prefix():
            if not discard_damaged:
                rows.close()
                raise damaged_segment(segment, index, f"its rows in {target.name} do not "
                                      "match its commit record", n_sent,
                                      len(segments) - index - 1)
            digests = PlacedDigests(rows)  # back to the end of the good segments
            digests.advance(n_sent, n_words)
            return rows, digests, segments[:index], [seg for seg, _, _ in segments[index:]]
        n_sent, n_words = n_sent + seg_sent, n_words + seg_words
    return rows, digests, segments, []


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while len(data):
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n


__all__ = ["READ_BYTES", "PlacedDigests", "PlacedRows", "layer_keys", "reopen_placed"]
