"""HDF5 activation store (format ``interlingua-activations``, version 1).

One file holds one model run over one corpus (any number of languages)::

    /                        attrs: format, format_version, model, model_revision, extractor,
                                    word_aggregation, sentence_pooling, dtype,
                                    interlingua_version, created, complete, progress
    /sentences/text          vlen utf-8 (n_sent)
    /sentences/lang          vlen utf-8 (n_sent)
    /sentences/pair_id       int64 (n_sent)   same id = translations; -1 = none
    /sentences/target        int64 (n_sent)   flagged word index (word in context); -1 = none
    /sentences/word_offsets  int64 (n_sent+1) sentence s owns words [o[s], o[s+1])
    /words/text              vlen utf-8 (n_words)
    /words/sentence          int64 (n_words)
    /layers/<name>/words     float16|float32 (n_words, d), chunked by rows
    /layers/<name>/sentences float32 (n_sent, d)
    /checksums               attrs: SHA-256 of every dataset and of the root attributes
                             (:mod:`~interlingua.core.checksums`; ``interlingua info --verify``)

Writing goes through :class:`~interlingua.core.store_writer.StoreWriter`
(:meth:`ActivationStore.create` / :meth:`ActivationStore.resume`), which is
crash-safe: the store path only ever holds a complete file (``complete = True``);
an interrupted write lives in ``<store>.partial/`` until resumed and finalized.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import h5py
import numpy as np

from interlingua.core.errors import InputError, StoreError

if TYPE_CHECKING:
    from interlingua.core.store_writer import StoreWriter

FORMAT = "interlingua-activations"
FORMAT_VERSION = 1
LEVELS = ("words", "sentences")
_STR = h5py.string_dtype("utf-8")
_SENTENCE_FIELDS = ("text", "lang", "pair_id", "target", "word_offsets")
_WORD_FIELDS = ("text", "sentence")


@dataclass
class SentenceRecord:
    """Metadata of one sentence written to a store.

    Attributes
    ----------
    words : list of str
        The sentence's words (one activation row per word at word level).
    lang : str
        Language code.
    pair_id : int
        Same id = translations of each other; -1 = not part of a parallel pair.
    text : str, optional
        Original text; defaults to the words joined by spaces.
    target : int
        Index (into ``words``) of a flagged word for word-in-context probing; -1 = none.
    """

    words: list[str]
    lang: str
    pair_id: int = -1
    text: str | None = None
    target: int = -1

    def __post_init__(self) -> None:
        self.words = [str(w) for w in self.words]
        if self.text is None:
            self.text = " ".join(self.words)


def layer_sort_key(name: str) -> tuple:
    """Natural order: "0" < "2" < "10"; "encoder/…" before "decoder/…"."""
    parts = []
    for part in name.split("/"):
        order = {"encoder": 0, "decoder": 1}.get(part, 2)
        parts.append((0, int(part), "") if part.isdigit() else (1, order, part))
    return tuple(parts)


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

    def __init__(self, store: ActivationStore, name: str, level: str, dataset: h5py.Dataset,
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


class ActivationStore:
    """A complete HDF5 file of activations (read-only); see the module docstring.

    Use :meth:`open` to read, :meth:`create` to write a new store and :meth:`resume`
    to continue an interrupted write (both return a
    :class:`~interlingua.core.store_writer.StoreWriter`). Works as a context manager.
    """

    def __init__(self, path: Path, handle: h5py.File) -> None:
        self.path = path
        self._f = handle
        self._sentences: SentenceTable | None = None
        self._words: WordTable | None = None

    # -- opening -------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, **options: Any) -> StoreWriter:
        """Start writing a new store; returns a :class:`~.store_writer.StoreWriter`.

        Keyword options: ``model``, ``extractor`` (required), ``word_aggregation``,
        ``sentence_pooling``, ``dtype`` ("float32" | "float16" for word rows),
        ``model_revision``, ``attrs`` (extra root attributes), ``overwrite``,
        ``compression`` (None | "gzip" | "lzf"), ``chunk_rows``, ``segment_bytes``.
        The store file appears only when the writer's ``finalize()`` succeeds. The
        writer holds an exclusive lock on ``<path>.lock`` until it is finalized,
        aborted or closed; while another process holds it, ``create`` (also with
        ``overwrite``) and ``resume`` raise ``StoreError`` ("… is being written by
        process N").
        """
        from interlingua.core.store_writer import StoreWriter

        return StoreWriter.create(path, **options)

    @classmethod
    def open(cls, path: str | os.PathLike, *, allow_incomplete: bool = False) -> ActivationStore:
        """Open a store for reading.

        Raises
        ------
        StoreError
            Missing file, not HDF5, another format (NeuroX files are recognised and
            pointed to the importer), a newer format version, missing datasets, or an
            incomplete store (unless ``allow_incomplete``).
        """
        path = Path(path)
        if not path.exists():
            from interlingua.core.locking import busy_message, lock_holder
            from interlingua.core.store_writer import partial_dir, read_manifest

            if partial_dir(path).is_dir():
                read_manifest(path)
                holder = lock_holder(path)
                if holder is not None:
                    raise StoreError(busy_message(path, holder))
                raise StoreError(
                    f"{path} is incomplete: its writing was interrupted (partial data in "
                    f"{partial_dir(path)}); resume the extraction (--resume) to finish it"
                )
        handle = _open_h5(path, "r")
        store = cls(path, handle)
        try:
            store._validate()
            if not store.complete and not allow_incomplete:
                raise StoreError(
                    f"{path} is incomplete: its writing was interrupted after "
                    f"{store.progress} sentences; resume the extraction (--resume) "
                    "or open it with allow_incomplete=True"
                )
        except BaseException:
            handle.close()
            raise
        return store

    @classmethod
    def resume(cls, path: str | os.PathLike, *, discard_damaged: bool = False) -> StoreWriter:
        """Continue an interrupted write; the writer's ``progress`` says where.

        Committed segments are checked against their checksums; a damaged one is an
        error naming it unless ``discard_damaged`` (then it and the segments after it
        are recomputed by the resumed run; see ``StoreWriter.resume``).
        """
        from interlingua.core.store_writer import StoreWriter

        return StoreWriter.resume(path, discard_damaged=discard_damaged)

    def _validate(self) -> None:
        attrs = self._f.attrs
        fmt = attrs.get("format")
        if fmt != FORMAT:
            if "sentence_to_index" in self._f:
                raise StoreError(
                    f"{self.path} is a NeuroX activation file, not an interlingua store; "
                    "convert it with `interlingua import-neurox` (interlingua.core.neurox_io)"
                )
            raise StoreError(
                f"{self.path} is an HDF5 file of another format (format attribute "
                f"{fmt!r}, expected {FORMAT!r})"
            )
        version = int(attrs.get("format_version", -1))
        if version > FORMAT_VERSION or version < 1:
            raise StoreError(
                f"{self.path} has format version {version}; this interlingua reads "
                f"version {FORMAT_VERSION} (upgrade interlingua)"
            )
        for group, fields in (("sentences", _SENTENCE_FIELDS), ("words", _WORD_FIELDS)):
            for name in fields:
                if f"{group}/{name}" not in self._f:
                    raise StoreError(f"{self.path} is corrupt: dataset /{group}/{name} is missing")
        if "layers" not in self._f:
            raise StoreError(f"{self.path} is corrupt: group /layers is missing")
        n_sent, n_words = self.n_sentences, self.n_words
        if self._f["sentences/word_offsets"].shape[0] < n_sent + 1:
            raise StoreError(f"{self.path} is corrupt: word offsets shorter than progress")
        for name in self.layers:
            for level, expected in (("words", n_words), ("sentences", n_sent)):
                key = f"layers/{name}/{level}"
                if key in self._f and self._f[key].shape[0] < expected:
                    raise StoreError(
                        f"{self.path} is corrupt: layer {name!r} ({level}) has "
                        f"{self._f[key].shape[0]} rows, expected {expected}"
                    )

    # -- metadata ------------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        out = {}
        for key, value in self._f.attrs.items():
            if isinstance(value, np.generic):
                value = value.item()
            elif isinstance(value, bytes):
                value = value.decode("utf-8")
            out[key] = value
        return out

    @property
    def complete(self) -> bool:
        return bool(self._f.attrs.get("complete", False))

    @property
    def progress(self) -> int:
        """Number of committed sentences."""
        return int(self._f.attrs.get("progress", 0))

    @property
    def n_sentences(self) -> int:
        return self.progress

    @property
    def n_words(self) -> int:
        return int(self._f["sentences/word_offsets"][self.progress])

    @property
    def layers(self) -> list[str]:
        """Layer names in natural order ("0", "1", …; "encoder/0", …, "decoder/0", …)."""
        names: list[str] = []

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Group) and any(level in obj for level in LEVELS):
                names.append(name)

        self._f["layers"].visititems(visit)
        return sorted(names, key=layer_sort_key)

    def layer(self, name: str | int, level: str = "words") -> Layer:
        """The committed rows of one layer at ``level`` ("words" or "sentences")."""
        name = str(name)
        if level not in LEVELS:
            raise InputError(f"level must be 'words' or 'sentences', got {level!r}")
        key = f"layers/{name}"
        if key not in self._f or not isinstance(self._f[key], h5py.Group):
            raise StoreError(
                f"no layer {name!r} in {self.path.name}; layers: {', '.join(self.layers) or 'none'}"
            )
        if level not in self._f[key]:
            raise StoreError(f"layer {name!r} of {self.path.name} has no {level}-level rows")
        n_rows = self.n_words if level == "words" else self.n_sentences
        return Layer(self, name, level, self._f[f"{key}/{level}"], n_rows)

    def levels(self, name: str) -> list[str]:
        """Levels ("words", "sentences") stored for layer ``name``."""
        group = self._f.get(f"layers/{name}")
        if not isinstance(group, h5py.Group):
            raise StoreError(f"no layer {name!r} in {self.path.name}")
        return [level for level in LEVELS if level in group]

    @property
    def sentences(self) -> SentenceTable:
        if self._sentences is None:
            self._sentences = SentenceTable(self._f["sentences"], self.progress)
        return self._sentences

    @property
    def words(self) -> WordTable:
        if self._words is None:
            self._words = WordTable(self._f["words"], self.n_words)
        return self._words

    @property
    def languages(self) -> list[str]:
        return sorted({str(x) for x in self.sentences.lang})

    def _check_lang(self, lang: str) -> None:
        if lang not in set(self.sentences.lang):
            raise InputError(
                f"no sentences in language {lang!r} in {self.path.name}; "
                f"languages: {', '.join(self.languages) or 'none'}"
            )

    def sentence_rows(self, lang: str | None = None) -> np.ndarray:
        """Indices of the sentences of ``lang`` (all sentences when ``None``)."""
        if lang is None:
            return np.arange(self.n_sentences)
        self._check_lang(lang)
        return np.flatnonzero(self.sentences.lang == lang)

    def word_rows(self, lang: str | None = None, sentence_rows: Any = None) -> np.ndarray:
        """Word-level row indices of the given sentences (or of a language)."""
        if sentence_rows is None:
            if lang is None:
                return np.arange(self.n_words)
            sentence_rows = self.sentence_rows(lang)
        rows = np.asarray(sentence_rows, dtype=np.int64)
        offsets = self.sentences.word_offsets
        starts, stops = offsets[rows], offsets[rows + 1]
        lengths = stops - starts
        if lengths.sum() == 0:
            return np.empty(0, dtype=np.int64)
        # Concatenate the ranges [start, stop) without a Python loop.
        shift = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return np.arange(lengths.sum()) + shift

    def parallel_rows(self, lang_a: str, lang_b: str) -> tuple[np.ndarray, np.ndarray]:
        """Sentence indices of ``lang_a`` and ``lang_b`` aligned by ``pair_id``.

        Only pairs present in both languages are returned, ordered by pair id.
        """
        ids = []
        for lang in (lang_a, lang_b):
            rows = self.sentence_rows(lang)
            pid = self.sentences.pair_id[rows]
            keep = pid >= 0
            rows, pid = rows[keep], pid[keep]
            unique, counts = np.unique(pid, return_counts=True)
            if (counts > 1).any():
                raise InputError(
                    f"pair id {unique[counts > 1][0]} occurs more than once in language {lang!r}"
                )
            ids.append((rows, pid))
        (rows_a, pid_a), (rows_b, pid_b) = ids
        common, ia, ib = np.intersect1d(pid_a, pid_b, assume_unique=True, return_indices=True)
        if common.size == 0:
            raise InputError(
                f"no parallel sentences (shared pair_id) between {lang_a!r} and {lang_b!r}"
            )
        return rows_a[ia], rows_b[ib]

    def target_rows(self, lang: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(word_rows, sentence_rows)`` of flagged target words (word-in-context input)."""
        sent = self.sentence_rows(lang)
        sent = sent[self.sentences.target[sent] >= 0]
        return self.sentences.word_offsets[sent] + self.sentences.target[sent], sent

    def info(self) -> dict[str, Any]:
        """Summary for ``interlingua info``."""
        attrs = self.attrs
        langs, counts = np.unique(self.sentences.lang.astype(str), return_counts=True)
        pids = self.sentences.pair_id
        layers = []
        for name in self.layers:
            entry: dict[str, Any] = {"name": name}
            for level in LEVELS:
                key = f"layers/{name}/{level}"
                if key in self._f:
                    entry[f"{level}_dim"] = int(self._f[key].shape[1])
                    entry[f"{level}_dtype"] = str(self._f[key].dtype)
            layers.append(entry)
        return {
            "path": str(self.path),
            "size_bytes": self.path.stat().st_size,
            **{k: v for k, v in attrs.items() if k not in ("chunk_rows", "compression")},
            "n_sentences": self.n_sentences,
            "n_words": self.n_words,
            "languages": {str(lang): int(c) for lang, c in zip(langs, counts)},
            "n_pair_ids": int(np.unique(pids[pids >= 0]).size),
            "n_targets": int((self.sentences.target >= 0).sum()),
            "layers": layers,
        }

    # -- lifecycle -----------------------------------------------------------------
    def close(self) -> None:
        if self._f.id.valid:
            self._f.close()

    def __enter__(self) -> ActivationStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "complete" if self._f.id.valid and self.complete else "incomplete"
        return f"ActivationStore({str(self.path)!r}, {state})"


def _open_h5(path: Path, mode: str) -> h5py.File:
    if not path.exists():
        raise StoreError(f"{path}: no such file")
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not an activation store")
    if not h5py.is_hdf5(str(path)):
        raise StoreError(f"{path} is not an HDF5 file (not an interlingua activation store)")
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        raise StoreError(
            f"{path} cannot be opened; the file is corrupt or truncated ({exc})"
        ) from None


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ActivationStore",
    "Layer",
    "SentenceRecord",
    "SentenceTable",
    "WordTable",
    "layer_sort_key",
]

