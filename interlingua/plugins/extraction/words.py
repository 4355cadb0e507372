"""Tokens → words: the subword-to-word mapping of the extractors (pure numpy).

The sentence is the words joined by single spaces (as a user would type it), preceded by
the optional text ``prefix`` (e.g. e5's ``"passage: "``). Each token of the fast
tokenizer is assigned, from its character offsets, to the word holding its first
non-space character; a token made only of a space marker (SentencePiece "▁", byte-level
"Ġ") belongs to the next word; special tokens and prefix tokens belong to no word.

This is exact for WordPiece, SentencePiece and byte-level BPE alike — unlike NeuroX's
"prefix a letter" detokenizer, which misaligns SentencePiece vocabularies, and unlike
``is_split_into_words``, which silently glues words together for byte-level BPE
tokenizers created without ``add_prefix_space`` (and drops spaces for Gemma's).
This mapping feeds the word-level activations of seed 000 §3.2 and seed 003 §4.3.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from interlingua.core.errors import InputError


@dataclass
class TokenizedSentence:
    """One sentence after tokenization and word mapping.

    Attributes
    ----------
    index : int
        Position in the corpus.
    ids : list of int
        Token ids (special tokens included).
    token_word : numpy.ndarray
        Per token: index into ``kept``, or -1 (special token or prefix).
    kept : list of int
        Indices of the sentence's words that have at least one token.
    truncated : bool
        The tokenizer cut the sentence at ``max_length``.
    source_ids : list of int, optional
        Sequence-to-sequence conditioning input (None = the sentence itself).
    """

    index: int
    ids: list[int]
    token_word: np.ndarray
    kept: list[int]
    truncated: bool
    source_ids: list[int] | None = None

    @property
    def n_tokens(self) -> int:
        """Number of tokens (special tokens included)."""
        return len(self.ids)


def _char_word_map(prefix: str, words: Sequence[str]) -> tuple[str, np.ndarray, list[int]]:
    """Joined text, per-character word index (-1 space, -2 prefix) and word starts."""
    text = prefix + " ".join(words)
    cmap = np.full(len(text), -1, dtype=np.int64)
    cmap[: len(prefix)] = -2
    starts = []
    pos = len(prefix)
    for i, w in enumerate(words):
        starts.append(pos)
        cmap[pos : pos + len(w)] = i
        pos += len(w) + 1
    # Whitespace inside the prefix behaves like a separator (so "▁" after "passage:"
    # belongs to the first word).
    for j, ch in enumerate(prefix):
        if ch.isspace():
            cmap[j] = -1
    return text, cmap, starts


def map_tokens_to_words(
    offsets: Sequence[tuple[int, int]],
    special: Sequence[int],
    cmap: np.ndarray,
) -> np.ndarray:
    """Word index of every token (-1 = special token or part of the prefix).

    A token belongs to the word of its first character that lies inside a word; a
    token covering only separator spaces (a lone "▁" or "Ġ") belongs to the next word;
    a zero-width token belongs to the word at (or after) its position.

    Parameters
    ----------
    offsets : sequence of (int, int)
        The fast tokenizer's character offsets, one pair per token.
    special : sequence of int
        The special-tokens mask (1 = special token).
    cmap : numpy.ndarray
        Per character of the joined text: word index, -1 (space) or -2 (prefix), as
        built by :func:`_char_word_map`.

    Returns
    -------
    numpy.ndarray
        int64, one word index per token.
    """
    n_chars = len(cmap)
    off = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    starts = np.clip(off[:, 0], 0, n_chars)
    ends = np.clip(off[:, 1], 0, n_chars)
    positions = np.arange(n_chars + 1)
    # first_word[c] / first_prefix[c]: first position >= c holding a word / prefix char
    # (n_chars if none), via a reversed running minimum.
    word_pos = np.where(np.append(cmap >= 0, True), positions, n_chars)
    first_word = np.minimum.accumulate(word_pos[::-1])[::-1]
    prefix_pos = np.where(np.append(cmap == -2, True), positions, n_chars)
    first_prefix = np.minimum.accumulate(prefix_pos[::-1])[::-1]
    word_of = np.append(cmap, -1)  # position n_chars = "no word"
    p = first_word[starts]
    out = word_of[p]  # the first word char at/after the start: inside the token, or next
    has_prefix = (first_prefix[starts] < ends) & (p >= ends)
    out = np.where(has_prefix, -1, out)
    out = np.where(np.asarray(special, dtype=bool), -1, out)
    return out.astype(np.int64)


def tokenize_window(
    tokenizer: Any,
    sentences: Sequence[Any],
    first_index: int,
    *,
    prefix: str,
    max_length: int,
    seq2seq: bool = False,
) -> list[TokenizedSentence]:
    """Tokenize sentences and map their tokens to words (see the module docstring).

    Parameters
    ----------
    tokenizer : transformers fast tokenizer
        Must return offsets (``return_offsets_mapping``).
    sentences : sequence of CorpusSentence
        Anything with ``words`` (and, for ``seq2seq``, ``source``).
    first_index : int
        Corpus position of ``sentences[0]``.
    prefix : str
        Text put before every sentence, never part of a word.
    max_length : int
        Truncation limit in tokens (special tokens included).
    seq2seq : bool
        Also tokenize each sentence's ``source`` (the encoder input of a teacher-forced
        target).

    Returns
    -------
    list of TokenizedSentence
    """
    texts, maps = [], []
    for s in sentences:
        text, cmap, _ = _char_word_map(prefix, s.words)
        texts.append(text)
        maps.append(cmap)
    enc = tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_length,
                    return_offsets_mapping=True, return_special_tokens_mask=True,
                    return_attention_mask=False, return_token_type_ids=False)
    sources: list[list[int] | None] = [None] * len(sentences)
    if seq2seq:
        need = [i for i, s in enumerate(sentences) if getattr(s, "source", None) is not None]
        if need:
            src_texts = [prefix + " ".join(sentences[i].source) for i in need]
            src = tokenizer(src_texts, add_special_tokens=True, truncation=True,
                            max_length=max_length, return_attention_mask=False,
                            return_token_type_ids=False)
            for j, i in enumerate(need):
                sources[i] = list(src["input_ids"][j])
    out = []
    for i, s in enumerate(sentences):
        token_word = map_tokens_to_words(enc["offset_mapping"][i], enc["special_tokens_mask"][i],
                                         maps[i])
        present = np.unique(token_word[token_word >= 0])
        renumber = np.full(len(s.words), -1, dtype=np.int64)
        renumber[present] = np.arange(present.size)
        token_word = np.where(token_word >= 0, renumber[np.maximum(token_word, 0)], -1)
        truncated = len(enc.encodings[i].overflowing) > 0
        out.append(TokenizedSentence(first_index + i, list(enc["input_ids"][i]), token_word,
                                     present.tolist(), truncated, sources[i]))
    return out


def check_kept(tok: TokenizedSentence, item: Any) -> None:
    """A sentence must keep at least one word (one line saying why not)."""
    if tok.kept:
        return
    where = getattr(item, "origin", None) or f"sentence {tok.index}"
    if tok.truncated:
        raise InputError(
            f"{where}: no word of {item.text[:60]!r} fits within max_length "
            "after the prefix; increase max_length or shorten the prefix"
        )
    raise InputError(
        f"{where}: no tokens after the tokenizer's normalisation: "
        f"{item.text[:60]!r} holds only characters the tokenizer drops; "
        "delete the line or fix its text"
    )


def count_lost_words(tok: TokenizedSentence, item: Any, counts: dict[str, int]) -> None:
    """Add the words of ``item`` that ``tok`` lost to ``counts`` (in place).

    Parameters
    ----------
    tok : TokenizedSentence
        The tokenized sentence.
    item : CorpusSentence
        The sentence as read (``words``, ``target``).
    counts : dict
        ``n_truncated_sentences``, ``n_truncated_words`` (cut off at ``max_length``),
        ``n_untokenized_words`` (no tokens at all) and ``n_dropped_targets``.
    """
    missing = len(item.words) - len(tok.kept)
    if tok.truncated:
        counts["n_truncated_sentences"] += 1
        # words after the last kept one were cut off; gaps before it had no tokens at all
        last = tok.kept[-1] if tok.kept else -1
        cut = len(item.words) - 1 - last
        counts["n_truncated_words"] += cut
        counts["n_untokenized_words"] += missing - cut
    else:
        counts["n_untokenized_words"] += missing
    if item.target >= 0 and item.target not in set(tok.kept):
        counts["n_dropped_targets"] += 1


__all__ = ["TokenizedSentence", "check_kept", "count_lost_words", "map_tokens_to_words",
           "tokenize_window"]
