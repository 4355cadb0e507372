"""The one "did you mean" helper: every unknown name (plugin, parameter, layer, JSON key,
allow-list entry) is answered the same way."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The candidate most like ``name`` (``difflib`` ratio ≥ ``cutoff``), or None."""
    found = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1,
                                      cutoff=cutoff)
    return found[0] if found else None


def did_you_mean(name: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""`` when none is close.

    Examples
    --------
    >>> "unknown metric 'ckaa'" + did_you_mean("ckaa", ["cka", "anc"])
    "unknown metric 'ckaa'; did you mean 'cka'?"
    """
    match = closest(name, candidates, cutoff=cutoff)
    return f"; did you mean {match!r}?" if match else ""


__all__ = ["closest", "did_you_mean"]
