"""Word-translation evaluation with an orthogonal map (seed 002 §5.1.1–§5.1.2).

Fit an aligner (Procrustes by default) on the vectors of a training dictionary's
word pairs, map every source word into the target space, and retrieve target words
for held-out source words by plain cosine and by CSLS (Conneau et al. 2018). A test
source word counts as correct at k if *any* of its gold translations is among its
top-k retrieved target words (P@1 / P@5 / P@10).

Both vocabularies may first be iteratively normalised (Zhang et al. 2019;
``iternorm`` rounds of unit-length rows and column centring, then unit length), as
seed 002 does before Procrustes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Aligner
from interlingua.core.validation import check_matrix

__all__ = ["WordTranslationResult", "evaluate_word_translation"]


@dataclass
class WordTranslationResult:
    """Precision at k per retrieval method, e.g. ``precision["csls"][1]``."""

    precision: dict[str, dict[int, float]]
    n_train_pairs: int
    n_test_words: int
    skipped_train: int
    skipped_test: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": {m: {f"p@{k}": v for k, v in p.items()}
                          for m, p in self.precision.items()},
            "n_train_pairs": self.n_train_pairs,
            "n_test_words": self.n_test_words,
            "skipped_train": self.skipped_train,
            "skipped_test": self.skipped_test,
            **self.details,
        }


def _pairs(pairs: Any) -> list[tuple[str, str]]:
    # A Dictionary iterates as (src, tgt, prob); plain tuples as (src, tgt[, prob]).
    out = []
    for item in pairs:
        if len(item) < 2:
            raise InputError(f"dictionary entry {item!r} is not a (source, target) pair")
        out.append((str(item[0]), str(item[1])))
    return out


def _index(words: Sequence[str], name: str) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(str(w), i)  # first occurrence wins for duplicated words
    if not index:
        raise InputError(f"{name} vocabulary is empty")
    return index


def evaluate_word_translation(
    src_vectors: Any,
    src_words: Sequence[str],
    tgt_vectors: Any,
    tgt_words: Sequence[str],
    train: Iterable,
    test: Iterable,
    *,
    aligner: Aligner | str = "procrustes",
    iternorm: int = 0,
    ks: Sequence[int] = (1, 5, 10),
    methods: Sequence[str] = ("cosine", "csls"),
    csls_k: int = 10,
    max_block_mb: float = 256.0,
) -> WordTranslationResult:
    """Procrustes word translation: P@k by cosine and CSLS on held-out pairs.

    Parameters
    ----------
    src_vectors, tgt_vectors : array-like (n_src, p), (n_tgt, q)
        One vector per vocabulary word (e.g. mean activation of each word type).
    src_words, tgt_words : sequence of str
        The vocabularies, row-aligned with the vectors.
    train, test : Dictionary or iterable of (source, target[, prob]) pairs
        Training pairs (to fit the map) and gold test pairs. Pairs with a word outside
        the vocabularies are skipped and counted.
    aligner : Aligner or str
        A fitted-on-the-fly aligner instance or registered name (``"identity"`` gives
        the no-alignment baseline).
    iternorm : int
        Rounds of iterative normalisation applied to both full vocabularies first
        (0 = none; 5 in Zhang et al.).
    ks : sequence of int
        Cut-offs of P@k.
    methods : sequence of {"cosine", "csls"}
        Retrieval criteria.
    csls_k : int
        CSLS neighbourhood size.

    Returns
    -------
    WordTranslationResult
    """
    from interlingua.plugins.similarity.procrustes import iterative_normalization
    from interlingua.plugins.similarity.retrieval import (
        knn_mean_similarity,
        retrieve_topk,
        unit_rows,
    )
    from interlingua.registry import get_aligner

    S = check_matrix(src_vectors, "src_vectors")
    T = check_matrix(tgt_vectors, "tgt_vectors")
    if len(src_words) != S.shape[0] or len(tgt_words) != T.shape[0]:
        raise InputError(
            f"{len(src_words)} source words for {S.shape[0]} vectors and {len(tgt_words)} "
            f"target words for {T.shape[0]} vectors; they must match"
        )
    bad = [m for m in methods if m not in ("cosine", "csls")]
    if bad or not methods:
        raise InputError(f"methods must be 'cosine' and/or 'csls', got {list(methods)}")
    if not ks or min(ks) < 1:
        raise InputError(f"ks must be positive integers, got {list(ks)}")
    si, ti = _index(src_words, "source"), _index(tgt_words, "target")
    train_pairs, test_pairs = _pairs(train), _pairs(test)
    train_ok = [(si[s], ti[t]) for s, t in train_pairs if s in si and t in ti]
    gold: dict[int, set[int]] = {}
    skipped_test = 0
    for s, t in test_pairs:
        if s in si and t in ti:
            gold.setdefault(si[s], set()).add(ti[t])
        else:
            skipped_test += 1
    if len(train_ok) < 2:
        raise InputError(
            f"only {len(train_ok)} training pairs have both words in the vocabularies"
        )
    if not gold:
        raise InputError("no test pair has both words in the vocabularies")
    if iternorm > 0:
        S, _ = iterative_normalization(S, iternorm)
        T, _ = iterative_normalization(T, iternorm)
    al = get_aligner(aligner) if isinstance(aligner, str) else aligner
    src_idx = np.array([a for a, _ in train_ok])
    tgt_idx = np.array([b for _, b in train_ok])
    al.fit(S[src_idx], T[tgt_idx])
    mapped = unit_rows(al.transform(S))
    targets = unit_rows(T)
    if mapped.shape[1] != targets.shape[1]:
        raise InputError(
            f"the aligner maps to {mapped.shape[1]} dimensions but targets have "
            f"{targets.shape[1]}"
        )
    queries = np.array(sorted(gold))
    kmax = max(ks)
    precision: dict[str, dict[int, float]] = {}
    for method in methods:
        r_a = r_b = None
        if method == "csls":
            # r_T over all targets for each query; r_S over all mapped source words.
            r_a = knn_mean_similarity(mapped[queries], targets, csls_k, max_block_mb=max_block_mb)
            r_b = knn_mean_similarity(targets, mapped, csls_k, max_block_mb=max_block_mb)
        top = retrieve_topk(mapped[queries], targets, kmax, r_a=r_a, r_b=r_b,
                            max_block_mb=max_block_mb)
        hits = np.array([[t in gold[q] for t in row] for q, row in zip(queries, top)])
        precision[method] = {int(k): float(hits[:, :k].any(axis=1).mean()) for k in ks}
    return WordTranslationResult(
        precision=precision,
        n_train_pairs=len(train_ok),
        n_test_words=int(queries.size),
        skipped_train=len(train_pairs) - len(train_ok),
        skipped_test=skipped_test,
        details={"iternorm": iternorm, "csls_k": csls_k,
                 "aligner": getattr(al, "name", type(al).__name__)},
    )
