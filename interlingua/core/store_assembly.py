"""Assembly of a finished store from the committed segments of a store being written.

Used by :meth:`~interlingua.core.store_writer.StoreWriter.finalize`: the segments are
checked against their checksums and copied, in order, into one HDF5 file laid out as
described in :mod:`interlingua.core.store`, while the SHA-256 of every dataset is
computed (:class:`~interlingua.core.checksums.DatasetDigests`) and recorded.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from interlingua.core.checksums import ALGORITHM, DatasetDigests, damaged_segment, segment_problem
from interlingua.core.store_format import STR_DTYPE


def assemble(target: Path, manifest: dict[str, Any],
             segments: Sequence[tuple[Path, int, int]]) -> None:
    """Write the finished store ``target`` from the committed ``segments``.

    Parameters
    ----------
    target : Path
        The file to create (``<store>.writing``).
    manifest : dict
        The manifest of the store being written (attributes, schema, storage options).
    segments : sequence of (Path, int, int)
        ``(file, n_sentences, n_words)`` of the committed segments, in order.

    Raises
    ------
    DamagedSegmentError
        A segment does not match its checksum (checked before it is copied).
    """
    schema = manifest["schema"] or {}
    n_sent = sum(n for _, n, _ in segments)
    n_words = sum(w for _, _, w in segments)
    chunk_rows = int(manifest["chunk_rows"])
    compression = manifest["compression"]
    storage = manifest["attrs"]["dtype"]
    verify = manifest.get("checksums") == ALGORITHM
    digests = DatasetDigests()
    with h5py.File(target, "w") as f:
        root = {**manifest["attrs"], "complete": False, "progress": 0}
        for key, value in root.items():
            f.attrs[key] = value
        string_chunks = (max(1, min(max(chunk_rows, 256), max(n_sent, n_words, 1))),)

        def column(key: str, n: int, kind: Any) -> h5py.Dataset:
            return f.create_dataset(key, shape=(n,), maxshape=(None,), dtype=kind,
                                    chunks=string_chunks)

        cols = {
            "sentences/text": column("sentences/text", n_sent, STR_DTYPE),
            "sentences/lang": column("sentences/lang", n_sent, STR_DTYPE),
            "sentences/pair_id": column("sentences/pair_id", n_sent, np.int64),
            "sentences/target": column("sentences/target", n_sent, np.int64),
            "words/text": column("words/text", n_words, STR_DTYPE),
            "words/sentence": column("words/sentence", n_words, np.int64),
        }
        offsets = column("sentences/word_offsets", n_sent + 1, np.int64)
        f.create_group("layers")
        datasets = {}
        for name, levels in schema.items():
            for level, dim in levels.items():
                n = n_words if level == "words" else n_sent
                rows = max(1, min(chunk_rows, (1 << 20) // max(dim * 4, 1), max(n, 1)))
                datasets[(name, level)] = f.create_dataset(
                    f"layers/{name}/{level}", shape=(n, dim), maxshape=(None, dim),
                    dtype=storage if level == "words" else "float32",
                    chunks=(rows, dim), compression=compression,
                )
        cols["sentences/word_offsets"] = offsets
        cols.update({f"layers/{name}/{level}": ds for (name, level), ds in datasets.items()})
        for key, ds in cols.items():
            digests.add(key, ds.dtype)

        def put(key: str, a: int, b: int, values: np.ndarray) -> None:
            if b > a:
                cols[key][a:b] = values
            digests.update(key, values)

        s0 = w0 = 0
        put("sentences/word_offsets", 0, 1, np.zeros(1, dtype=np.int64))
        for index, (seg_path, seg_sent, seg_words) in enumerate(segments):
            reason = segment_problem(seg_path) if verify else None
            if reason:
                raise damaged_segment(seg_path, index, reason, s0, len(segments) - index - 1)
            with h5py.File(seg_path, "r") as seg:
                s1, w1 = s0 + seg_sent, w0 + seg_words
                for key in ("sentences/text", "sentences/lang", "sentences/pair_id",
                            "sentences/target"):
                    put(key, s0, s1, seg[key][:])
                put("words/text", w0, w1, seg["words/text"][:] if seg_words else [])
                counts = seg["sentences/n_words"][:]
                put("sentences/word_offsets", s0 + 1, s1 + 1, w0 + np.cumsum(counts))
                put("words/sentence", w0, w1, np.repeat(np.arange(s0, s1), counts))
                for name, level in datasets:
                    a, b = (w0, w1) if level == "words" else (s0, s1)
                    put(f"layers/{name}/{level}", a, b, seg[f"layers/{name}/{level}"][:])
            s0, w0 = s1, w1
        f.attrs["progress"] = n_sent
        f.attrs["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        f.attrs["complete"] = True
        digests.write(f)


__all__ = ["assemble"]
