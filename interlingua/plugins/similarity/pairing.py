"""Which rows of two activation stores (or two languages of one) pair up.

A layer-wise comparison (:mod:`~interlingua.plugins.similarity.compare`) reads the same
paired rows at every layer; this module works them out once, from the sentence table:

* two languages of one parallel store: sentences paired by ``pair_id``; at word level
  the flagged *target* word of each paired sentence (``SentenceRecord.target``);
* two stores without languages: row i of A with row i of B;
* two stores with languages: sentences paired by ``pair_id`` (by position when they
  carry none); words word by word where the paired sentences have identical words,
  otherwise the target words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError, StoreError
from interlingua.core.suggest import did_you_mean

__all__ = ["LEVELS", "Pairing", "has_level", "open_store", "pair_rows", "read_paired"]

#: Row levels of a store that can be compared.
LEVELS = ("sentences", "words")


@dataclass
class Pairing:
    """Which rows of store A pair with which rows of store B at one level.

    ``rows_a`` / ``rows_b`` are row indices at ``level`` (``None`` = all rows in order).
    """

    path_a: Path
    path_b: Path
    level: str
    rows_a: np.ndarray | None
    rows_b: np.ndarray | None
    n: int
    how: str
    lang_a: str | None = None
    lang_b: str | None = None


def open_store(store: Any) -> tuple[Any, bool]:
    """``(store, opened_here)`` for a path or an open ActivationStore."""
    from interlingua.core.store import ActivationStore

    if isinstance(store, ActivationStore):
        return store, False
    return ActivationStore.open(store), True


def _pair_by_id(pid_a: np.ndarray, pid_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep_a, keep_b = pid_a >= 0, pid_b >= 0
    ia_all, ib_all = np.flatnonzero(keep_a), np.flatnonzero(keep_b)
    for pid, name in ((pid_a[keep_a], "A"), (pid_b[keep_b], "B")):
        u, c = np.unique(pid, return_counts=True)
        if (c > 1).any():
            raise InputError(f"pair id {u[c > 1][0]} occurs more than once in store {name}")
    _, ia, ib = np.intersect1d(pid_a[keep_a], pid_b[keep_b], assume_unique=True,
                               return_indices=True)
    return ia_all[ia], ib_all[ib]


def _target_pairs(st_a, sa: np.ndarray, st_b, sb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ta = st_a.sentences.target[sa]
    tb = st_b.sentences.target[sb]
    keep = (ta >= 0) & (tb >= 0)
    if not keep.any():
        raise InputError(
            "word-level comparison of two languages pairs the flagged target word of each "
            "parallel sentence (SentenceRecord.target), but no parallel pair has targets in "
            "both languages; compare at --level sentences, or store target words"
        )
    sa, sb = sa[keep], sb[keep]
    wa = st_a.sentences.word_offsets[sa] + st_a.sentences.target[sa]
    wb = st_b.sentences.word_offsets[sb] + st_b.sentences.target[sb]
    return wa, wb


def pair_rows(
    store_a: Any,
    store_b: Any = None,
    *,
    lang_a: str | None = None,
    lang_b: str | None = None,
    level: str = "sentences",
) -> Pairing:
    """Work out the paired rows of a comparison (see the module docstring).

    * one store: ``lang_a`` and ``lang_b`` (default: its two languages, if it has
      exactly two) → parallel sentences by ``pair_id``; words → target words.
    * two stores, no languages: row i of A with row i of B (same number of rows).
    * two stores with ``lang_a`` (``lang_b`` defaults to ``lang_a``): sentences of
      those languages paired by ``pair_id`` (by position if they carry no pair ids);
      words → word by word where the paired sentences have identical words,
      otherwise the flagged target words.

    Parameters
    ----------
    store_a, store_b : path or ActivationStore
        One store (two of its languages) or two stores.
    lang_a, lang_b : str, optional
        Languages of the two sides.
    level : {"sentences", "words"}
        Row level.

    Returns
    -------
    Pairing
        Paired row indices (or ``None`` = all rows in order), their number and how
        they were paired.
    """
    if level not in LEVELS:
        raise InputError(f"level must be 'sentences' or 'words', got {level!r}"
                         + did_you_mean(level, LEVELS))
    st_a, close_a = open_store(store_a)
    st_b, close_b = (st_a, False) if store_b is None else open_store(store_b)
    try:
        if store_b is None:
            if lang_a is None and lang_b is None:
                langs = st_a.languages
                if len(langs) != 2:
                    raise InputError(
                        f"{st_a.path.name} has languages {', '.join(langs) or 'none'}; "
                        "choose two with lang_a / lang_b (--lang-a / --lang-b)"
                    )
                lang_a, lang_b = langs
            if lang_a is None or lang_b is None:
                raise InputError("comparing languages of one store needs both lang_a and lang_b")
            if lang_a == lang_b:
                raise InputError(f"lang_a and lang_b are both {lang_a!r}")
            sa, sb = st_a.parallel_rows(lang_a, lang_b)
            if level == "sentences":
                return Pairing(st_a.path, st_a.path, level, sa, sb, len(sa), "pair_id",
                               lang_a, lang_b)
            wa, wb = _target_pairs(st_a, sa, st_a, sb)
            return Pairing(st_a.path, st_a.path, level, wa, wb, len(wa), "target words",
                           lang_a, lang_b)
        # two stores
        if lang_a is None and lang_b is None:
            na = st_a.n_sentences if level == "sentences" else st_a.n_words
            nb = st_b.n_sentences if level == "sentences" else st_b.n_words
            if na != nb:
                raise InputError(
                    f"the stores have {na} and {nb} {level}; row-by-row comparison needs "
                    "equal counts (or give --lang-a/--lang-b to pair by pair_id)"
                )
            return Pairing(st_a.path, st_b.path, level, None, None, na, "row order")
        lang_b = lang_b or lang_a
        lang_a = lang_a or lang_b
        ra, rb = st_a.sentence_rows(lang_a), st_b.sentence_rows(lang_b)
        pid_a, pid_b = st_a.sentences.pair_id[ra], st_b.sentences.pair_id[rb]
        if (pid_a >= 0).all() and (pid_b >= 0).all():
            ia, ib = _pair_by_id(pid_a, pid_b)
            sa, sb, how = ra[ia], rb[ib], "pair_id"
        else:
            if len(ra) != len(rb):
                raise InputError(
                    f"{len(ra)} {lang_a!r} sentences in A but {len(rb)} {lang_b!r} in B and "
                    "no pair ids to match them"
                )
            sa, sb, how = ra, rb, "sentence order"
        if len(sa) == 0:
            raise InputError("no paired sentences between the two stores")
        if level == "sentences":
            return Pairing(st_a.path, st_b.path, level, sa, sb, len(sa), how, lang_a, lang_b)
        wa = st_a.word_rows(sentence_rows=sa)
        wb = st_b.word_rows(sentence_rows=sb)
        if len(wa) == len(wb) and np.array_equal(st_a.words.text[wa], st_b.words.text[wb]):
            return Pairing(st_a.path, st_b.path, level, wa, wb, len(wa),
                           f"{how}, word by word", lang_a, lang_b)
        wa, wb = _target_pairs(st_a, sa, st_b, sb)
        return Pairing(st_a.path, st_b.path, level, wa, wb, len(wa), f"{how}, target words",
                       lang_a, lang_b)
    finally:
        if close_a:
            st_a.close()
        if close_b:
            st_b.close()


def has_level(store: Any, name: str, level: str) -> bool:
    """Whether layer ``name`` of ``store`` has ``level`` activations."""
    try:
        store.layer(name, level)
    except StoreError:
        return False
    return True


def read_paired(layer: Any, rows: np.ndarray | None, n: int,
                subset: np.ndarray | None = None) -> np.ndarray:
    """Float64 rows of one side of a pairing, in pairing order (all ``n``, or the
    positions ``subset``): the whole-matrix read of metrics without an accumulator."""
    if rows is None:
        index = subset if subset is not None else None
    else:
        index = rows if subset is None else rows[subset]
    data = layer.read(index) if index is not None else layer[:n]
    return np.asarray(data, dtype=np.float64)
