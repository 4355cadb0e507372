"""Readers of the corpus file formats (documented in
:mod:`interlingua.plugins.extraction.corpus`): plain and pre-tokenized text, TSV/CSV
translation tables, JSONL (with sequence-to-sequence targets and word-in-context flags)
and word-in-context lines. Each reader appends to a :class:`Corpus` and raises
:class:`~interlingua.core.errors.FormatError` naming ``file:line``."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from interlingua.core.errors import FormatError
from interlingua.core.suggest import closest, did_you_mean
from interlingua.core.textio import iter_lines
from interlingua.plugins.extraction.sentences import Corpus, CorpusSentence, check_lang

_JSONL_KEYS = ("text", "words", "lang", "pair_id", "target", "target_lang", "word_index",
               "char_span", "target_word")


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
                check_lang(c, f"{path}:{number} (header: one language code per column)")
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
    """Index of the whitespace-separated word of ``text`` covering ``[start, end)``.

    Parameters
    ----------
    text : str
        The sentence.
    start, end : int
        Character offsets (end exclusive).
    where : str
        ``file:line`` for the message.

    Raises
    ------
    FormatError
        The span is outside the text or does not lie inside exactly one word.
    """
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
                if closest(key, _JSONL_KEYS):
                    raise FormatError(f"{where}: unknown key {key!r}"
                                      f"{did_you_mean(key, _JSONL_KEYS)}")
        words, text = _jsonl_words(obj, "text", "words", where)
        if not words:
            _empty(path, number, empty, corpus, what="sentence")
            continue
        code = check_lang(obj.get("lang", lang), where) if obj.get("lang", lang) is not None \
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
            tlang = check_lang(obj.get("target_lang", code), where)
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
        code = check_lang(code, where)
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


#: A reader: ``(path, format, default language, empty policy, corpus to fill)``.
Reader = Callable[[Path, str, "str | None", str, Corpus], None]

#: Format name -> reader.
READERS: dict[str, Reader] = {"text": _read_lines, "tokens": _read_lines, "tsv": _read_table,
                              "csv": _read_table, "jsonl": _read_jsonl, "wic": _read_wic}

__all__ = ["READERS", "Reader", "span_to_word"]
