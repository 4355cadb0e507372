"""The ``<store>.partial/`` directory of a store being written (see :mod:`.store_writer`).

Where the segments and the ``manifest.json`` of an unfinished store live, and what can
be read from them without a writer: the manifest, the committed segments and a summary
for ``interlingua info``. The reader (:mod:`.store`) uses it to explain why a store
path is missing; the writer builds on it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from interlingua.core.checksums import scan_segments, write_segment_record
from interlingua.core.errors import StoreError
from interlingua.core.store_assembly import record_columns
from interlingua.core.store_format import FORMAT, STR_DTYPE, SentenceRecord, layer_sort_key

#: Name of the manifest file in the partial directory.
MANIFEST = "manifest.json"


def partial_dir(path: Path) -> Path:
    """Directory holding the segments of a store being written."""
    return path.with_name(path.name + ".partial")


def writing_path(path: Path) -> Path:
    """The store file being built (renamed to ``path`` by finalize)."""
    return path.with_name(path.name + ".writing")


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (renames, new files) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically (write a temporary file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of an interrupted store (``path`` is the store path)."""
    manifest = partial_dir(path) / MANIFEST
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StoreError(f"{partial_dir(path)} is not a resumable store ({exc})") from None
    if data.get("format") != FORMAT:
        raise StoreError(f"{partial_dir(path)} is not an interlingua store being written")
    return data


def committed_segments(path: Path) -> list[tuple[Path, int, int]]:
    """``(file, n_sentences, n_words)`` of every committed segment, in order.

    Checksums are not verified here (see :meth:`StoreWriter.resume`); a missing or
    unreadable segment raises :class:`~.checksums.DamagedSegmentError`.
    """
    good, problem, _ = scan_segments(partial_dir(path), verify=False)
    if problem is not None:
        raise problem
    return good


def write_segment(pdir: Path, index: int, records: Sequence[SentenceRecord],
                  layers: dict[str, dict[str, np.ndarray]],
                  columns: dict[str, Any] | None = None,
                  record: dict[str, Any] | None = None) -> tuple[Path, int]:
    """Write and commit segment number ``index`` of a store being written.

    The segment is written under a temporary name, synced, its checksum recorded
    (:func:`~.checksums.write_segment_record`) and then renamed — the commit point.

    Parameters
    ----------
    pdir : Path
        The partial directory (:func:`partial_dir`).
    index : int
        Segment number (``seg-<index>.h5``).
    records : sequence of SentenceRecord
        The segment's sentences, in order.
    layers : dict
        ``{layer: {level: rows}}``, already checked and cast to the storage dtype.
    columns : dict, optional
        :func:`~.store_assembly.record_columns` of ``records`` when already computed.
    record : dict, optional
        Extra fields of the commit record (the digests of rows written in place).

    Returns
    -------
    (Path, int)
        The committed segment file and its number of words.
    """
    final = pdir / f"seg-{index:06d}.h5"
    tmp = final.with_name(final.name + ".tmp")
    if columns is None:
        columns = record_columns(records)
    n_words = len(columns["words/text"])
    with h5py.File(tmp, "w") as f:
        f.attrs["n_sentences"] = len(records)
        f.attrs["n_words"] = n_words
        for key in ("sentences/text", "sentences/lang"):
            f.create_dataset(key, data=columns[key], dtype=STR_DTYPE)
        for key in ("sentences/pair_id", "sentences/target", "sentences/n_words"):
            f.create_dataset(key, data=columns[key])
        words = f.create_dataset("words/text", shape=(n_words,), dtype=STR_DTYPE)
        if n_words:
            words[:] = columns["words/text"]
        for name, levels in layers.items():
            for level, values in levels.items():
                f.create_dataset(f"layers/{name}/{level}", data=values)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    write_segment_record(final, tmp, len(records), n_words, record)  # before the commit
    os.replace(tmp, final)  # the commit point
    fsync_dir(pdir)
    return final, n_words


def partial_info(path: str | os.PathLike) -> dict[str, Any]:
    """What an interrupted (resumable) store holds so far, for ``interlingua info``."""
    path = Path(path)
    manifest = read_manifest(path)
    segments = committed_segments(path)
    schema = manifest["schema"] or {}
    return {
        "path": str(path),
        "partial_dir": str(partial_dir(path)),
        **manifest["attrs"],
        "complete": False,
        "progress": sum(n for _, n, _ in segments),
        "n_sentences": sum(n for _, n, _ in segments),
        "n_words": sum(w for _, _, w in segments),
        "segments": len(segments),
        "layers": [
            {"name": name, **{f"{lv}_dim": dim for lv, dim in levels.items()}}
            for name, levels in sorted(schema.items(), key=lambda kv: layer_sort_key(kv[0]))
        ],
    }


__all__ = [
    "MANIFEST",
    "atomic_write_text",
    "committed_segments",
    "fsync_dir",
    "partial_dir",
    "partial_info",
    "read_manifest",
    "write_segment",
    "writing_path",
]
