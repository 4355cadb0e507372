"""Latent concepts: clusters of word occurrences (seed 000 §2.1).

A concept is the set of word types (with their language) whose occurrences fall into
one cluster of a layer's token representations.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import FormatError, InputError
from interlingua.core.outputs import atomic_write_text

FORMAT = "interlingua-concepts"


@dataclass(frozen=True)
class Concept:
    """One latent concept.

    Attributes
    ----------
    id : int
        Cluster label.
    counts : Mapping[tuple[str, str | None], int]
        Occurrences per word type, keyed by ``(word, language)``.
    """

    id: int
    counts: Mapping[tuple[str, str | None], int]

    @property
    def types(self) -> frozenset[str]:
        """Distinct word strings (all languages)."""
        return frozenset(word for word, _ in self.counts)

    @property
    def n_types(self) -> int:
        """Number of distinct ``(word, language)`` types."""
        return len(self.counts)

    @property
    def n_occurrences(self) -> int:
        return int(sum(self.counts.values()))

    def words(self, language: str | None = None) -> frozenset[str]:
        """Word types of one language (all languages when ``None``)."""
        if language is None:
            return self.types
        return frozenset(word for word, lang in self.counts if lang == language)

    @property
    def language_counts(self) -> dict[str | None, int]:
        """Occurrences (tokens) per language."""
        out: Counter = Counter()
        for (_, lang), count in self.counts.items():
            out[lang] += count
        return dict(out)

    @property
    def language_shares(self) -> dict[str | None, float]:
        """Fraction of this concept's occurrences contributed by each language."""
        total = self.n_occurrences
        return {lang: c / total for lang, c in self.language_counts.items()}


class Concepts(Mapping[int, Concept]):
    """All concepts of one clustering, plus the occurrence-level labels behind them.

    Build with :meth:`from_labels`; index by concept id; iterate over ids.
    """

    def __init__(
        self,
        words: np.ndarray,
        labels: np.ndarray,
        languages: np.ndarray | None,
    ) -> None:
        self.words = words
        self.labels = labels
        self.languages_of_occurrences = languages
        self._concepts: dict[int, Concept] | None = None

    @classmethod
    def from_labels(
        cls,
        words: Iterable[str],
        labels: Iterable[int],
        languages: Iterable[str] | None = None,
    ) -> Concepts:
        """Group word occurrences by cluster label.

        Parameters
        ----------
        words : iterable of str
            The word of each clustered occurrence.
        labels : iterable of int
            Cluster id of each occurrence (same length).
        languages : iterable of str, optional
            Language of each occurrence (needed for COLAP and per-language views).
        """
        words_arr = np.asarray(list(words), dtype=object)
        try:
            labels_arr = np.asarray(list(labels))
        except (TypeError, ValueError) as exc:
            raise InputError(f"labels: {exc}") from None
        if labels_arr.ndim != 1 or (
            labels_arr.size and not np.issubdtype(labels_arr.dtype, np.integer)
        ):
            raise InputError("labels must be a 1-D sequence of integer cluster ids")
        labels_arr = labels_arr.astype(np.int64)
        if words_arr.shape[0] != labels_arr.shape[0]:
            raise InputError(
                f"words and labels differ in length: {words_arr.shape[0]} vs {labels_arr.shape[0]}"
            )
        if words_arr.size == 0:
            raise InputError("no occurrences: words and labels are empty")
        langs_arr = None
        if languages is not None:
            langs_arr = np.asarray(list(languages), dtype=object)
            if langs_arr.shape[0] != words_arr.shape[0]:
                raise InputError(
                    f"languages has {langs_arr.shape[0]} entries for {words_arr.shape[0]} words"
                )
        return cls(words_arr, labels_arr, langs_arr)

    def _build(self) -> dict[int, Concept]:
        if self._concepts is None:
            grouped: dict[int, Counter] = {}
            langs = (
                self.languages_of_occurrences
                if self.languages_of_occurrences is not None
                else [None] * len(self.words)
            )
            for word, lang, label in zip(self.words, langs, self.labels.tolist()):
                grouped.setdefault(label, Counter())[(str(word), lang)] += 1
            self._concepts = {
                cid: Concept(cid, dict(counter)) for cid, counter in sorted(grouped.items())
            }
        return self._concepts

    def __getitem__(self, cid: int) -> Concept:
        try:
            return self._build()[cid]
        except KeyError:
            raise KeyError(f"no concept with id {cid}") from None

    def __iter__(self) -> Iterator[int]:
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())

    @property
    def languages(self) -> list[str]:
        if self.languages_of_occurrences is None:
            return []
        return sorted({str(x) for x in self.languages_of_occurrences})

    def for_language(self, language: str) -> Concepts:
        """The occurrences of one language only (concept ids are kept)."""
        if self.languages_of_occurrences is None:
            raise InputError("these concepts carry no languages")
        mask = self.languages_of_occurrences == language
        if not mask.any():
            raise InputError(
                f"no occurrences of language {language!r} (languages: {self.languages})"
            )
        return Concepts(self.words[mask], self.labels[mask], self.languages_of_occurrences[mask])

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "words": [str(w) for w in self.words],
            "labels": self.labels.tolist(),
            "languages": None
            if self.languages_of_occurrences is None
            else [str(x) for x in self.languages_of_occurrences],
        }

    def save(self, path: str | Path) -> None:
        """Write as JSON (format ``interlingua-concepts``)."""
        atomic_write_text(path, json.dumps(self.to_dict()), overwrite=True)

    @classmethod
    def read(cls, path: str | Path) -> Concepts:
        """Read concepts written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"{path}: not a readable concepts JSON file ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise FormatError(f"{path}: not an {FORMAT} file (missing 'format': '{FORMAT}')")
        return cls.from_labels(data["words"], data["labels"], data.get("languages"))

    def __repr__(self) -> str:
        return (
            f"Concepts({len(self)} concepts, {len(self.words)} occurrences, "
            f"languages={self.languages or None})"
        )
