"""Word aggregation and sentence pooling of a batch (``forward.pool_layers``)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from interlingua.plugins.extraction import forward  # noqa: E402
from interlingua.plugins.extraction.words import TokenizedSentence  # noqa: E402


def _batch(seed: int = 0, width: int = 12):
    """Sentences with special tokens (-1), multi-token words, and right padding."""
    rng = np.random.default_rng(seed)
    toks = []
    for i, n_words in enumerate([3, 5, 1, 4]):
        spans = rng.integers(1, 4, size=n_words)  # tokens per word
        token_word = np.concatenate([[-1], np.repeat(np.arange(n_words), spans), [-1]])
        n = len(token_word)
        assert n <= width
        toks.append(TokenizedSentence(index=i, ids=list(range(n)), token_word=token_word,
                                      kept=list(range(n_words)), truncated=False))
    states = [torch.from_numpy(rng.normal(size=(len(toks), width, 6)).astype(np.float32))
              for _ in range(3)]
    mask = torch.zeros(len(toks), width, dtype=torch.int64)
    for r, tok in enumerate(toks):
        mask[r, :len(tok.ids)] = 1
    return toks, states, mask


def _slow_means(toks, states):
    """Word means and mean-of-words sentence rows, one word at a time in float64."""
    words, sents = [], []
    for h in states:
        h = h.numpy().astype(np.float64)
        layer_words, layer_sents = [], []
        for r, tok in enumerate(toks):
            hr = h[r, :len(tok.token_word)]
            rows = [hr[tok.token_word == w].mean(axis=0) for w in range(len(tok.kept))]
            layer_words += rows
            layer_sents.append(np.mean(rows, axis=0))
        words.append(layer_words)
        sents.append(layer_sents)
    return np.array(words), np.array(sents)


@pytest.mark.parametrize("sparse", [True, False])
def test_word_means_match_a_slow_loop(sparse, monkeypatch):
    if not sparse:  # the fallback where sparse CSR products are unavailable
        monkeypatch.setattr(forward, "_averaging_matrix", lambda *a, **k: None)
    toks, states, mask = _batch()
    words, sents, counts = forward.pool_layers(states, mask, toks, 0, word_aggregation="mean",
                                               sentence_pooling="mean")
    exp_words, exp_sents = _slow_means(toks, states)
    assert counts == [3, 5, 1, 4]
    np.testing.assert_allclose(words.numpy(), exp_words, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sents.numpy(), exp_sents, rtol=1e-6, atol=1e-6)


def test_averaging_matrix_rows_sum_to_one():
    toks, _, _ = _batch(seed=3)
    word_row, positions, offset = [], [], 0
    for r, tok in enumerate(toks):
        pos = np.flatnonzero(tok.token_word >= 0)
        positions.append(r * 12 + pos)
        word_row.append(tok.token_word[pos] + offset)
        offset += len(tok.kept)
    word_row = np.concatenate(word_row)
    matrix = forward._averaging_matrix(word_row, np.concatenate(positions),
                                       np.bincount(word_row), 4 * 12, torch.device("cpu"))
    dense = matrix.to_dense().numpy()
    np.testing.assert_allclose(dense.sum(axis=1), 1.0, rtol=1e-6)
    assert (dense[:, ::12] == 0).all()  # special tokens at position 0 belong to no word
