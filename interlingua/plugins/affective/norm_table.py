"""The norms table (seed 003 §4.1): :class:`Norms` holds word ratings for one or more
variables, optionally per language; :meth:`Norms.lookup` maps target words to ratings
and *reports* the words without one (callers decide whether that is an error or a
documented drop). :func:`make_norms` builds a table from rating columns, min-max
normalised to [0, 1] per column (and language): the norms of seed 003 use different
Likert scales."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.suggest import did_you_mean


@dataclass
class NormLookup:
    """Ratings for a sequence of words, with the words that had none.

    Attributes
    ----------
    values : ndarray of float64
        One rating per input word; NaN where the word has no rating.
    missing : list of str
        Distinct words without a rating, in first-seen order.
    n_missing_rows : int
        How many input positions have no rating.
    """

    values: np.ndarray
    missing: list[str]
    n_missing_rows: int

    @property
    def found(self) -> np.ndarray:
        """Boolean mask of the positions that have a rating."""
        return ~np.isnan(self.values)


@dataclass
class Norms:
    """Word ratings for one or more variables, optionally per language.

    Attributes
    ----------
    words : list of str
        One entry per rated word (per language).
    ratings : dict of str -> ndarray
        Column name -> ratings aligned with ``words`` (NaN = not rated).
    langs : list of str or None
        Language of each entry, or ``None`` when the norms are language-neutral.
    source : str
        Where the norms came from (path or package file).
    normalized : bool
        Whether ratings were min-max normalised to [0, 1].
    raw_range : dict
        Column (and language) -> (min, max) of the raw ratings.
    glosses : list of str or None
        English translations (labMT), when the source has them.
    """

    words: list[str]
    ratings: dict[str, np.ndarray]
    langs: list[str] | None = None
    source: str = ""
    normalized: bool = False
    raw_range: dict[str, tuple[float, float]] = field(default_factory=dict)
    glosses: list[str] | None = None

    def __len__(self) -> int:
        return len(self.words)

    @property
    def columns(self) -> list[str]:
        """Names of the rating columns."""
        return list(self.ratings)

    @property
    def languages(self) -> list[str]:
        """Sorted language codes (empty for language-neutral norms)."""
        return sorted(set(self.langs)) if self.langs is not None else []

    def _check_column(self, column: str) -> np.ndarray:
        if column not in self.ratings:
            raise InputError(
                f"norms from {self.source or 'memory'} have no column {column!r} "
                f"(columns: {', '.join(self.columns)}){did_you_mean(column, self.columns)}"
            )
        return self.ratings[column]

    def mapping(
        self, column: str, lang: str | None = None, *, casefold: bool = False
    ) -> dict[str, float]:
        """``{word: rating}`` for one column (and language, when the norms have one).

        With ``casefold=True`` keys are case-folded; when two entries fold to the same
        key (Warriner has both "aids" and "AIDS") the first in file order wins.
        """
        values = self._check_column(column)
        out: dict[str, float] = {}
        for i, word in enumerate(self.words):
            if self.langs is not None and lang is not None and self.langs[i] != lang:
                continue
            v = values[i]
            if not math.isnan(v):
                out.setdefault(word.casefold() if casefold else word, float(v))
        return out

    def lookup(
        self,
        words: Iterable[str],
        column: str,
        *,
        lang: str | None = None,
        casefold: bool = True,
    ) -> NormLookup:
        """Ratings of ``words`` (NaN where missing) and the words without a rating.

        A word matches its exact entry first (after stripping whitespace); with
        ``casefold=True`` it then falls back to a case-insensitive match, so a
        sentence-initial "Love" finds "love".
        """
        exact = self.mapping(column, lang)
        folded = self.mapping(column, lang, casefold=True) if casefold else {}
        words = list(words)
        values = np.full(len(words), np.nan)
        missing: dict[str, None] = {}
        for i, word in enumerate(words):
            key = str(word).strip()
            v = exact.get(key)
            if v is None and casefold:
                v = folded.get(key.casefold())
            if v is None:
                missing[str(word)] = None
            else:
                values[i] = v
        return NormLookup(values, list(missing), int(np.isnan(values).sum()))

    def subset(self, lang: str) -> Norms:
        """The entries of one language."""
        if self.langs is None:
            return self
        keep = [i for i, lg in enumerate(self.langs) if lg == lang]
        if not keep:
            raise InputError(f"norms have no entries for language {lang!r}"
                             + did_you_mean(lang, self.languages))
        return Norms(
            words=[self.words[i] for i in keep],
            ratings={c: v[keep] for c, v in self.ratings.items()},
            langs=[lang] * len(keep),
            source=self.source,
            normalized=self.normalized,
            raw_range=self.raw_range,
            glosses=[self.glosses[i] for i in keep] if self.glosses else None,
        )


def minmax(values: np.ndarray, name: str = "ratings") -> tuple[np.ndarray, float, float]:
    """Min-max normalise to [0, 1], ignoring NaN; constant columns are an error."""
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        raise InputError(f"{name}: no ratings to normalise")
    lo, hi = float(finite.min()), float(finite.max())
    if hi == lo:
        raise InputError(f"{name}: all ratings are equal ({lo}); cannot min-max normalise")
    return (values - lo) / (hi - lo), lo, hi


def make_norms(
    words: list[str],
    langs: list[str] | None,
    names: list[str],
    values: np.ndarray,
    source: str,
    normalize: bool,
    glosses: list[str] | None = None,
) -> Norms:
    """A :class:`Norms` table from rating columns.

    Parameters
    ----------
    words : list of str
        One entry per rated word (per language).
    langs : list of str or None
        Language of each entry, or ``None`` for language-neutral norms.
    names : list of str
        Column names, one per column of ``values``.
    values : ndarray, shape (n_words, n_columns)
        Raw ratings (NaN = not rated).
    source : str
        Where the norms came from (for messages and ``Norms.source``).
    normalize : bool
        Min-max normalise each column to [0, 1], per language when ``langs`` is given
        (the raw ranges go to ``Norms.raw_range``).
    glosses : list of str, optional
        English translations of the words.
    """
    ratings: dict[str, np.ndarray] = {}
    raw_range: dict[str, tuple[float, float]] = {}
    for j, name in enumerate(names):
        col = values[:, j].astype(np.float64)
        if normalize:
            if langs is None:
                col, lo, hi = minmax(col, f"{source}: column {name!r}")
                raw_range[name] = (lo, hi)
            else:
                lang_arr = np.asarray(langs)
                for lang in sorted(set(langs)):
                    sel = lang_arr == lang
                    col[sel], lo, hi = minmax(col[sel], f"{source}: column {name!r} ({lang})")
                    raw_range[f"{name}[{lang}]"] = (lo, hi)
        ratings[name] = col
    return Norms(words, ratings, langs, source, normalize, raw_range, glosses)


__all__ = ["NormLookup", "Norms", "make_norms", "minmax"]
