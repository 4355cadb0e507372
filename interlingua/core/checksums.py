"""SHA-256 checksums of store segments and of finished stores.

Two layers of protection against data damaged at rest (bad disks, stray writes,
copies cut short):

* **Segments.** Every segment of a store being written (``<store>.partial/seg-*.h5``)
  is hashed after it is written and before it is committed; the digest goes to a
  commit record ``seg-NNNNNN.json`` that is itself committed (atomically) *before*
  the segment, so every committed segment has one. Resuming re-hashes each segment
  (and rebuilds the store file from them); a mismatch raises
  :class:`DamagedSegmentError` naming the file.
* **Finished stores.** The writer hashes every dataset's values as it appends them
  to the store file (the *canonical bytes*, see :func:`hash_values`) and the root
  attributes, and records the digests as attributes of the group ``/checksums``.
  :func:`verify_store` recomputes them with bounded-memory chunked reads.

Canonical bytes of a dataset: numbers as little-endian values of the dataset's type
in row-major order; strings as, per element, its UTF-8 length (8-byte little-endian)
followed by the UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from interlingua.core.errors import StoreError
from interlingua.core.store_format import open_h5

ALGORITHM = "sha256"
#: Group of a finished store holding one digest attribute per dataset.
GROUP = "checksums"
#: Key (in :data:`GROUP`) of the digest of the root attributes.
ROOT_ATTRS = "root-attrs"
_BLOCK = 1 << 20  # file read size
_READ_BYTES = 8 << 20  # target bytes per chunked dataset read
_RESUME_HINT = ("rerun the extraction with --resume --discard-damaged "
                "(in Python: resume(..., discard_damaged=True))")
#: File name of a committed segment.
SEGMENT = re.compile(r"^seg-(\d{6})\.h5$")


class DamagedSegmentError(StoreError):
    """A committed segment does not match its commit record (or cannot be read).

    Attributes
    ----------
    segment : Path
        The damaged segment file.
    index : int
        Its position (0-based); segments from here on must be recomputed.
    """

    def __init__(self, message: str, segment: Path, index: int) -> None:
        super().__init__(message)
        self.segment, self.index = segment, index


# -- files ---------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in 1 MiB blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def record_path(segment: Path) -> Path:
    """The commit record of ``segment`` (``seg-000003.h5`` -> ``seg-000003.json``)."""
    return segment.with_suffix(".json")


def write_segment_record(segment: Path, tmp: Path, n_sentences: int, n_words: int,
                         extra: dict[str, Any] | None = None) -> None:
    """Hash the written (and fsynced) segment ``tmp`` and commit the record of ``segment``.

    Called before ``tmp`` is renamed to ``segment``: a committed segment always has its
    record; a record whose segment was never committed is overwritten by the next one.
    """
    digest, size = sha256_file(tmp)
    record = {ALGORITHM: digest, "size": size, "n_sentences": int(n_sentences),
              "n_words": int(n_words), **(extra or {})}
    path = record_path(segment)
    part = path.with_name(path.name + ".tmp")
    with part.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(record))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(part, path)


def segment_problem(segment: Path) -> str | None:
    """Why ``segment`` fails its commit record (``None`` if it matches)."""
    try:
        record = json.loads(record_path(segment).read_text(encoding="utf-8"))
        expected = str(record[ALGORITHM])
    except (OSError, ValueError, KeyError, TypeError):
        return f"no valid commit record {record_path(segment).name}"
    try:
        digest, _ = sha256_file(segment)
    except OSError as exc:
        return f"unreadable ({exc})"
    return None if digest == expected else "checksum mismatch"


def damaged_segment(segment: Path, index: int, reason: str, sentence: int,
                    n_later: int) -> DamagedSegmentError:
    """The one-line error for a damaged segment, telling how to recompute it."""
    later = f" and the {n_later} segment(s) after it" if n_later else ""
    return DamagedSegmentError(
        f"{segment}: {reason}; to discard it{later} and recompute from sentence "
        f"{sentence}, {_RESUME_HINT}",
        segment, index,
    )


# -- datasets ------------------------------------------------------------------------
def hash_values(digest: Any, values: Any, dtype: Any) -> None:
    """Feed the canonical bytes of ``values`` (stored as ``dtype``) into ``digest``."""
    if h5py.check_string_dtype(np.dtype(dtype)) is not None:
        parts = []
        for item in np.asarray(values, dtype=object).ravel():
            raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts += (len(raw).to_bytes(8, "little"), raw)
        digest.update(b"".join(parts))
    else:
        canonical = np.dtype(dtype).newbyteorder("<")
        digest.update(np.ascontiguousarray(values, dtype=canonical))  # no copy if possible


def attrs_digest(attrs: Any) -> str:
    """SHA-256 of a file's root attributes (sorted, JSON, numpy scalars unwrapped)."""
    out = {}
    for key, value in attrs.items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        out[str(key)] = value
    text = json.dumps(out, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class DatasetDigests:
    """Running digests of datasets written in row order (used by ``finalize``)."""

    _hashes: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def add(self, key: str, dtype: Any) -> None:
        """Start the digest of dataset ``key`` (an empty dataset hashes no bytes)."""
        self._hashes[key] = (hashlib.sha256(), dtype)

    def add_recorded(self, key: str, hexdigest: str) -> None:
        """Record the digest of dataset ``key`` computed elsewhere (rows written in
        place, :mod:`~interlingua.core.store_placement`)."""
        self._hashes[key] = (_Recorded(hexdigest), None)

    def update(self, key: str, values: Any) -> None:
        """Hash the next rows of dataset ``key``."""
        digest, dtype = self._hashes[key]
        hash_values(digest, values, dtype)

    def write(self, f: h5py.File) -> None:
        """Record the digests, and the root attributes' digest, in ``/checksums``."""
        group = f.require_group(GROUP)
        group.attrs["algorithm"] = ALGORITHM
        for key, (digest, _) in self._hashes.items():
            group.attrs[key] = digest.hexdigest()
        group.attrs[ROOT_ATTRS] = attrs_digest(f.attrs)


@dataclass(frozen=True)
class _Recorded:
    """A finished digest (what :class:`DatasetDigests` needs of a hash object)."""

    value: str

    def hexdigest(self) -> str:
        return self.value


def dataset_digest(ds: h5py.Dataset) -> str:
    """SHA-256 of a dataset's canonical bytes, read in chunks of about 8 MiB."""
    digest = hashlib.sha256()
    n = ds.shape[0] if ds.shape else 1
    row_bytes = max(1, int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize)
    rows = max(1, min(65536, _READ_BYTES // row_bytes))
    if not ds.shape:
        hash_values(digest, ds[()], ds.dtype)
    for start in range(0, n if ds.shape else 0, rows):
        hash_values(digest, ds[start : min(n, start + rows)], ds.dtype)
    return digest.hexdigest()


def _data_paths(f: h5py.File) -> list[str]:
    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            found.append(name)

    for group in ("sentences", "words", "layers"):
        if isinstance(f.get(group), h5py.Group):
            f[group].visititems(lambda name, obj, g=group: visit(f"{g}/{name}", obj))
    return found


def store_digests(f: h5py.File) -> dict[str, str] | None:
    """The recorded digests of a finished store (``None`` if it carries none)."""
    group = f.get(GROUP)
    if not isinstance(group, h5py.Group) or group.attrs.get("algorithm") != ALGORITHM:
        return None
    return {str(k): str(v) for k, v in group.attrs.items() if k != "algorithm"}


def verify_store(path: str | os.PathLike) -> int:
    """Recompute every checksum of a finished store; returns the number of datasets.

    Raises
    ------
    StoreError
        The store carries no checksums (written before they existed), or some dataset
        or the root attributes do not match (all of them are named), or a dataset
        cannot be read or was added / removed after the store was finished.
    """
    path = Path(path)
    with open_h5(path, "r") as f:
        recorded = store_digests(f)
        if recorded is None:
            raise StoreError(f"{path} carries no checksums (written by an interlingua "
                             "version without them); its integrity cannot be verified")
        bad: list[str] = []
        if attrs_digest(f.attrs) != recorded.pop(ROOT_ATTRS, None):
            bad.append("root attributes: checksum mismatch")
        present = _data_paths(f)
        bad += [f"/{key}: added after the store was finished"
                for key in present if key not in recorded]
        for key, expected in recorded.items():
            if key not in f:
                bad.append(f"/{key}: missing")
                continue
            try:
                actual = dataset_digest(f[key])
            except (OSError, RuntimeError, ValueError) as exc:
                bad.append(f"/{key}: unreadable ({exc})")
                continue
            if actual != expected:
                bad.append(f"/{key}: checksum mismatch")
    if bad:
        raise StoreError(f"{path} is damaged: " + "; ".join(bad))
    return len(recorded)


def scan_segments(pdir: Path, *, verify: bool) -> tuple[
        list[tuple[Path, int, int]], DamagedSegmentError | None, list[Path]]:
    """The committed segments of a store being written, up to the first bad one.

    Returns ``(good, problem, rest)``: ``(file, n_sentences, n_words)`` of the good
    segments in order; the error describing the first missing, unreadable or (with
    ``verify``) damaged segment, or ``None``; the segment files from that one on.
    """
    entries = sorted(e for e in pdir.iterdir() if SEGMENT.match(e.name))
    good: list[tuple[Path, int, int]] = []
    sentence = 0
    for pos, entry in enumerate(entries):
        if int(SEGMENT.match(entry.name).group(1)) != pos:
            missing = pdir / f"seg-{pos:06d}.h5"
            return good, damaged_segment(missing, pos, "missing", sentence,
                                         len(entries) - pos), entries[pos:]
        reason = segment_problem(entry) if verify else None
        if reason is None:
            try:
                with h5py.File(entry, "r") as f:
                    n_sent, n_words = int(f.attrs["n_sentences"]), int(f.attrs["n_words"])
            except (OSError, KeyError) as exc:
                reason = f"unreadable ({exc})"
        if reason:
            return good, damaged_segment(entry, pos, reason, sentence,
                                         len(entries) - pos - 1), entries[pos:]
        good.append((entry, n_sent, n_words))
        sentence += n_sent
    return good, None, []


def discard_segments(segments: Iterable[Path]) -> None:
    """Delete segments and their commit records (for ``discard_damaged``)."""
    for segment in segments:
        segment.unlink(missing_ok=True)
        record_path(segment).unlink(missing_ok=True)


__all__ = [
    "ALGORITHM",
    "DamagedSegmentError",
    "DatasetDigests",
    "attrs_digest",
    "damaged_segment",
    "dataset_digest",
    "discard_segments",
    "hash_values",
    "record_path",
    "scan_segments",
    "segment_problem",
    "sha256_file",
    "store_digests",
    "verify_store",
    "write_segment_record",
]
