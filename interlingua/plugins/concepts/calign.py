"""CALIGN — concept alignment across languages (seed 000 §2.2, §3.3).

For a source concept C_s and a target concept C_t, A(C_s, C_t) is the number of word
types w in C_s with at least one of their N-best dictionary translations in C_t. The
pair is aligned when

* ``A / |C_s| >= theta`` (θ_A = 0.8),
* both concepts have more than ``min_types`` word types (5), and
* their sizes differ by at most ``max_size_diff`` (40%), taken symmetrically:
  ``min(|C_s|, |C_t|) / max(|C_s|, |C_t|) >= 1 - max_size_diff``.

CALIGN = 100 x (source concepts aligned to at least one target concept) / (all source
concepts). |C| counts distinct word strings of the concept.

``variant="reference"`` reproduces the authors' released script
(``alignClusters.py``): strict inequalities (``A/|C_s| > theta``,
``|C_s| > min_types``, ``|C_s| / |C_t| > 1 - max_size_diff``), the size ratio is
one-sided, only |C_s| is checked against ``min_types``, and the N-best list is the
first N lines of the lexicon for that word (file order) rather than the N most
probable translations.

Vectorised with sparse incidence matrices: with A (source concepts x source words),
B (target concepts x target words) and D (source words x target words, 1 where the
target word is an N-best translation), the aligned-type counts of all concept pairs
are ``A @ [(D @ Bᵀ) > 0]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from interlingua.core.concepts import Concepts
from interlingua.core.dictionary import Dictionary
from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.params import Param

if TYPE_CHECKING:
    from scipy import sparse
from interlingua.core.result import MetricResult
from interlingua.registry import hookimpl

#: Tolerance of the threshold comparisons: ratios of small integers differ from a
#: decimal threshold either by 0 (up to rounding) or by far more than this.
_EPS = 1e-9


def concept_types(concepts: Any, role: str) -> tuple[list[int], list[list[str]]]:
    """Concept ids and the sorted distinct words of each concept.

    Accepts :class:`~interlingua.core.concepts.Concepts` or a mapping
    ``{concept_id: iterable of words}``.
    """
    if isinstance(concepts, Concepts):
        ids = list(concepts)
        return ids, [sorted(concepts[c].types) for c in ids]
    if isinstance(concepts, Mapping):
        ids = sorted(concepts)
        out = []
        for c in ids:
            words = concepts[c]
            if isinstance(words, str) or not isinstance(words, Iterable):
                raise InputError(
                    f"{role} concept {c!r}: expected a collection of words, got {words!r}"
                )
            out.append(sorted({str(w) for w in words}))
        if not ids:
            raise InputError(f"{role} concepts are empty")
        if any(not words for words in out):
            raise InputError(f"{role} concepts: every concept needs at least one word")
        return ids, out
    raise InputError(
        f"{role} concepts must be interlingua.Concepts or a mapping id -> words, "
        f"got {type(concepts).__name__}"
    )


def nbest_ranking(variant: str) -> str:
    """How CALIGN picks the N-best translations of a word, by ``variant``.

    Seed 000 §2.2 (``"paper"``) uses the N most probable translations
    (``"probability"``); the authors' ``alignClusters.py`` (``"reference"``) takes the
    first N lines of the lexicon for the word, in file order (``"order"``). The values
    are the ``by`` argument of :meth:`interlingua.core.dictionary.Dictionary.nbest`.
    """
    if variant not in ("paper", "reference"):
        raise InputError(f"variant must be 'paper' or 'reference', got {variant!r}")
    return "order" if variant == "reference" else "probability"


def rank_dictionary(dictionary: Any, nbest: int, variant: str) -> Any:
    """The N-best lists CALIGN uses, ranked once (e.g. for all layers of a model).

    Parameters
    ----------
    dictionary : Dictionary, mapping or pairs
        A :class:`~interlingua.core.dictionary.Dictionary` is ranked by
        :func:`nbest_ranking`; anything else (already ranked lists, pairs) is returned
        unchanged and ranked by :meth:`CAlign.compute`.
    nbest : int
        N translations per source word.
    variant : {"paper", "reference"}
        CALIGN variant.

    Returns
    -------
    dict or the input
        Source word → its N-best translations (a mapping :meth:`CAlign.compute` accepts
        as is).
    """
    if isinstance(dictionary, Dictionary):
        return dictionary.nbest(nbest, by=nbest_ranking(variant))
    return dictionary


def _as_nbest(dictionary: Any, words: list[str], n: int, by: str) -> list[list[str]]:
    """N-best translation lists of ``words`` (``by``: "probability" or "order")."""
    if isinstance(dictionary, Dictionary):
        pick = dictionary.translations if by == "probability" else dictionary.first
        return [pick(w, n) for w in words]
    if isinstance(dictionary, Mapping):
        out = []
        for w in words:
            cand = dictionary.get(w, ())
            out.append([cand] if isinstance(cand, str) else list(cand)[:n])
        return out
    if isinstance(dictionary, Iterable):
        return _as_nbest(Dictionary.from_pairs(dictionary), words, n, by)
    raise InputError(
        "dictionary must be an interlingua.Dictionary, a mapping word -> ranked "
        f"translations, or (src, tgt[, prob]) pairs; got {type(dictionary).__name__}"
    )


def _incidence(types: list[list[str]]) -> tuple[sparse.csr_matrix, dict[str, int]]:
    """Concepts x words 0/1 matrix and the word -> column index."""
    from scipy import sparse  # lazy: plugin modules load at `interlingua plugins` start-up

    vocab: dict[str, int] = {}
    cols = np.fromiter((vocab.setdefault(w, len(vocab)) for words in types for w in words),
                       dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum([len(words) for words in types])])
    data = np.ones(cols.size, dtype=np.int64)
    return sparse.csr_matrix((data, cols, indptr), shape=(len(types), len(vocab))), vocab


class CAlign(Metric):
    """Percentage of source-language concepts aligned to some target-language concept."""

    name: ClassVar[str] = "calign"
    summary: ClassVar[str] = (
        "CALIGN: % of source concepts whose words translate into one target concept (seed 000)"
    )
    input_kind: ClassVar[str] = "concepts"
    inputs: ClassVar[tuple[str, ...]] = ("concepts", "concepts", "dictionary")
    symmetric: ClassVar[bool] = False
    higher_is_more_similar: ClassVar[bool] = True
    value_range: ClassVar[tuple[float, float] | None] = (0.0, 100.0)
    params: ClassVar[tuple[Param, ...]] = (
        Param("theta", 0.8, "θ_A: share of a source concept's types that must translate", float),
        Param("nbest", 10, "N-best dictionary translations per source word", int),
        Param("min_types", 5, "concepts need MORE than this many word types", int),
        Param("max_size_diff", 0.4, "largest relative size difference of aligned concepts",
              float),
        Param("variant", "paper", "'paper' (seed 000 §2.2) or 'reference' (authors' script)",
              str, ("paper", "reference")),
    )

    def _check_params(self) -> None:
        if not 0.0 <= self.theta <= 1.0:
            raise InputError(f"theta must be in [0, 1], got {self.theta}")
        if self.nbest < 1:
            raise InputError(f"nbest must be >= 1, got {self.nbest}")
        if self.min_types < 0:
            raise InputError(f"min_types must be >= 0, got {self.min_types}")
        if not 0.0 <= self.max_size_diff <= 1.0:
            raise InputError(f"max_size_diff must be in [0, 1], got {self.max_size_diff}")

    def rank(self, dictionary: Any) -> Any:
        """``dictionary`` ranked into this metric's N-best lists once
        (:func:`rank_dictionary`), to reuse over many concept pairs."""
        self._check_params()
        return rank_dictionary(dictionary, self.nbest, self.variant)

    def compute(self, source: Any, target: Any, dictionary: Any) -> MetricResult:
        """CALIGN of ``source`` concepts against ``target`` concepts.

        Parameters
        ----------
        source, target : Concepts or mapping id -> words
            Concepts discovered independently in the source and target language.
        dictionary : Dictionary, mapping word -> ranked translations, or pairs
            Source -> target translation dictionary.

        Returns
        -------
        MetricResult
            ``value`` = CALIGN in percent; ``per_unit`` = aligned flag of each source
            concept (in ``details["source_ids"]`` order); ``details["pairs"]`` lists
            every aligned pair with its matched ``(source word, target word)`` pairs.
        """
        self._check_params()
        reference = self.variant == "reference"
        src_ids, src_types = concept_types(source, "source")
        tgt_ids, tgt_types = concept_types(target, "target")
        A, src_vocab = _incidence(src_types)
        B, tgt_vocab = _incidence(tgt_types)
        src_words = list(src_vocab)
        nbest = _as_nbest(dictionary, src_words, self.nbest, nbest_ranking(self.variant))

        from scipy import sparse

        # D[w, v] = 1 when target word v is among the N-best translations of w.
        get = tgt_vocab.get
        cols = np.fromiter((get(t, -1) for cands in nbest for t in cands), dtype=np.int64)
        rows = np.repeat(np.arange(len(nbest)), [len(cands) for cands in nbest])
        known = cols >= 0  # translations that occur in some target concept
        D = sparse.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.int64), (rows[known], cols[known])),
            shape=(len(src_vocab), len(tgt_vocab)),
        )
        D.sum_duplicates()
        # H[w, t] = 1 when w has at least one N-best translation inside target concept t.
        H = (D @ B.T).tocsr()
        H.data = (H.data > 0).astype(np.int64)
        counts = np.asarray((A @ H).todense(), dtype=np.int64)  # (n_src, n_tgt)

        size_s = np.asarray(A.sum(axis=1)).ravel().astype(np.float64)
        size_t = np.asarray(B.sum(axis=1)).ravel().astype(np.float64)
        ratio = counts / size_s[:, None]
        min_size_ratio = 1.0 - self.max_size_diff
        if reference:
            ok = ratio > self.theta + _EPS
            ok &= (size_s > self.min_types)[:, None]
            ok &= (size_s[:, None] / size_t[None, :]) > min_size_ratio + _EPS
        else:
            ok = ratio >= self.theta - _EPS
            ok &= (size_s > self.min_types)[:, None] & (size_t > self.min_types)[None, :]
            sizes_min = np.minimum(size_s[:, None], size_t[None, :])
            sizes_max = np.maximum(size_s[:, None], size_t[None, :])
            ok &= sizes_min / sizes_max >= min_size_ratio - _EPS
        aligned_src = ok.any(axis=1)
        n_src = len(src_ids)
        value = 100.0 * aligned_src.sum() / n_src

        pairs = []
        src_pos = {w: i for i, w in enumerate(src_words)}
        for i, j in zip(*np.nonzero(ok)):
            tset = set(tgt_types[j])
            matches = []
            for w in src_types[i]:
                hit = next((t for t in nbest[src_pos[w]] if t in tset), None)
                if hit is not None:
                    matches.append([w, hit])
            pairs.append({
                "source": src_ids[i],
                "target": tgt_ids[j],
                "aligned_types": int(counts[i, j]),
                "source_types": int(size_s[i]),
                "target_types": int(size_t[j]),
                "ratio": float(ratio[i, j]),
                "matches": matches,
            })
        best = {}
        masked = np.where(ok, ratio, -1.0)
        for i in np.flatnonzero(aligned_src):
            best[str(src_ids[i])] = tgt_ids[int(np.argmax(masked[i]))]
        eligible = size_s > self.min_types
        covered = np.asarray(D.sum(axis=1)).ravel() > 0
        details = {
            "variant": self.variant,
            "n_source_concepts": n_src,
            "n_target_concepts": len(tgt_ids),
            "n_aligned": int(aligned_src.sum()),
            "n_eligible_source": int(eligible.sum()),
            "percent_of_eligible": (
                100.0 * aligned_src.sum() / eligible.sum() if eligible.any() else 0.0
            ),
            "n_aligned_pairs": len(pairs),
            "source_ids": src_ids,
            "best_target": best,
            "dictionary_coverage": float(covered.mean()) if covered.size else 0.0,
            "pairs": pairs,
        }
        return MetricResult(value=value, per_unit=aligned_src, details=details)


@hookimpl
def register_metrics(register):
    register(CAlign)
