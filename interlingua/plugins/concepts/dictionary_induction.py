"""Translation dictionaries induced from parallel text (seed 000 §3.2).

Seed 000 estimated its translation dictionary T(w_s, w_t) by word-aligning the
parallel data with fast_align and extracting lexical translation tables with Moses;
the dictionary holds the N-best target translations of each source word. We follow
the same pipeline:

1. **word alignment** in both directions (:mod:`.word_alignment`) —
   ``backend="eflomal"`` (the ``eflomal`` package, a Bayesian HMM+fertility aligner
   that is more accurate than fast_align; optional dependency ``interlingua[align]``)
   or ``backend="ibm1"`` (a small, deterministic IBM Model 1 EM implementation in
   numpy, no extra dependency, fine for corpora up to ~10^5 sentence pairs);
2. **symmetrisation** (:mod:`.word_alignment`) — ``grow-diag-final-and`` (Moses'
   default), ``intersection`` or ``union``;
3. **lexical translation probabilities** as Moses' ``train-model.perl`` computes
   them: from the symmetrised links, c(s, t) counts aligned pairs, unaligned words
   are linked to ``NULL``, and p(t | s) = c(s, t) / c(s), p(s | t) = c(s, t) / c(t);
4. the :class:`~interlingua.core.dictionary.Dictionary` of p(t | s), whose N-best
   lists (by probability) feed CALIGN.

eflomal samples alignments (collapsed Gibbs sampling) and its binary takes no seed,
so two runs may give slightly different tables; ``ibm1`` is deterministic.

Files: :meth:`LexicalTable.write_arrow` writes
``src -> tgt: Probability = p, Count = c`` lines (the form the seed-000 authors' script
reads), sorted by descending probability per source word so that "first N lines"
equals "N most probable"; :meth:`LexicalTable.write_moses` writes Moses' ``lex.f2e``
(``tgt src p(tgt|src)``) and ``lex.e2f`` (``src tgt p(src|tgt)``) — note that in both
Moses files the *second* column is the conditioning word, so read ``lex.f2e`` as a
source -> target dictionary with ``Dictionary.read(path, "moses", swap=True)``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.dictionary import Dictionary
from interlingua.core.errors import FormatError, InputError
from interlingua.core.textio import iter_lines
from interlingua.plugins.concepts.word_alignment import (
    BACKENDS,
    NULL,
    SYMMETRIZATIONS,
    Links,
    Sentence,
    align,
    check_corpus,
    eflomal_links,
    ibm1_links,
    symmetrize,
)


# -- input ---------------------------------------------------------------------------
def read_parallel_files(
    source: str | os.PathLike, target: str | os.PathLike
) -> tuple[list[list[str]], list[list[str]]]:
    """Read two line-aligned, whitespace-tokenised UTF-8 files.

    Raises
    ------
    FormatError
        Non-UTF-8 bytes (with the line number) or a different number of lines.
    """
    src = [line.split() for _, line in iter_lines(source)]
    tgt = [line.split() for _, line in iter_lines(target)]
    if len(src) != len(tgt):
        raise FormatError(
            f"{source} has {len(src)} lines but {target} has {len(tgt)}; parallel files "
            "must be line-aligned"
        )
    return src, tgt


def parallel_sentences(store: Any, source: str, target: str) -> tuple[list[list[str]],
                                                                      list[list[str]]]:
    """The words of the parallel sentences of two languages of an activation store."""
    rows_s, rows_t = store.parallel_rows(source, target)
    offsets = store.sentences.word_offsets
    words = store.words.text

    def sentences(rows: np.ndarray) -> list[list[str]]:
        return [[str(w) for w in words[offsets[r]:offsets[r + 1]]] for r in rows.tolist()]

    return sentences(rows_s), sentences(rows_t)


# -- lexical table -------------------------------------------------------------------
@dataclass
class LexicalTable:
    """Joint link counts c(s, t) with NULL for unaligned words (Moses' lexical table)."""

    counts: Counter = field(default_factory=Counter)
    src_totals: Counter = field(default_factory=Counter)
    tgt_totals: Counter = field(default_factory=Counter)

    @classmethod
    def from_alignments(cls, src: Sequence[Sentence], tgt: Sequence[Sentence],
                        links: Sequence[Links]) -> LexicalTable:
        table = cls()
        for k, (s, t, pairs) in enumerate(zip(src, tgt, links)):
            seen_s, seen_t = set(), set()
            for i, j in pairs:
                if not (0 <= i < len(s) and 0 <= j < len(t)):
                    raise InputError(f"sentence pair {k}: link {i}-{j} out of range")
                table._add(s[i], t[j])
                seen_s.add(i)
                seen_t.add(j)
            for i, w in enumerate(s):
                if i not in seen_s:
                    table._add(w, NULL)
            for j, w in enumerate(t):
                if j not in seen_t:
                    table._add(NULL, w)
        return table

    def _add(self, s: str, t: str) -> None:
        self.counts[(s, t)] += 1
        self.src_totals[s] += 1
        self.tgt_totals[t] += 1

    def p_tgt_given_src(self, s: str, t: str) -> float:
        total = self.src_totals.get(s, 0)
        return self.counts.get((s, t), 0) / total if total else 0.0

    def p_src_given_tgt(self, s: str, t: str) -> float:
        total = self.tgt_totals.get(t, 0)
        return self.counts.get((s, t), 0) / total if total else 0.0

    def _ranked(self, reverse: bool = False) -> list[tuple[str, str, float, int]]:
        """(given, translation, p(translation|given), count), N-best order per word."""
        rows = []
        for (s, t), c in self.counts.items():
            if s == NULL or t == NULL:
                continue
            if reverse:
                rows.append((t, s, c / self.tgt_totals[t], c))
            else:
                rows.append((s, t, c / self.src_totals[s], c))
        first: dict[str, int] = {}
        for given, *_ in rows:
            first.setdefault(given, len(first))
        # Deterministic: source words in first-seen order, then probability, count, word.
        rows.sort(key=lambda r: (first[r[0]], -r[2], -r[3], r[1]))
        return rows

    def dictionary(self, *, reverse: bool = False, min_prob: float = 0.0,
                   min_count: int = 1) -> Dictionary:
        """Source -> target :class:`Dictionary` of p(t|s) (``reverse``: target -> source)."""
        out = Dictionary()
        for given, trans, prob, count in self._ranked(reverse):
            if prob >= min_prob and count >= min_count:
                out.add(given, trans, prob)
        if not len(out):
            raise InputError("the lexical table has no entries above the thresholds")
        return out

    def write_arrow(self, path: str | os.PathLike, *, reverse: bool = False,
                    nbest: int | None = None) -> Path:
        """``src -> tgt: Probability = p, Count = c`` lines, N-best order per word."""
        path = Path(path)
        lines, kept = [], Counter()
        for given, trans, prob, count in self._ranked(reverse):
            if nbest is not None and kept[given] >= nbest:
                continue
            kept[given] += 1
            lines.append(f"{given} -> {trans}: Probability = {prob:.7f}, Count = {count}")
        _write_lines(path, lines)
        return path

    def write_moses(self, prefix: str | os.PathLike) -> tuple[Path, Path]:
        """Moses files ``PREFIX.f2e`` (``tgt src p(tgt|src)``) and ``PREFIX.e2f``
        (``src tgt p(src|tgt)``), including the NULL entries, like ``train-model.perl``."""
        prefix = str(prefix)
        f2e, e2f = [], []
        for (s, t), c in self.counts.items():
            f2e.append(f"{t} {s} {c / self.src_totals[s]:.7f}")
            e2f.append(f"{s} {t} {c / self.tgt_totals[t]:.7f}")
        p1, p2 = Path(prefix + ".f2e"), Path(prefix + ".e2f")
        _write_lines(p1, f2e)
        _write_lines(p2, e2f)
        return p1, p2

    def write_tsv(self, path: str | os.PathLike, *, reverse: bool = False) -> Path:
        """``src<TAB>tgt<TAB>p(tgt|src)`` lines (N-best order per word)."""
        path = Path(path)
        _write_lines(path, [f"{g}\t{t}\t{p:.7f}" for g, t, p, _ in self._ranked(reverse)])
        return path


def _write_lines(path: Path, lines: list[str]) -> None:
    from interlingua.core.outputs import atomic_write_text

    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""), overwrite=True)


