"""Corpus readers for extraction.

Formats (``format=`` / ``--format``):

``text``
    One sentence per line; words are the whitespace-separated tokens; the language is
    given (``lang=``). Scripts written without spaces (Chinese, Japanese, Thai) need
    pre-tokenized input.
``tokens``
    Pre-tokenized: one sentence per line, tokens separated by single ASCII spaces
    (other whitespace, e.g. NO-BREAK SPACE, stays inside a token). Two spaces in a row
    (an empty token) are an error.
``tsv`` / ``csv``
    A header row of language codes, then one translation pair (or tuple) per row;
    every cell is a sentence, and the row number (0-based, header excluded) becomes the
    ``pair_id`` shared by the row's sentences. TSV cells are split on tabs without
    quoting; CSV follows RFC 4180 quoting (cells may span lines).
``jsonl``
    One JSON object per line: ``text`` (str) or ``words`` (list of str), ``lang``
    (falls back to ``lang=``), optional ``pair_id`` (int), optional ``target`` (str or
    list of words: the target text of a sequence-to-sequence model, stored as its own
    sentence right after the source, sharing its pair id; ``target_lang`` gives its
    language), optional word-in-context flag ``word_index`` (int) or ``char_span``
    ([start, end), character offsets into ``text``) or ``target_word`` (a word that
    occurs exactly once).
``wic``
    Word in context: ``sentence<TAB>target[<TAB>lang]`` where ``target`` is a 0-based
    word index, a character span ``start:end`` (end exclusive), or the target word
    itself (which must occur exactly once in the sentence).

``auto`` picks by extension: ``.jsonl``/``.ndjson`` → jsonl, ``.tsv`` → tsv,
``.csv`` → csv, anything else → text.

Empty lines (or empty cells): ``empty="skip"`` (default) skips them and counts them in
:attr:`Corpus.n_skipped`; ``empty="error"`` raises. Input must be UTF-8 (a BOM is
accepted); anything else fails with the file and line, and so does a line holding a
NUL character or only invisible characters (e.g. zero-width spaces). All format errors
are :class:`~interlingua.core.errors.FormatError` naming ``file:line``.
"""

from __future__ import annotations

import csv
import difflib
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlingua.core.errors import FormatError, InputError
from interlingua.core.textio import iter_lines

FORMATS = ("auto", "text", "tokens", "tsv", "csv", "jsonl", "wic")
EMPTY_POLICIES = ("skip", "error")
_JSONL_KEYS = ("text", "words", "lang", "pair_id", "target", "target_lang", "word_index",
               "char_span", "target_word")
_LANG_RE = re.compile(r"^[A-Za-z0-9_.@+\-]+$")


@dataclass
class CorpusSentence:
    """One sentence to extract.

    Attributes
    ----------
    words : list of str
        Words (one activation row each).
    lang : str
        Language code.
    pair_id : int
        Same id = translations of each other; -1 = none.
    text : str, optional
        Original text (defaults to the words joined by spaces).
    target : int
        Index of a flagged word (word in context); -1 = none.
    source : list of str, optional
        For sequence-to-sequence models: the source sentence this sentence is the
        (teacher-forced) target of. ``None`` = the sentence is its own source.
    origin : str, optional
        Where the sentence was read (``file:line``), for error messages; not stored.
    """

    words: list[str]
    lang: str
    pair_id: int = -1
    text: str | None = None
    target: int = -1
    source: list[str] | None = None
    origin: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.words = [str(w) for w in self.words]
        if self.text is None:
            self.text = " ".join(self.words)

    def to_record(self):
        """The :class:`~interlingua.core.store.SentenceRecord` stored for this sentence."""
        from interlingua.core.store import SentenceRecord

        return SentenceRecord(words=list(self.words), lang=self.lang, pair_id=self.pair_id,
                              text=self.text, target=self.target)


@dataclass
class Corpus:
    """Sentences in corpus order plus what the reader skipped."""

    sentences: list[CorpusSentence]
    path: Path | None = None
    format: str = ""
    n_skipped: int = 0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sentences)

    def __iter__(self) -> Iterator[CorpusSentence]:
        return iter(self.sentences)

    def __getitem__(self, index: int) -> CorpusSentence:
        return self.sentences[index]

    @property
    def languages(self) -> list[str]:
        return sorted({s.lang for s in self.sentences})

    @property
    def n_words(self) -> int:
        return sum(len(s.words) for s in self.sentences)

    @classmethod
    def from_sentences(
        cls, sentences: Iterable[str | Sequence[str] | CorpusSentence], lang: str | None = None
    ) -> Corpus:
        """Build a corpus from strings (split on whitespace), word lists or sentences."""
        out: list[CorpusSentence] = []
        for i, item in enumerate(sentences):
            if isinstance(item, CorpusSentence):
                out.append(item)
                continue
            if lang is None:
                raise InputError("a language is needed for plain sentences (lang=...)")
            if isinstance(item, str):
                words = item.split()
                text: str | None = item.strip()
            else:
                words, text = [str(w) for w in item], None
            if not words:
                raise InputError(f"sentence {i} is empty")
            out.append(CorpusSentence(words=words, lang=_check_lang(lang), text=text))
        for i, sentence in enumerate(out):
            check_sentence_text(sentence, sentence.origin or f"sentence {i}")
        return cls(out, format="memory")


