"""Sentences to extract: :class:`CorpusSentence`, :class:`Corpus` and the checks every
sentence passes before anything is written (language codes, NUL bytes, invisible text).
The file formats are read by :mod:`interlingua.plugins.extraction.corpus`."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlingua.core.errors import FormatError, InputError

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
            out.append(CorpusSentence(words=words, lang=check_lang(lang), text=text))
        for i, sentence in enumerate(out):
            check_sentence_text(sentence, sentence.origin or f"sentence {i}")
        return cls(out, format="memory")


def check_lang(lang: Any, where: str = "") -> str:
    """``lang`` if it is a valid language code (letters, digits, ``_-.@+``).

    Raises
    ------
    FormatError
        Naming ``where`` (e.g. ``file:line``).
    """
    if not isinstance(lang, str) or not _LANG_RE.match(lang):
        prefix = f"{where}: " if where else ""
        raise FormatError(f"{prefix}invalid language code {lang!r} (letters, digits, _-.@+)")
    return lang


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


__all__ = ["Corpus", "CorpusSentence", "check_lang", "check_sentence_text"]