# -- pipeline ------------------------------------------------------------------------
def induce_lexical_table(
    src: Sequence[Sentence], tgt: Sequence[Sentence], **align_options: Any
) -> LexicalTable:
    """Align a tokenised parallel corpus and count its lexical translation table.

    ``align_options`` go to :func:`align` (``backend``, ``symmetrization``,
    ``iterations``, ``progress``, eflomal options).
    """
    src, tgt = check_corpus(src, tgt)
    links = align(src, tgt, **align_options)
    return LexicalTable.from_alignments(src, tgt, links)


def induce_dictionary(
    src: Sequence[Sentence], tgt: Sequence[Sentence], *, min_prob: float = 0.0,
    min_count: int = 1, **align_options: Any,
) -> Dictionary:
    """Source -> target dictionary of p(t|s) induced from a tokenised parallel corpus.

    ``align_options``: ``backend`` ("eflomal" | "ibm1"), ``symmetrization``,
    ``iterations`` (ibm1) and eflomal options (``model``, ``n_samplers``, ...).
    """
    table = induce_lexical_table(src, tgt, **align_options)
    return table.dictionary(min_prob=min_prob, min_count=min_count)


def induce_from_store(store: Any, source: str, target: str, **options: Any) -> LexicalTable:
    """Lexical table from the parallel sentences (shared ``pair_id``) of a store."""
    src, tgt = parallel_sentences(store, source, target)
    return induce_lexical_table(src, tgt, **options)


def induce_from_files(source: str | os.PathLike, target: str | os.PathLike,
                      **options: Any) -> LexicalTable:
    """Lexical table from two line-aligned, whitespace-tokenised text files."""
    src, tgt = read_parallel_files(source, target)
    return induce_lexical_table(src, tgt, **options)


__all__ = [
    "BACKENDS", "NULL", "SYMMETRIZATIONS", "LexicalTable", "Links", "Sentence", "align",
    "check_corpus", "eflomal_links", "ibm1_links", "induce_dictionary", "induce_from_files",
    "induce_from_store", "induce_lexical_table", "parallel_sentences", "read_parallel_files",
    "symmetrize",
]
