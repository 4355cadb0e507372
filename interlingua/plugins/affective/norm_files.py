"""Affective norms from CSV/TSV files (seed 003 §4.1).

:func:`load_norms` reads a file with a header, a word column and one or more numeric
rating columns (valence, arousal, ...), optionally a language column, and returns a
:class:`~interlingua.plugins.affective.norm_table.Norms` table, min-max normalised per
column (and language). Malformed files are refused with ``file:line``.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from interlingua.core.errors import FormatError, InputError
from interlingua.core.suggest import did_you_mean
from interlingua.plugins.affective.norm_table import Norms, make_norms

_MISSING_TOKENS = {"", "na", "nan", "n/a", "--", "-", "null", "none"}


def open_text(path: Path) -> io.TextIOBase:
    """A UTF-8 text handle (BOM stripped, newlines kept) of a plain or ``.gz`` file."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _find_column(header: list[str], wanted: str, path: Path, what: str) -> int:
    low = [h.strip().casefold() for h in header]
    key = wanted.strip().casefold()
    if key in low:
        return low.index(key)
    raise FormatError(
        f"{path}:1: no {what} column {wanted!r}; header has: {', '.join(h for h in header if h)}"
        + did_you_mean(wanted.strip(), [h.strip() for h in header if h.strip()])
    )


def load_norms(
    path: str | os.PathLike,
    *,
    word_column: str = "word",
    columns: Sequence[str] | None = None,
    lang_column: str | None = None,
    rename: dict[str, str] | None = None,
    normalize: bool = True,
    delimiter: str | None = None,
) -> Norms:
    """Read affective norms from a CSV or TSV file.

    Parameters
    ----------
    path : path-like
        ``.csv`` / ``.tsv`` / ``.txt`` (optionally ``.gz``); the first line is a header.
    word_column : str
        Name of the word column (case-insensitive).
    columns : sequence of str, optional
        Rating columns to keep (case-insensitive); default: every column other than
        the word/language columns whose non-missing cells are all numeric.
    lang_column : str, optional
        Column holding a language code per row (several languages in one file).
    rename : dict, optional
        New names for rating columns, e.g. ``{"V.Mean.Sum": "valence"}``.
    normalize : bool
        Min-max normalise each column to [0, 1] (per language when ``lang_column``).
    delimiter : str, optional
        Field separator; default: tab for ``.tsv``/``.txt``, otherwise sniffed
        between comma, tab and semicolon.

    Raises
    ------
    FormatError
        Missing columns, ragged rows, non-numeric ratings or conflicting duplicate
        words, with ``file:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"norms file not found: {path}")
    with open_text(path) as fh:
        text = fh.read()
    if not text.strip():
        raise FormatError(f"{path}: empty norms file")
    stem_suffix = path.suffixes[-2] if path.suffix == ".gz" and len(path.suffixes) > 1 else (
        path.suffix
    )
    if delimiter is None:
        if stem_suffix in (".tsv", ".tab", ".txt"):
            delimiter = "\t"
        else:
            first = text.splitlines()[0]
            delimiter = max((",", "\t", ";"), key=first.count)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    wi = _find_column(header, word_column, path, "word")
    li = _find_column(header, lang_column, path, "language") if lang_column else None
    data = [(n + 2, r) for n, r in enumerate(rows[1:]) if any(c.strip() for c in r)]
    for lineno, r in data:
        if len(r) != len(header):
            raise FormatError(
                f"{path}:{lineno}: expected {len(header)} fields like the header, got {len(r)}"
            )
    if columns is None:
        idx = [
            i for i in range(len(header))
            if i not in (wi, li) and header[i] and _all_numeric(r[i] for _, r in data)
        ]
        if not idx:
            raise FormatError(f"{path}:1: no numeric rating column found in {header}")
    else:
        idx = [_find_column(header, c, path, "rating") for c in columns]
    names = [(rename or {}).get(header[i], header[i]) for i in idx]

    words: list[str] = []
    langs: list[str] | None = [] if li is not None else None
    values = np.full((len(data), len(idx)), np.nan)
    seen: dict[tuple[str | None, str], int] = {}
    for row_i, (lineno, r) in enumerate(data):
        word = r[wi].strip()
        if not word:
            raise FormatError(f"{path}:{lineno}: empty word")
        lang = r[li].strip() if li is not None else None
        for j, i in enumerate(idx):
            cell = r[i].strip()
            if cell.casefold() in _MISSING_TOKENS:
                continue
            try:
                values[row_i, j] = float(cell)
            except ValueError:
                raise FormatError(
                    f"{path}:{lineno}: column {header[i]!r} has a non-numeric rating {cell!r}"
                ) from None
            if not math.isfinite(values[row_i, j]):
                raise FormatError(f"{path}:{lineno}: column {header[i]!r} is not finite")
        key = (lang, word)
        if key in seen:
            first = seen[key]
            same = np.array_equal(values[first], values[row_i], equal_nan=True)
            if not same:
                raise FormatError(
                    f"{path}:{lineno}: word {word!r} already rated differently on line "
                    f"{data[first][0]}"
                )
        seen.setdefault(key, row_i)
        words.append(word)
        if langs is not None:
            langs.append(lang or "")
    # identical duplicate rows are harmless: keep the first
    keep = sorted(set(seen.values()))
    words = [words[i] for i in keep]
    langs = [langs[i] for i in keep] if langs is not None else None
    values = values[keep]
    return make_norms(words, langs, names, values, str(path), normalize)


def _all_numeric(cells: Iterable[str]) -> bool:
    any_value = False
    for cell in cells:
        cell = cell.strip()
        if cell.casefold() in _MISSING_TOKENS:
            continue
        try:
            float(cell)
        except ValueError:
            return False
        any_value = True
    return any_value


__all__ = ["load_norms", "open_text"]
