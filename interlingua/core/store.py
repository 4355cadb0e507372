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

This module is the top of the store modules: it imports the format constants
(:mod:`.store_format`, re-exported here), the read views (:mod:`.store_views`) and
the partial directory (:mod:`.store_partial`); the writer is imported when a write
starts. None of those imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from interlingua.core.errors import InputError, StoreError
from interlingua.core.store_format import (
    FORMAT,
    FORMAT_VERSION,
    LEVELS,
    SENTENCE_FIELDS,
    STR_DTYPE,
    WORD_FIELDS,
    SentenceRecord,
    layer_sort_key,
    open_h5,
)
from interlingua.core.store_partial import partial_dir, read_manifest
from interlingua.core.store_views import Layer, SentenceTable, WordTable

if TYPE_CHECKING:
    from interlingua.core.store_writer import StoreWriter

# Names kept for code that imported them from here before store_format existed.
_STR, _open_h5 = STR_DTYPE, open_h5
_SENTENCE_FIELDS, _WORD_FIELDS = SENTENCE_FIELDS, WORD_FIELDS


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

            if partial_dir(path).is_dir():
                read_manifest(path)
                holder = lock_holder(path)
                if holder is not None:
                    raise StoreError(busy_message(path, holder))
                raise StoreError(
                    f"{path} is incomplete: its writing was interrupted (partial data in "
                    f"{partial_dir(path)}); resume the extraction (--resume) to finish it"
                )
        handle = open_h5(path, "r")
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
        for group, fields in (("sentences", SENTENCE_FIELDS), ("words", WORD_FIELDS)):
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


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LEVELS",
    "ActivationStore",
    "Layer",
    "SentenceRecord",
    "SentenceTable",
    "WordTable",
    "layer_sort_key",
]

