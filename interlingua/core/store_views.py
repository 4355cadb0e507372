"""Read views of an activation store: metadata tables and layers (committed rows only).

:class:`Layer` is what :meth:`ActivationStore.layer
<interlingua.core.store.ActivationStore.layer>` returns; :class:`SentenceTable` and
:class:`WordTable` are its ``sentences`` / ``words``. All of them read from the open
file on demand and never load a whole layer unless asked. Users import these names
from :mod:`interlingua.core.store`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Protocol

import h5py
import numpy as np

from interlingua.core.errors import InputError


class _Store(Protocol):
    """What a :class:`Layer` needs of its store (an ``ActivationStore``; this module
    does not import :mod:`.store`, which imports it)."""

    path: Path


class _Columns:
    """Metadata columns of one group, each read from the file on first access only
    (so selecting rows by language does not load every sentence's text)."""

    _strings: ClassVar[frozenset[str]] = frozenset({"text", "lang"})
    _lengths: ClassVar[dict[str, int]] = {}

    def __init__(self, group: h5py.Group, n: int) -> None:
        self._group, self._n, self._cache = group, n, {}

    def _read(self, name: str) -> np.ndarray:
        if name not in self._cache:
            ds = self._group[name]
            stop = self._n + self._lengths.get(name, 0)
            self._cache[name] = (np.asarray(ds.asstr()[:stop], dtype=object)
                                 if name in self._strings else ds[:stop])
        return self._cache[name]

    def __len__(self) -> int:
        return self._n


class SentenceTable(_Columns):
    """Per-sentence metadata arrays (committed rows only), loaded lazily per column."""

    _lengths: ClassVar[dict[str, int]] = {"word_offsets": 1}

    text = property(lambda self: self._read("text"))
    lang = property(lambda self: self._read("lang"))
    pair_id = property(lambda self: self._read("pair_id"))
    target = property(lambda self: self._read("target"))
    word_offsets = property(lambda self: self._read("word_offsets"))


class WordTable(_Columns):
    """Per-word metadata arrays (committed rows only), loaded lazily per column."""

    text = property(lambda self: self._read("text"))
    sentence = property(lambda self: self._read("sentence"))


class _H5Rows:
    """Picklable, lazily opened view of one dataset (for Dask, incl. distributed)."""

    _handles: ClassVar[dict[str, h5py.File]] = {}

    def __init__(self, path: str, dataset: str, n_rows: int, dim: int, dtype: Any) -> None:
        self.path, self.dataset = path, dataset
        self.shape = (n_rows, dim)
        self.dtype = np.dtype(dtype)
        self.ndim = 2

    def _file(self) -> h5py.File:
        handle = self._handles.get(self.path)
        if handle is None or not handle.id.valid:
            handle = h5py.File(self.path, "r")
            self._handles[self.path] = handle
        return handle

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = self._file()[self.dataset]
        if isinstance(key, tuple):
            row_key, col_key = (*key, slice(None))[:2]
        else:
            row_key, col_key = key, slice(None)
        if isinstance(row_key, slice):
            start, stop, step = row_key.indices(self.shape[0])
            block = rows[start:stop][::step] if step != 1 else rows[start:stop]
        else:
            block = rows[np.asarray(row_key)]
        return np.asarray(block[:, col_key], dtype=self.dtype)


class Layer:
    """Read access to one layer at one level, limited to committed rows.

    Rows are returned as float32 (float16 storage is widened). Index with a slice,
    an integer array in any order, or a boolean mask.
    """

    def __init__(self, store: _Store, name: str, level: str, dataset: h5py.Dataset,
                 n_rows: int) -> None:
        self.store, self.name, self.level = store, name, level
        self._ds = dataset
        self.n_rows = int(n_rows)
        self.dim = int(dataset.shape[1])
        self.storage_dtype = dataset.dtype

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.dim)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        return (f"Layer({self.name!r}, level={self.level!r}, shape={self.shape}, "
                f"storage={self.storage_dtype})")

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.n_rows)
            if step == 1:
                return np.asarray(self._ds[start:stop], dtype=np.float32)
            key = np.arange(start, stop, step)
        if isinstance(key, (int, np.integer)):
            return self[np.array([key])][0]
        index = np.asarray(key)
        if index.dtype == bool:
            if index.shape != (self.n_rows,):
                raise InputError(f"boolean mask has shape {index.shape}, expected ({self.n_rows},)")
            index = np.flatnonzero(index)
        return self._take(index)

    def read(self, index: Any = None) -> np.ndarray:
        """All committed rows, or the rows in ``index`` (in that order)."""
        return self[:] if index is None else self[index]

    def _take(self, index: np.ndarray) -> np.ndarray:
        if index.size == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        if not np.issubdtype(index.dtype, np.integer):
            raise InputError(f"row index must be integers, got {index.dtype}")
        index = index.astype(np.int64, copy=False)
        if index.min() < 0 or index.max() >= self.n_rows:
            raise InputError(
                f"row index out of range for layer {self.name!r} ({self.level}, {self.n_rows} rows)"
            )
        order = np.argsort(index, kind="stable")
        sorted_rows = index[order]
        out = np.empty((index.size, self.dim), dtype=np.float32)
        # Read contiguous spans when the selection is dense (fast), fancy-index otherwise.
        block = 16384
        start = 0
        while start < sorted_rows.size:
            lo = sorted_rows[start]
            stop = int(np.searchsorted(sorted_rows, lo + block, side="left"))
            piece = sorted_rows[start:stop]
            hi = piece[-1] + 1
            if (hi - lo) <= 8 * piece.size:
                span = self._ds[lo:hi]
                values = span[piece - lo]
            else:
                unique, inverse = np.unique(piece, return_inverse=True)
                values = self._ds[unique.tolist()][inverse]
            out[order[start:stop]] = values
            start = stop
        return out

    def iter_chunks(self, rows: int = 65536, index: Any = None) -> Iterator[np.ndarray]:
        """Yield float32 blocks of at most ``rows`` rows, in order (of ``index`` if given)."""
        if rows < 1:
            raise InputError("rows per chunk must be >= 1")
        if index is None:
            for start in range(0, self.n_rows, rows):
                yield np.asarray(self._ds[start : min(start + rows, self.n_rows)], dtype=np.float32)
            return
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        for start in range(0, index.size, rows):
            yield self._take(index[start : start + rows])

    def as_dask(self, rows: int = 65536):
        """A lazy dask array over the committed rows (the file is opened per task)."""
        import dask.array as da

        source = _H5Rows(str(self.store.path), self._ds.name, self.n_rows, self.dim, np.float32)
        return da.from_array(source, chunks=(rows, self.dim), lock=True, asarray=True,
                             name=f"interlingua-{self.store.path.name}-{self._ds.name}-{self.n_rows}")


__all__ = ["Layer", "SentenceTable", "WordTable"]
