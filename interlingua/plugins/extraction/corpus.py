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

This module holds the entry points (:func:`read_corpus`, :func:`as_corpus`); the
sentence types and their checks are in :mod:`~interlingua.plugins.extraction.sentences`,
the per-format readers in :mod:`~interlingua.plugins.extraction.corpus_formats` (all
re-exported here).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from interlingua.core.errors import FormatError, InputError
from interlingua.plugins.extraction.corpus_formats import READERS, span_to_word
from interlingua.plugins.extraction.sentences import (
    Corpus,
    CorpusSentence,
    check_lang,
    check_sentence_text,
)

FORMATS = ("auto", "text", "tokens", "tsv", "csv", "jsonl", "wic")
EMPTY_POLICIES = ("skip", "error")


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
        lang = check_lang(lang)
    if fmt in ("text", "tokens") and lang is None:
        raise InputError(f"the {fmt} format needs the language of the sentences (lang=/--lang)")
    reader = READERS[fmt]
    corpus = Corpus([], path=path, format=fmt)
    reader(path, fmt, lang, empty, corpus)
    for sentence in corpus.sentences:
        check_sentence_text(sentence, sentence.origin or str(path))
    if not corpus.sentences:
        raise FormatError(f"{path}: no sentences found")
    return corpus


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
