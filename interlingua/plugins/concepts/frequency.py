"""The frequency filter of latent-concept discovery (seed 000 §3.2; ConceptX).

Before clustering a layer, word occurrences are filtered by the frequency of their
type: keep types seen at least ``min_freq`` times, keep at most ``max_freq``
occurrences of each, drop types seen more than ``del_freq`` times. Types are
``(word, language)`` pairs on mixed data, so the same string in two languages counts
separately.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from interlingua.core.errors import InputError


@dataclass(frozen=True)
class FrequencyFilter:
    """Which word occurrences enter the clustering (ConceptX's frequency filter).

    Attributes
    ----------
    min_freq : int
        Keep word types with at least this many occurrences.
    max_freq : int or None
        Keep at most this many occurrences of each type (``None`` = all).
    del_freq : int or None
        Drop types with *more* than this many occurrences (very frequent function
        words); ``None`` = drop none.
    sample : {"random", "first"}
        Which occurrences survive the cap: a seeded uniform sample, or the first
        ``max_freq`` in store order (ConceptX's behaviour).
    seed : int
        Seed of the ``random`` sample.

    Notes
    -----
    Defaults follow Dalvi et al. (2022) as used by seed 000 §3.2 (types seen at least
    5 times, at most 10 occurrences each). Types are ``(word, language)`` pairs, so the
    same string in two languages is counted separately.
    """

    min_freq: int = 5
    max_freq: int | None = 10
    del_freq: int | None = None
    sample: str = "random"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.min_freq < 1:
            raise InputError(f"min_freq must be >= 1, got {self.min_freq}")
        if self.max_freq is not None and self.max_freq < 1:
            raise InputError(f"max_freq must be >= 1 or None, got {self.max_freq}")
        if self.del_freq is not None and self.del_freq < self.min_freq:
            raise InputError(
                f"del_freq ({self.del_freq}) must be >= min_freq ({self.min_freq})"
            )
        if self.sample not in ("random", "first"):
            raise InputError(f"sample must be 'random' or 'first', got {self.sample!r}")

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Field name → default value (what the ``concepts`` command shows)."""
        return {f.name: f.default for f in fields(cls)}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def select(self, words: Sequence[str], languages: Sequence[str] | None = None) -> np.ndarray:
        """Positions (sorted) of the occurrences that pass the filter.

        Parameters
        ----------
        words : sequence of str
            Word of each candidate occurrence, in store order.
        languages : sequence of str, optional
            Language of each occurrence (types are ``(word, language)``).

        Returns
        -------
        numpy.ndarray
            int64 positions into ``words``, ascending.
        """
        n = len(words)
        if languages is not None and len(languages) != n:
            raise InputError(f"{len(languages)} languages for {n} words")
        if n == 0:
            return np.empty(0, dtype=np.int64)
        keys = words if languages is None else list(zip(languages, words))
        inv = _factorize(keys)
        counts = np.bincount(inv)
        keep_type = counts >= self.min_freq
        if self.del_freq is not None:
            keep_type &= counts <= self.del_freq
        if self.max_freq is None:
            return np.flatnonzero(keep_type[inv]).astype(np.int64)
        if self.sample == "random":
            priority = np.random.default_rng(self.seed).random(n)
        else:
            priority = np.arange(n, dtype=np.float64)
        order = np.lexsort((priority, inv))  # by type, then priority
        sorted_inv = inv[order]
        rank = np.arange(n) - np.searchsorted(sorted_inv, sorted_inv, side="left")
        chosen = order[(rank < self.max_freq) & keep_type[sorted_inv]]
        return np.sort(chosen).astype(np.int64)


def _factorize(keys: Iterable[Any]) -> np.ndarray:
    """Integer code of each key, in order of first appearance (deterministic)."""
    index: dict[Any, int] = {}
    return np.fromiter((index.setdefault(k, len(index)) for k in keys), dtype=np.int64)


def occurrence_numbers(words: Sequence[str], languages: Sequence[str] | None = None) -> np.ndarray:
    """0-based running count of each ``(word, language)`` type, in the given order.

    Parameters
    ----------
    words : sequence of str
        Words in store order.
    languages : sequence of str, optional
        Their languages (``None``: types are the words alone).

    Returns
    -------
    numpy.ndarray
        int64, the k-th occurrence of a type gets ``k - 1``.
    """
    keys = words if languages is None else list(zip(languages, words))
    inv = _factorize(keys)
    order = np.argsort(inv, kind="stable")
    sorted_inv = inv[order]
    rank = np.arange(inv.size) - np.searchsorted(sorted_inv, sorted_inv, side="left")
    out = np.empty(inv.size, dtype=np.int64)
    out[order] = rank
    return out


__all__ = ["FrequencyFilter", "occurrence_numbers"]