def _check_lang(lang: Any, where: str = "") -> str:
    if not isinstance(lang, str) or not _LANG_RE.match(lang):
        prefix = f"{where}: " if where else ""
        raise FormatError(f"{prefix}invalid language code {lang!r} (letters, digits, _-.@+)")
    return lang


def detect_format(path: str | os.PathLike) -> str:
    """Format name guessed from the file extension."""
    suffix = Path(path).suffix.lower()
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".tsv": "tsv", ".csv": "csv"}.get(
        suffix, "text"
    )


def read_corpus(
    path: str | os.PathLike,
    *,
    format: str = "auto",
    lang: str | None = None,
    empty: str = "skip",
) -> Corpus:
    """Read a corpus file (see the module docstring for the formats).

    Parameters
    ----------
    path : path-like
        UTF-8 text file.
    format : str
        One of :data:`FORMATS`.
    lang : str, optional
        Language of every sentence (text, tokens, wic) or the default for JSONL lines
        without ``lang``.
    empty : {"skip", "error"}
        What to do with empty lines / cells.

    Raises
    ------
    FormatError
        Malformed content (the message names ``file:line``), non-UTF-8 bytes.
    InputError
        Bad arguments (unknown format, missing language).
    """
    if format not in FORMATS:
        raise InputError(f"unknown corpus format {format!r}; choose from {', '.join(FORMATS)}")
    if empty not in EMPTY_POLICIES:
        raise InputError(f"empty must be one of {EMPTY_POLICIES}, got {empty!r}")
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    fmt = detect_format(path) if format == "auto" else format
    if lang is not None:
        lang = _check_lang(lang)
    if fmt in ("text", "tokens") and lang is None:
        raise InputError(f"the {fmt} format needs the language of the sentences (lang=/--lang)")
    reader = {"text": _read_lines, "tokens": _read_lines, "tsv": _read_table,
              "csv": _read_table, "jsonl": _read_jsonl, "wic": _read_wic}[fmt]
    corpus = Corpus([], path=path, format=fmt)
    reader(path, fmt, lang, empty, corpus)
    for sentence in corpus.sentences:
        check_sentence_text(sentence, sentence.origin or str(path))
    if not corpus.sentences:
        raise FormatError(f"{path}: no sentences found")
    return corpus


def _is_invisible(char: str) -> bool:
    """Whitespace, format (zero-width, BOM, bidi marks) or control characters."""
    return char.isspace() or unicodedata.category(char) in ("Cf", "Cc")


def check_sentence_text(sentence: CorpusSentence, where: str) -> None:
    """Reject text no extractor can use, before anything is written.

    Parameters
    ----------
    sentence : CorpusSentence
        The sentence to check (its words and text).
    where : str
        ``file:line`` (or ``sentence i``) for the message.

    Raises
    ------
    FormatError
        The sentence contains a NUL character (HDF5 strings cannot hold it), or has no
        visible character at all, e.g. only zero-width spaces (U+200B).
    """
    parts = [sentence.text or "", *sentence.words]
    if any("\x00" in part for part in parts):
        raise FormatError(
            f"{where}: contains a NUL byte (U+0000); remove it, e.g. with tr -d '\\000'"
        )
    if sentence.words and all(_is_invisible(c) for w in sentence.words for c in w):
        chars = sorted({c for w in sentence.words for c in w})
        shown = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in chars[:3])
        raise FormatError(
            f"{where}: no words after normalisation: the line holds only invisible "
            f"characters ({shown}{', ...' if len(chars) > 3 else ''}); delete the line "
            "or fix its text"
        )


def _empty(path: Path, number: int, empty: str, corpus: Corpus, what: str = "line") -> None:
    if empty == "error":
        raise FormatError(f"{path}:{number}: empty {what} (use empty='skip' / --empty skip)")
    corpus.n_skipped += 1


