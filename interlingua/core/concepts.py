"""Latent concepts: clusters of word occurrences (seed 000 §2.1).

A concept is the set of word types (with their language) whose occurrences fall into
one cluster of a layer's token representations.

Cluster labels are integer cluster ids (what a discoverer returns) or any other
hashable *names* (strings from ConceptX files, named clusters, tuples). Integer labels
are the concept ids themselves. Names are numbered 0, 1, … in **sorted order** of the
distinct names (so the ids do not depend on the order of the occurrences); the name
stays available as :attr:`Concept.label` and is saved with the concepts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
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
        Concept id: the cluster id for integer labels, the position of the name in
        sorted order for named clusters.
    counts : Mapping[tuple[str, str | None], int]
        Occurrences per word type, keyed by ``(word, language)``.
    label : hashable, optional
        The original cluster label (the name for named clusters); defaults to ``id``.
    """

    id: int
    counts: Mapping[tuple[str, str | None], int]
    label: Hashable = None

    def __post_init__(self) -> None:
        if self.label is None:
            object.__setattr__(self, "label", self.id)

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: ``id``, ``label``, sizes and ``[word, language, count]`` rows.

        Returns
        -------
        dict
        """
        return {
            "id": int(self.id),
            "label": self.label,
            "n_types": self.n_types,
            "n_occurrences": self.n_occurrences,
            "counts": [[word, lang, int(count)]
                       for (word, lang), count in sorted(
                           self.counts.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))],
        }


class Concepts(Mapping[int, Concept]):
    """All concepts of one clustering, plus the occurrence-level labels behind them.

    Build with :meth:`from_labels`; index by concept id; iterate over ids; look named
    clusters up with :meth:`by_label`.

    Attributes
    ----------
    words : numpy.ndarray
        The word of each occurrence (object array).
    labels : numpy.ndarray
        The concept id (int64) of each occurrence.
    languages_of_occurrences : numpy.ndarray or None
        The language of each occurrence.
    label_names : list or None
        For named clusters, the name of concept id ``i`` at position ``i``; ``None``
        when the labels were integer cluster ids.
    """

    def __init__(
        self,
        words: np.ndarray,
        labels: np.ndarray,
        languages: np.ndarray | None,
        label_names: Sequence[Hashable] | None = None,
    ) -> None:
        self.words = words
        self.labels = labels
        self.languages_of_occurrences = languages
        self.label_names = None if label_names is None else list(label_names)
        self._concepts: dict[int, Concept] | None = None

    @classmethod
    def from_labels(
        cls,
        words: Iterable[str],
        labels: Iterable[Hashable],
        languages: Iterable[str] | None = None,
    ) -> Concepts:
        """Group word occurrences by cluster label.

        Parameters
        ----------
        words : iterable of str
            The word of each clustered occurrence.
        labels : iterable of int or of hashable names
            Cluster of each occurrence (same length): integer cluster ids (the concept
            ids), or names of one kind (e.g. all strings), numbered 0, 1, … in sorted
            order; see the module docstring.
        languages : iterable of str, optional
            Language of each occurrence (needed for COLAP and per-language views).

        Returns
        -------
        Concepts

        Raises
        ------
        InputError
            Lengths differ, no occurrences, or labels that are floats, ``None``,
            unhashable, a mix of integer ids and names, or names that cannot be sorted.
        """
        words_arr = np.asarray(list(words), dtype=object)
        labels_arr, names = encode_labels(labels)
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
        return cls(words_arr, labels_arr, langs_arr, names)

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
            names = self.label_names
            self._concepts = {
                cid: Concept(cid, dict(counter), None if names is None else names[cid])
                for cid, counter in sorted(grouped.items())
            }
        return self._concepts

    def __getitem__(self, cid: int) -> Concept:
        try:
            return self._build()[cid]
        except KeyError:
            raise KeyError(f"no concept with id {cid}") from None

    def by_label(self, label: Hashable) -> Concept:
        """The concept of an original cluster label (a name, or an integer cluster id).

        Raises
        ------
        KeyError
            No concept has that label.
        """
        if self.label_names is None:
            return self[label]  # type: ignore[index]
        try:
            cid = self.label_names.index(label)
            return self._build()[cid]
        except (ValueError, KeyError):
            raise KeyError(f"no concept labelled {label!r}") from None

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
        return Concepts(self.words[mask], self.labels[mask],
                        self.languages_of_occurrences[mask], self.label_names)

    def to_dict(self) -> dict[str, Any]:
        """The occurrences as a JSON-ready dict (what :meth:`save` writes).

        ``labels`` are the concept ids; named clusters add ``label_names`` (the name of
        id ``i`` at position ``i``), so ids survive a round trip even for a subset.
        """
        out: dict[str, Any] = {
            "format": FORMAT,
            "words": [str(w) for w in self.words],
            "labels": self.labels.tolist(),
            "languages": None
            if self.languages_of_occurrences is None
            else [str(x) for x in self.languages_of_occurrences],
        }
        if self.label_names is not None:
            out["label_names"] = list(self.label_names)
        return out

    def save(self, path: str | Path) -> None:
        """Write as JSON (format ``interlingua-concepts``).

        Raises
        ------
        InputError
            A cluster name cannot be written as JSON.
        """
        try:
            text = json.dumps(self.to_dict())
        except (TypeError, ValueError) as exc:
            raise InputError(f"concept labels cannot be saved as JSON ({exc})") from None
        atomic_write_text(path, text, overwrite=True)

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
        names = data.get("label_names")
        if names is None:
            return cls.from_labels(data["words"], data["labels"], data.get("languages"))
        names = [_hashable(name) for name in names]
        concepts = cls.from_labels(data["words"], data["labels"], data.get("languages"))
        ids = concepts.labels
        if concepts.label_names is not None or ids.min() < 0 or ids.max() >= len(names):
            raise FormatError(f"{path}: labels must be ids of the {len(names)} label_names")
        concepts.label_names = names
        return concepts

    def __repr__(self) -> str:
        named = ", named" if self.label_names is not None else ""
        return (
            f"Concepts({len(self)} concepts{named}, {len(self.words)} occurrences, "
            f"languages={self.languages or None})"
        )


def encode_labels(labels: Iterable[Hashable]) -> tuple[np.ndarray, list[Hashable] | None]:
    """Concept ids of cluster labels, and the names behind them.

    Parameters
    ----------
    labels : iterable
        Integer cluster ids, or hashable names of one kind.

    Returns
    -------
    ids : numpy.ndarray
        int64 concept id per label: the label itself for integer ids; for names, the
        position of the name among the distinct names in sorted order.
    names : list or None
        The distinct names in sorted order (``None`` for integer ids).

    Raises
    ------
    InputError
        Floats, ``None``, unhashable labels, integers mixed with names, names that
        cannot be sorted (one line each).
    """
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1:
            raise InputError(f"labels must be a 1-D sequence, got shape {labels.shape}")
        if labels.dtype.kind in "iu":
            return labels.astype(np.int64), None
        values = labels.tolist()
    else:
        try:
            values = list(labels)
        except TypeError as exc:
            raise InputError(f"labels: {exc}") from None
    if not values:
        return np.empty(0, dtype=np.int64), None
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):  # ragged nested sequences
        arr = None
    if arr is not None and arr.ndim == 1 and arr.dtype.kind in "iu":
        return arr.astype(np.int64), None
    has_int = has_name = False
    for i, value in enumerate(values):
        if value is None or isinstance(value, (float, complex, np.floating, np.complexfloating)):
            raise InputError(f"labels must be integer cluster ids or cluster names; label {i} "
                             f"is {value!r} ({type(value).__name__})")
        try:
            hash(value)
        except TypeError:
            raise InputError(f"labels must be hashable (integer cluster ids or names); label "
                             f"{i} is an unhashable {type(value).__name__}: {value!r}") from None
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            has_int = True
        else:
            has_name = True
        if has_int and has_name:
            raise InputError(f"labels mix integer cluster ids and names (label {i}: {value!r}); "
                             "use integers only or names only")
    if not has_name:
        raise InputError("integer cluster ids must fit in 64 bits")
    try:
        names = sorted(set(values))
    except TypeError as exc:
        raise InputError(f"cluster names cannot be sorted into concept ids ({exc}); "
                         "use names of one type (e.g. all strings)") from None
    index = {name: cid for cid, name in enumerate(names)}
    return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values)), names


def _hashable(value: Any) -> Hashable:
    """A name read back from JSON: lists (saved tuples) become tuples again."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value
