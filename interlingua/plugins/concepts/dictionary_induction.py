"""Translation dictionaries induced from parallel text (seed 000 §3.2).

Seed 000 estimated its translation dictionary T(w_s, w_t) by word-aligning the
parallel data with fast_align and extracting lexical translation tables with Moses;
the dictionary holds the N-best target translations of each source word. We follow
the same pipeline:

1. **word alignment** in both directions — ``backend="eflomal"`` (the ``eflomal``
   package, a Bayesian HMM+fertility aligner that is more accurate than fast_align;
   optional dependency ``interlingua[align]``) or ``backend="ibm1"`` (a small,
   deterministic IBM Model 1 EM implementation in numpy, no extra dependency,
   fine for corpora up to ~10^5 sentence pairs);
2. **symmetrisation** — ``grow-diag-final-and`` (Moses' default), ``intersection``
   or ``union``;
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
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.dictionary import Dictionary
from interlingua.core.errors import FormatError, InputError
from interlingua.core.textio import iter_lines

NULL = "NULL"
BACKENDS = ("eflomal", "ibm1")
SYMMETRIZATIONS = ("grow-diag-final-and", "intersection", "union")

Sentence = Sequence[str]
Links = set[tuple[int, int]]


# -- input ---------------------------------------------------------------------------
def _check_corpus(src: Sequence[Sentence], tgt: Sequence[Sentence]) -> tuple[list, list]:
    src = [list(map(str, s)) for s in src]
    tgt = [list(map(str, t)) for t in tgt]
    if len(src) != len(tgt):
        raise InputError(
            f"parallel corpus sides differ in length: {len(src)} source vs {len(tgt)} "
            "target sentences"
        )
    if not src:
        raise InputError("the parallel corpus is empty")
    if not any(s and t for s, t in zip(src, tgt)):
        raise InputError("no sentence pair has words on both sides")
    return src, tgt


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


# -- word alignment ------------------------------------------------------------------
def _clean(token: str) -> str:
    # eflomal reads whitespace-separated tokens: keep one token per word so that link
    # positions map back to the original words (whose forms we count, not eflomal's
    # lowercased ones).
    return "_".join(token.split()) or "<empty>"


def eflomal_links(
    src: Sequence[Sentence], tgt: Sequence[Sentence], *, model: int = 3,
    n_samplers: int = 3, rel_iterations: float = 1.0, null_prior: float = 0.2,
) -> tuple[list[Links], list[Links]]:
    """Forward and reverse links (``(i_src, j_tgt)`` sets per sentence) from eflomal."""
    try:
        import eflomal
    except ImportError:
        raise InputError(
            "backend 'eflomal' needs the eflomal package: pip install 'interlingua[align]' "
            "(or use backend='ibm1')"
        ) from None
    aligner = eflomal.Aligner(model=model, n_samplers=n_samplers,
                              rel_iterations=rel_iterations, null_prior=null_prior)
    src_lines = [" ".join(_clean(w) for w in s) for s in src]
    tgt_lines = [" ".join(_clean(w) for w in t) for t in tgt]
    with tempfile.TemporaryDirectory(prefix="interlingua-eflomal-") as tmp:
        fwd_path, rev_path = os.path.join(tmp, "fwd"), os.path.join(tmp, "rev")
        aligner.align(src_lines, tgt_lines, links_filename_fwd=fwd_path,
                      links_filename_rev=rev_path, quiet=True)
        fwd = _read_links(fwd_path, len(src))
        rev = _read_links(rev_path, len(src))
    return fwd, rev


def _read_links(path: str, n: int) -> list[Links]:
    out: list[Links] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            links = set()
            for item in line.split():
                i, _, j = item.partition("-")
                links.add((int(i), int(j)))
            out.append(links)
    # eflomal writes one line per sentence pair; tolerate a missing trailing newline.
    out.extend(set() for _ in range(n - len(out)))
    return out[:n]


def ibm1_links(
    src: Sequence[Sentence], tgt: Sequence[Sentence], *, iterations: int = 10
) -> tuple[list[Links], list[Links]]:
    """Forward and reverse Viterbi links of IBM Model 1 (Brown et al. 1993), via EM.

    Forward: each target word is generated by a source word or NULL (p(t|s));
    reverse: each source word by a target word or NULL. Deterministic (uniform start).
    """
    fwd = _ibm1_viterbi(src, tgt, iterations)
    rev_t = _ibm1_viterbi(tgt, src, iterations)
    rev = [{(i, j) for j, i in links} for links in rev_t]
    return fwd, rev


def _ibm1_viterbi(gen: Sequence[Sentence], out: Sequence[Sentence],
                  iterations: int) -> list[Links]:
    """Links (i_gen, j_out) where out-word j is best explained by gen-word i (not NULL)."""
    g_vocab: dict[str, int] = {NULL: 0}
    o_vocab: dict[str, int] = {}
    g_ids = [np.array([0] + [g_vocab.setdefault(w, len(g_vocab)) for w in s], dtype=np.int64)
             for s in gen]
    o_ids = [np.array([o_vocab.setdefault(w, len(o_vocab)) for w in t], dtype=np.int64)
             for t in out]
    # One row per (sentence, out position, gen position incl. NULL at 0).
    sent, group, gpos, gid, oid = [], [], [], [], []
    n_groups = 0
    for k, (g, o) in enumerate(zip(g_ids, o_ids)):
        if o.size == 0:
            continue
        lg, lo = g.size, o.size
        sent.append(np.full(lg * lo, k))
        group.append(n_groups + np.repeat(np.arange(lo), lg))
        gpos.append(np.tile(np.arange(lg), lo) - 1)  # -1 = NULL
        gid.append(np.tile(g, lo))
        oid.append(np.repeat(o, lg))
        n_groups += lo
    if not sent:
        return [set() for _ in gen]
    sent_a, group_a = np.concatenate(sent), np.concatenate(group)
    gpos_a, gid_a, oid_a = np.concatenate(gpos), np.concatenate(gid), np.concatenate(oid)
    pair_key = gid_a * max(len(o_vocab), 1) + oid_a
    pairs, pair_idx = np.unique(pair_key, return_inverse=True)
    pair_gen = pairs // max(len(o_vocab), 1)
    prob = np.full(pairs.size, 1.0 / max(len(o_vocab), 1))
    for _ in range(iterations):
        w = prob[pair_idx]
        post = w / np.bincount(group_a, weights=w, minlength=n_groups)[group_a]
        counts = np.bincount(pair_idx, weights=post, minlength=pairs.size)
        totals = np.bincount(pair_gen, weights=counts, minlength=len(g_vocab))
        prob = counts / totals[pair_gen]
    w = prob[pair_idx]
    # Viterbi: per out word the best generating position (ties: the first position).
    order = np.lexsort((gpos_a, -w, group_a))
    first = np.ones(order.size, dtype=bool)
    first[1:] = group_a[order][1:] != group_a[order][:-1]
    best = order[first]
    links: list[Links] = [set() for _ in gen]
    opos = np.concatenate([np.arange(o.size) for o in o_ids if o.size])
    for row, j in zip(best.tolist(), opos.tolist()):
        i = int(gpos_a[row])
        if i >= 0:
            links[int(sent_a[row])].add((i, j))
    return links


# -- symmetrisation ------------------------------------------------------------------
_NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def symmetrize(fwd: Links, rev: Links, method: str = "grow-diag-final-and") -> Links:
    """Combine the links of both directions (Koehn et al. 2003; Moses' heuristics)."""
    if method == "intersection":
        return fwd & rev
    if method == "union":
        return fwd | rev
    if method != "grow-diag-final-and":
        raise InputError(f"unknown symmetrization {method!r}; use one of {SYMMETRIZATIONS}")
    union = fwd | rev
    links = set(fwd & rev)
    src_done = {i for i, _ in links}
    tgt_done = {j for _, j in links}
    grew = True
    while grew:  # grow-diag: add neighbours of links that cover an uncovered word
        grew = False
        for i, j in sorted(links):
            for di, dj in _NEIGHBOURS:
                cand = (i + di, j + dj)
                if cand in union and cand not in links and (
                    cand[0] not in src_done or cand[1] not in tgt_done
                ):
                    links.add(cand)
                    src_done.add(cand[0])
                    tgt_done.add(cand[1])
                    grew = True
    for direction in (fwd, rev):  # final-and: links joining two uncovered words
        for i, j in sorted(direction):
            if i not in src_done and j not in tgt_done:
                links.add((i, j))
                src_done.add(i)
                tgt_done.add(j)
    return links


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
def align(
    src: Sequence[Sentence], tgt: Sequence[Sentence], *, backend: str = "eflomal",
    symmetrization: str = "grow-diag-final-and", iterations: int = 10,
    **backend_options: Any,
) -> list[Links]:
    """Symmetrised word alignment links ``(i_src, j_tgt)`` of every sentence pair."""
    src, tgt = _check_corpus(src, tgt)
    if symmetrization not in SYMMETRIZATIONS:
        raise InputError(f"unknown symmetrization {symmetrization!r}; use one of "
                         f"{SYMMETRIZATIONS}")
    if backend == "eflomal":
        fwd, rev = eflomal_links(src, tgt, **backend_options)
    elif backend == "ibm1":
        fwd, rev = ibm1_links(src, tgt, iterations=iterations)
    else:
        raise InputError(f"unknown alignment backend {backend!r}; use one of {BACKENDS}")
    return [symmetrize(f, r, symmetrization) for f, r in zip(fwd, rev)]


def induce_lexical_table(
    src: Sequence[Sentence], tgt: Sequence[Sentence], **align_options: Any
) -> LexicalTable:
    """Align a tokenised parallel corpus and count its lexical translation table."""
    src, tgt = _check_corpus(src, tgt)
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