def _read_lines(path: Path, fmt: str, lang: str | None, empty: str, corpus: Corpus) -> None:
    assert lang is not None
    for number, line in iter_lines(path):
        if not line.strip():
            _empty(path, number, empty, corpus)
            continue
        if fmt == "text":
            words, text = line.split(), line.strip()
        else:
            content = line.strip("\r\n")
            words = content.split(" ")
            if any(w == "" for w in words):
                raise FormatError(
                    f"{path}:{number}: empty token (two spaces in a row, or a leading/trailing "
                    "space) in pre-tokenized input"
                )
            text = None
        corpus.sentences.append(CorpusSentence(words=words, lang=lang, text=text,
                                               origin=f"{path}:{number}"))


def _table_rows(path: Path, fmt: str) -> Iterator[tuple[int, list[str]]]:
    if fmt == "tsv":
        for number, line in iter_lines(path):
            yield number, line.split("\t")
        return
    lines = (line + "\n" for _, line in iter_lines(path))
    reader = csv.reader(lines)
    start = 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise FormatError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None


def _read_table(path: Path, fmt: str, lang: str | None, empty: str, corpus: Corpus) -> None:
    header: list[str] | None = None
    pair = 0
    for number, cells in _table_rows(path, fmt):
        if header is None:
            if not any(c.strip() for c in cells):
                continue  # leading blank lines before the header
            header = [c.strip() for c in cells]
            for c in header:
                _check_lang(c, f"{path}:{number} (header: one language code per column)")
            if len(set(header)) != len(header):
                raise FormatError(f"{path}:{number}: repeated language in the header {header}")
            continue
        if not any(c.strip() for c in cells):
            _empty(path, number, empty, corpus)
            continue
        if len(cells) != len(header):
            raise FormatError(
                f"{path}:{number}: {len(cells)} columns, but the header has {len(header)} "
                f"({', '.join(header)})"
            )
        for code, cell in zip(header, cells):
            if not cell.strip():
                _empty(path, number, empty, corpus, what=f"cell ({code})")
                continue
            corpus.sentences.append(
                CorpusSentence(words=cell.split(), lang=code, pair_id=pair, text=cell.strip(),
                               origin=f"{path}:{number} (column {code})")
            )
        pair += 1
    if header is None:
        raise FormatError(f"{path}: no header row (language codes) found")


def _word_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def span_to_word(text: str, start: int, end: int, where: str) -> int:
    """Index of the whitespace-separated word of ``text`` covering ``[start, end)``."""
    if not (0 <= start < end <= len(text)):
        raise FormatError(
            f"{where}: character span {start}:{end} outside the sentence (length {len(text)})"
        )
    hits = [i for i, (a, b) in enumerate(_word_spans(text)) if a < end and start < b]
    if len(hits) != 1:
        what = "no word" if not hits else f"{len(hits)} words"
        raise FormatError(f"{where}: character span {start}:{end} covers {what}; it must "
                          "lie inside exactly one word")
    return hits[0]


def _target_index(words: list[str], text: str, spec: Any, kind: str, where: str) -> int:
    if kind == "word_index":
        if isinstance(spec, bool) or not isinstance(spec, int):
            raise FormatError(f"{where}: word_index must be an integer, got {spec!r}")
        if not 0 <= spec < len(words):
            raise FormatError(
                f"{where}: word_index {spec} outside the sentence's {len(words)} words"
            )
        return spec
    if kind == "char_span":
        if (not isinstance(spec, (list, tuple)) or len(spec) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in spec)):
            raise FormatError(f"{where}: char_span must be [start, end], got {spec!r}")
        return span_to_word(text, spec[0], spec[1], where)
    # the target word itself
    hits = [i for i, w in enumerate(words) if w == spec]
    if len(hits) != 1:
        raise FormatError(
            f"{where}: target word {spec!r} occurs {len(hits)} times in the sentence; "
            "give its index or a character span instead"
        )
    return hits[0]


