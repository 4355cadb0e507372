"""Bilingual translation dictionaries with N-best lists (seed 000 §2.2).

Readers for Moses lexical tables (``src tgt prob`` and
``src -> tgt: Probability = p, Count = c``), MUSE pairs (``src tgt``) and TSV
(``src<TAB>tgt[<TAB>prob]``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from interlingua.core.errors import FormatError, InputError
from interlingua.core.outputs import atomic_write_text
from interlingua.core.textio import iter_lines

FORMATS = ("moses", "moses-arrow", "muse", "tsv")
_ARROW = re.compile(
    r"^(?P<src>.+?) -> (?P<tgt>.+?): Probability = (?P<prob>\S+?)(?:, Count = (?P<count>\S+))?\s*$"
)


def _parse_prob(text: str, where: str) -> float:
    try:
        prob = float(text)
    except ValueError:
        raise FormatError(f"{where}: probability {text!r} is not a number") from None
    if not math.isfinite(prob) or prob < 0:
        raise FormatError(f"{where}: probability {text!r} must be a finite number >= 0")
    return prob


class Dictionary:
    """Source word → candidate translations with probabilities, in insertion order.

    N-best lists sort by probability (descending); ties keep insertion (file) order,
    so results are deterministic. A repeated ``(src, tgt)`` pair keeps its first
    position and the highest probability.
    """

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, float]] = {}

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple]) -> Dictionary:
        """Build from ``(src, tgt)`` or ``(src, tgt, prob)`` tuples (prob defaults to 1)."""
        out = cls()
        for i, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) not in (2, 3):
                raise InputError(f"pair {i}: expected (src, tgt) or (src, tgt, prob), got {pair!r}")
            src, tgt = str(pair[0]), str(pair[1])
            prob = _parse_prob(str(pair[2]), f"pair {i}") if len(pair) == 3 else 1.0
            out.add(src, tgt, prob)
        return out

    def add(self, src: str, tgt: str, prob: float = 1.0) -> None:
        if not src or not tgt:
            raise InputError(f"empty word in dictionary pair ({src!r}, {tgt!r})")
        row = self._entries.setdefault(src, {})
        row[tgt] = max(prob, row.get(tgt, -1.0))

    # -- queries -------------------------------------------------------------------
    def translations(self, src: str, n: int | None = None) -> list[str]:
        """The ``n`` most probable translations of ``src`` (all when ``n`` is None)."""
        row = self._entries.get(src)
        if not row:
            return []
        # sorted() is stable (also with reverse=True), so equal probabilities keep
        # insertion order.
        ranked = sorted(row, key=row.__getitem__, reverse=True)
        return ranked if n is None else ranked[:n]

    def first(self, src: str, n: int) -> list[str]:
        """The first ``n`` translations in insertion (file) order, ignoring probability."""
        return list(self._entries.get(src, {}))[:n]

    def nbest(self, n: int = 10, *, by: str = "probability") -> dict[str, list[str]]:
        """N-best list for every source word; ``by="order"`` takes the first N lines."""
        if by not in ("probability", "order"):
            raise InputError("by must be 'probability' or 'order'")
        pick = self.translations if by == "probability" else self.first
        return {src: pick(src, n) for src in self._entries}

    def probability(self, src: str, tgt: str) -> float | None:
        return self._entries.get(src, {}).get(tgt)

    @property
    def sources(self) -> list[str]:
        return list(self._entries)

    @property
    def n_pairs(self) -> int:
        return sum(len(row) for row in self._entries.values())

    def __contains__(self, src: object) -> bool:
        return src in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[tuple[str, str, float]]:
        for src, row in self._entries.items():
            for tgt, prob in row.items():
                yield src, tgt, prob

    def inverse(self) -> Dictionary:
        """Target → source dictionary with the same probabilities."""
        return Dictionary.from_pairs((tgt, src, prob) for src, tgt, prob in self)

    def __repr__(self) -> str:
        return f"Dictionary({len(self)} source words, {self.n_pairs} pairs)"

    # -- files ---------------------------------------------------------------------
    @classmethod
    def read(cls, path: str | Path, format: str = "auto", *, swap: bool = False) -> Dictionary:
        """Read a dictionary file.

        Parameters
        ----------
        path : path-like
            UTF-8 text file.
        format : {"auto", "moses", "moses-arrow", "muse", "tsv"}
            ``moses``: ``src tgt prob`` per line; ``moses-arrow``:
            ``src -> tgt: Probability = p, Count = c``; ``muse``: ``src tgt``;
            ``tsv``: ``src<TAB>tgt[<TAB>prob]``. ``auto`` decides from the first
            non-empty line.
        swap : bool
            Read the first column as target and the second as source. Moses' own
            ``lex.f2e`` / ``lex.e2f`` files put the conditioning word *second*
            (``lex.f2e`` lines are ``e f p(e|f)``): read ``lex.f2e`` with
            ``swap=True`` to get f -> e translations ranked by p(e|f).

        Raises
        ------
        FormatError
            Malformed line (with its number), non-UTF-8 bytes, empty file.
        """
        if format != "auto" and format not in FORMATS:
            raise InputError(f"unknown dictionary format {format!r}; use auto or one of {FORMATS}")
        out = cls()
        detected = None if format == "auto" else format
        for number, line in iter_lines(path):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            if detected is None:
                detected = _detect(line, where)
            src, tgt, prob = _parse_line(line, detected, where)
            if swap:
                src, tgt = tgt, src
            out.add(src, tgt, prob)
        if not len(out):
            raise FormatError(f"{path}: no dictionary entries found")
        return out

    def write(self, path: str | Path, format: str = "tsv") -> None:
        """Write as ``tsv`` (with probabilities), ``moses`` or ``muse``."""
        lines = []
        for src, tgt, prob in self:
            if format == "tsv":
                lines.append(f"{src}\t{tgt}\t{prob!r}")
            elif format == "moses":
                lines.append(f"{src} {tgt} {prob!r}")
            elif format == "muse":
                lines.append(f"{src} {tgt}")
            else:
                raise InputError(f"cannot write dictionary format {format!r}")
        atomic_write_text(path, "\n".join(lines) + "\n", overwrite=True)


def _detect(line: str, where: str) -> str:
    if _ARROW.match(line):
        return "moses-arrow"
    if "\t" in line:
        return "tsv"
    fields = line.split()
    if len(fields) == 3:
        try:
            float(fields[2])
            return "moses"
        except ValueError:
            pass
    if len(fields) == 2:
        return "muse"
    raise FormatError(
        f"{where}: cannot tell the dictionary format from {line!r}; expected 'src tgt', "
        "'src tgt prob', 'src<TAB>tgt[<TAB>prob]' or 'src -> tgt: Probability = p'"
    )


def _parse_line(line: str, fmt: str, where: str) -> tuple[str, str, float]:
    if fmt == "moses-arrow":
        match = _ARROW.match(line)
        if not match:
            raise FormatError(
                f"{where}: expected 'src -> tgt: Probability = p, Count = c', got {line!r}"
            )
        return match["src"], match["tgt"], _parse_prob(match["prob"], where)
    if fmt == "tsv":
        fields = line.split("\t")
        if len(fields) not in (2, 3) or not all(f.strip() for f in fields[:2]):
            raise FormatError(f"{where}: expected 'src<TAB>tgt[<TAB>prob]', got {line!r}")
        prob = _parse_prob(fields[2], where) if len(fields) == 3 else 1.0
        return fields[0].strip(), fields[1].strip(), prob
    fields = line.split()
    if fmt == "moses":
        if len(fields) != 3:
            raise FormatError(f"{where}: expected 'src tgt prob' (3 fields), got {line!r}")
        return fields[0], fields[1], _parse_prob(fields[2], where)
    if len(fields) != 2:
        raise FormatError(f"{where}: expected 'src tgt' (2 fields), got {line!r}")
    return fields[0], fields[1], 1.0
