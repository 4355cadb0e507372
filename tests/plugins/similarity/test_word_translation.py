"""Procrustes word translation P@k with cosine and CSLS (seed 002 §5.1)."""

import numpy as np
import pytest

from interlingua.core.dictionary import Dictionary
from interlingua.core.errors import InputError
from interlingua.plugins.similarity.word_translation import evaluate_word_translation


def _vocab(seed=0, n=300, d=20, noise=0.05):
    rng = np.random.default_rng(seed)
    S = rng.normal(size=(n, d))
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    perm = rng.permutation(n)
    T = np.empty_like(S)
    T[perm] = S @ Q + noise * rng.normal(size=(n, d))
    src = [f"s{i}" for i in range(n)]
    tgt = [f"t{i}" for i in range(n)]
    pairs = [(f"s{i}", f"t{perm[i]}") for i in range(n)]
    return S, src, T, tgt, pairs


def brute_precision(M, T, gold, k, csls_k=None):
    A = M / np.linalg.norm(M, axis=1, keepdims=True)
    B = T / np.linalg.norm(T, axis=1, keepdims=True)
    S = A @ B.T
    if csls_k:
        r_t = np.sort(S, axis=1)[:, -csls_k:].mean(1)
        r_s = np.sort(S, axis=0)[-csls_k:, :].mean(0)
        S = 2 * S - r_t[:, None] - r_s[None, :]
    q = sorted(gold)
    top = np.argsort(-S[q], axis=1, kind="stable")[:, :k]
    return np.mean([bool(set(row) & gold[i]) for i, row in zip(q, top)])


def test_recovers_a_rotated_vocabulary():
    S, src, T, tgt, pairs = _vocab()
    res = evaluate_word_translation(S, src, T, tgt, pairs[:200], pairs[200:])
    assert res.precision["cosine"][1] == 1.0 and res.precision["csls"][1] == 1.0
    assert res.n_train_pairs == 200 and res.n_test_words == 100
    base = evaluate_word_translation(S, src, T, tgt, pairs[:200], pairs[200:],
                                     aligner="identity")
    assert base.precision["cosine"][10] < 0.3
    assert res.to_dict()["precision"]["csls"]["p@5"] == 1.0


def test_matches_brute_force_on_a_noisy_map():
    S, src, T, tgt, pairs = _vocab(1, n=200, noise=1.5)
    train = Dictionary.from_pairs(pairs[:120])
    test = [*pairs[120:], ("s130", "t0")]  # a second gold translation for s130
    res = evaluate_word_translation(S, src, T, tgt, train, test, iternorm=2,
                                    max_block_mb=0.01)
    from interlingua.plugins.similarity.procrustes import iterative_normalization

    Sn, _ = iterative_normalization(S, 2)
    Tn, _ = iterative_normalization(T, 2)
    si = {w: i for i, w in enumerate(src)}
    ti = {w: i for i, w in enumerate(tgt)}
    X = Sn[[si[s] for s, _ in pairs[:120]]]
    Y = Tn[[ti[t] for _, t in pairs[:120]]]
    u, _, vt = np.linalg.svd(X.T @ Y)
    M = Sn @ (u @ vt)
    gold = {}
    for s, t in test:
        gold.setdefault(si[s], set()).add(ti[t])
    for k in (1, 5, 10):
        assert res.precision["cosine"][k] == pytest.approx(brute_precision(M, Tn, gold, k))
        assert res.precision["csls"][k] == pytest.approx(brute_precision(M, Tn, gold, k, 10))
    assert 0 < res.precision["cosine"][1] < 1


def test_skips_unknown_words_and_reports_errors():
    S, src, T, tgt, pairs = _vocab()
    res = evaluate_word_translation(S, src, T, tgt, [*pairs[:50], ("zz", "t1")],
                                    [*pairs[50:60], ("s1", "qq")], methods=("cosine",))
    assert res.skipped_train == 1 and res.skipped_test == 1
    assert set(res.precision) == {"cosine"}
    with pytest.raises(InputError, match="must match"):
        evaluate_word_translation(S, src[:-1], T, tgt, pairs, pairs)
    with pytest.raises(InputError, match="training pairs"):
        evaluate_word_translation(S, src, T, tgt, [("x", "y")], pairs)
    with pytest.raises(InputError, match="methods"):
        evaluate_word_translation(S, src, T, tgt, pairs, pairs, methods=("l2",))