def _read_jsonl(path: Path, fmt: str, lang: str | None, empty: str, corpus: Corpus) -> None:
    for number, line in iter_lines(path):
        where = f"{path}:{number}"
        if not line.strip():
            _empty(path, number, empty, corpus)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FormatError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise FormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        for key in obj:
            if key not in _JSONL_KEYS:
                close = difflib.get_close_matches(key, _JSONL_KEYS, n=1)
                if close:
                    raise FormatError(f"{where}: unknown key {key!r}; did you mean {close[0]!r}?")
        words, text = _jsonl_words(obj, "text", "words", where)
        if not words:
            _empty(path, number, empty, corpus, what="sentence")
            continue
        code = _check_lang(obj.get("lang", lang), where) if obj.get("lang", lang) is not None \
            else None
        if code is None:
            raise FormatError(f"{where}: no 'lang' and no default language (lang=/--lang)")
        pair_id = obj.get("pair_id", -1)
        if isinstance(pair_id, bool) or not isinstance(pair_id, int) or pair_id < -1:
            raise FormatError(f"{where}: pair_id must be an integer >= -1, got {pair_id!r}")
        flags = [k for k in ("word_index", "char_span", "target_word") if k in obj]
        if len(flags) > 1:
            raise FormatError(f"{where}: give only one of word_index, char_span, target_word")
        flagged = -1
        if flags:
            flagged = _target_index(words, text or " ".join(words), obj[flags[0]], flags[0],
                                    where)
        source = CorpusSentence(words=words, lang=code, pair_id=pair_id, text=text,
                                target=flagged, origin=where)
        if "target" in obj:
            if source.pair_id == -1:
                # Source and target must share a pair id; the line index is unique per file.
                source.pair_id = number - 1
            corpus.sentences.append(source)
            twords, ttext = _jsonl_words(obj, "target", "target", where)
            if not twords:
                raise FormatError(f"{where}: empty target")
            tlang = _check_lang(obj.get("target_lang", code), where)
            corpus.sentences.append(CorpusSentence(words=twords, lang=tlang,
                                                   pair_id=source.pair_id, text=ttext,
                                                   source=list(words),
                                                   origin=f"{where} (target)"))
        else:
            if "target_lang" in obj:
                raise FormatError(f"{where}: target_lang without target")
            corpus.sentences.append(source)


def _jsonl_words(obj: dict, text_key: str, words_key: str, where: str
                 ) -> tuple[list[str], str | None]:
    if text_key == "text" and "text" in obj and "words" in obj:
        raise FormatError(f"{where}: give either 'text' or 'words', not both")
    key = text_key if text_key in obj else words_key
    if key not in obj:
        raise FormatError(f"{where}: missing '{text_key}'" +
                          (f" (or '{words_key}')" if words_key != text_key else ""))
    value = obj[key]
    if isinstance(value, str):
        return value.split(), value.strip()
    if isinstance(value, list) and all(isinstance(w, str) for w in value):
        if any(not w or w != w.strip() or any(c.isspace() for c in w) for w in value):
            raise FormatError(f"{where}: '{key}' words must be non-empty and contain no spaces")
        return list(value), None
    raise FormatError(f"{where}: '{key}' must be a string or a list of strings")


def _read_wic(path: Path, fmt: str, lang: str | None, empty: str, corpus: Corpus) -> None:
    for number, line in iter_lines(path):
        where = f"{path}:{number}"
        if not line.strip():
            _empty(path, number, empty, corpus)
            continue
        cells = line.split("\t")
        if len(cells) not in (2, 3):
            raise FormatError(f"{where}: expected 'sentence<TAB>target[<TAB>lang]', "
                              f"got {len(cells)} column(s)")
        text = cells[0].strip()
        words = text.split()
        if not words:
            _empty(path, number, empty, corpus, what="sentence")
            continue
        code = cells[2].strip() if len(cells) == 3 else lang
        if code is None:
            raise FormatError(f"{where}: no language column and no default language (--lang)")
        code = _check_lang(code, where)
        spec = cells[1].strip()
        if re.fullmatch(r"-?\d+", spec):
            index = _target_index(words, text, int(spec), "word_index", where)
        elif re.fullmatch(r"\d+:\d+", spec):
            a, b = (int(v) for v in spec.split(":"))
            index = span_to_word(text, a, b, where)
        elif spec:
            index = _target_index(words, text, spec, "target_word", where)
        else:
            raise FormatError(f"{where}: empty target column")
        corpus.sentences.append(CorpusSentence(words=words, lang=code, text=text, target=index,
                                               origin=where))


def as_corpus(
    corpus: Any, *, lang: str | None = None, format: str = "auto", empty: str = "skip"
) -> Corpus:
    """Accept a :class:`Corpus`, a path, or a sequence of sentences and return a Corpus."""
    if isinstance(corpus, Corpus):
        return corpus
    if isinstance(corpus, (str, os.PathLike)):
        return read_corpus(corpus, format=format, lang=lang, empty=empty)
    if isinstance(corpus, Iterable):
        items = []
        for item in corpus:
            if hasattr(item, "words") and hasattr(item, "lang") and not isinstance(
                item, CorpusSentence
            ):  # a SentenceRecord
                item = CorpusSentence(words=list(item.words), lang=item.lang,
                                      pair_id=item.pair_id, text=item.text,
                                      target=getattr(item, "target", -1))
            items.append(item)
        return Corpus.from_sentences(items, lang=lang)
    raise InputError(f"cannot read a corpus from {type(corpus).__name__}")


__all__ = [
    "EMPTY_POLICIES",
    "FORMATS",
    "Corpus",
    "CorpusSentence",
    "as_corpus",
    "check_sentence_text",
    "detect_format",
    "read_corpus",
    "span_to_word",
]
