"""The language of a token, for the logit lens (Wendler et al. 2024 report the share of
top-1 tokens that are English vs the input language; this is how we decide it).

A token is decoded (whitespace and case dropped); then, in this order:

1. no letters, a special token, or a whole tag (``<h1>``, ``<start_of_image>``: markup
   and control tokens some tokenizers do not flag as special) → ``nonword``;
2. letters of a script that English does not use (the majority script of the token's
   letters, from the Unicode character names: CYRILLIC, ARABIC, CJK, ...) → the corpus
   languages written in that script (a script is a language's when it covers ≥ 5 % of
   the letters of its side of the corpus): the input language if it is one of them,
   else ``other``;
3. a Latin token seen in the corpus (tokenized with the model's tokenizer) → the
   languages in whose sides its relative frequency is within a factor
   :data:`DOMINANCE` (2) of the highest: English alone → ``en`` (English at least
   twice as frequent as in any other side: "markedly more"); English with others →
   ``unknown`` ("in", "was": en and de); without English → the input language if it
   is one of them ("la": fr and es, for French or Spanish input), else ``other``;
4. a Latin token unseen in the corpus, with non-ASCII letters (é, ü, ñ, ß ...) → the
   non-English languages whose side contains all of those letters (English is taken to
   be written in ASCII letters): as in rule 3; none → ``other``;
5. anything else (an ASCII token unseen in the corpus) → ``unknown``.

Limits: tokens, not words, are classified, so pieces shared by English and another
language ("in", "a", "was") stay ``unknown``, and a piece shared by the input language
and another one counts as the input language; Latin tokens absent from the corpus are
``unknown`` (the larger the corpus, the fewer), which under-counts English for words
its English side never uses (and leaves the many code and word-fragment tokens of
middle layers undecided); languages sharing a script (ar/fa, ru/uk) are not told apart
— a token of the input language's script counts as the input language; byte-level
pieces of a multi-byte character decode to U+FFFD and count as ``nonword``; the table
is built from the very sentences analysed; and English is recognised only with an
English side in the corpus (without one ``share_en`` is reported as null).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Categories of a top-1 token (see the module docstring); the shares sum to 1.
CATEGORIES = ("en", "lang", "other", "nonword", "unknown")
#: A Latin token belongs to the language where it is this many times more frequent.
DOMINANCE = 2.0
#: A script is a language's when it covers at least this share of its letters.
MIN_SCRIPT_SHARE = 0.05
#: A whole markup / control token: "<h1>", "<start_of_image>", "</s>".
_TAG = re.compile(r"^</?[^<>\s]+>$")


def _script(ch: str) -> str:
    """First word of the Unicode name of a letter: LATIN, CYRILLIC, ARABIC, CJK, ..."""
    return unicodedata.name(ch, "UNKNOWN").split(" ")[0]


def _letters(text: str) -> list[str]:
    return [c for c in text if c.isalpha()]


class TokenLanguages:
    """The language of a token, from its script and a frequency table of the corpus
    (rules and limits in the module docstring).

    Parameters
    ----------
    tokenizer : transformers tokenizer
        Decodes token ids.
    token_ids : mapping of str -> iterable of sequence of int
        Per language, the token ids of its sentences (the model's tokenization).
    texts : mapping of str -> iterable of str
        Per language, its sentences (for its scripts and letters).
    english : str
        Code of the English side (need not be among the languages).
    dominance : float
        Rule 3's "markedly more" factor.
    """

    def __init__(self, tokenizer: Any, token_ids: Mapping[str, Iterable[Sequence[int]]],
                 texts: Mapping[str, Iterable[str]], *, english: str = "en",
                 dominance: float = DOMINANCE) -> None:
        self.tokenizer = tokenizer
        self.english = english
        self.dominance = float(dominance)
        self._keys: dict[int, str] = {}
        self._labels: dict[int, tuple[str, frozenset[str]]] = {}
        self.special = set(getattr(tokenizer, "all_special_ids", []) or [])
        for tid, added in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
            if getattr(added, "special", False):
                self.special.add(int(tid))
        self.scripts: dict[str, set[str]] = {}
        self.letters: dict[str, set[str]] = {}
        for lang, sentences in texts.items():
            letters = Counter(c.lower() for s in sentences for c in _letters(
                unicodedata.normalize("NFC", s)))
            total = sum(letters.values()) or 1
            by_script: Counter[str] = Counter()
            for c, n in letters.items():
                by_script[_script(c)] += n
            self.scripts[lang] = {s for s, n in by_script.items() if n / total >= MIN_SCRIPT_SHARE}
            floor = max(2, 1e-4 * total)
            self.letters[lang] = {c for c, n in letters.items() if n >= floor}
        self.english_scripts = self.scripts.get(english) or {"LATIN"}
        self.counts: dict[str, Counter[str]] = {}
        self.totals: dict[str, int] = {}
        for lang, seqs in token_ids.items():
            ids: Counter[int] = Counter(i for seq in seqs for i in seq if i not in self.special)
            keys: Counter[str] = Counter()
            for i, n in ids.items():
                keys[self.key(i)] += n
            self.counts[lang] = keys
            self.totals[lang] = sum(ids.values()) or 1

    @property
    def languages(self) -> list[str]:
        return list(self.counts)

    def key(self, token_id: int) -> str:
        """The token decoded, NFC, stripped of whitespace, lower case."""
        tid = int(token_id)
        key = self._keys.get(tid)
        if key is None:
            text = self.tokenizer.decode([tid], skip_special_tokens=False,
                                         clean_up_tokenization_spaces=False)
            key = unicodedata.normalize("NFC", text).replace("▁", " ").strip().lower()
            self._keys[tid] = key
        return key

    def label(self, token_id: int) -> tuple[str, frozenset[str]]:
        """``("nonword", ∅)``, ``("unknown", ∅)`` or ``("known", languages)``: the
        languages it may belong to (empty: a language outside the corpus)."""
        tid = int(token_id)
        found = self._labels.get(tid)
        if found is None:
            found = self._label(tid)
            self._labels[tid] = found
        return found

    def _label(self, tid: int) -> tuple[str, frozenset[str]]:
        key = self.key(tid)
        letters = _letters(key)
        if tid in self.special or not letters or _TAG.match(key):
            return "nonword", frozenset()
        script = Counter(_script(c) for c in letters).most_common(1)[0][0]
        if script not in self.english_scripts:  # rule 2
            return "known", frozenset(lang for lang, s in self.scripts.items() if script in s)
        freqs = {lang: self.counts[lang][key] / self.totals[lang] for lang in self.counts}
        top = max(freqs.values(), default=0.0)
        if top > 0:  # rule 3
            # The top side, and any side more than 1/dominance as frequent.
            return "known", frozenset(lang for lang, f in freqs.items()
                                      if f == top or f * self.dominance > top)
        marked = {c for c in letters if ord(c) > 127}
        if marked:  # rule 4
            return "known", frozenset(lang for lang, have in self.letters.items()
                                      if lang != self.english and marked <= have)
        return "unknown", frozenset()  # rule 5

    def category(self, token_id: int, lang: str) -> str:
        """One of :data:`CATEGORIES` for a top-1 token on input in ``lang``."""
        status, langs = self.label(token_id)
        if status != "known":
            return status
        if self.english in langs:  # English, or English and another language
            return "en" if len(langs) == 1 else "unknown"
        return "lang" if lang in langs else "other"


__all__ = ["CATEGORIES", "DOMINANCE", "MIN_SCRIPT_SHARE", "TokenLanguages"]
