"""The ``neurox`` extractor: NeuroX's extractor imported into a store, or an install hint."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import interlingua as il
from interlingua.core.errors import InputError, PluginError
from interlingua.core.store import ActivationStore
from interlingua.plugins.extraction.corpus import Corpus, CorpusSentence
from interlingua.plugins.extraction.neurox import INSTALL_HINT, NeuroXExtractor

HAS_NEUROX = importlib.util.find_spec("neurox") is not None


def corpus() -> Corpus:
    texts = [("en", "Hello world , this is a test ."), ("ru", "Привет , мир !"),
             ("ar", "مرحبا بالعالم"), ("zh", "你好 世界"), ("en", "Hello world again")]
    return Corpus([CorpusSentence(words=t.split(), lang=lang, pair_id=i % 2,
                                  target=0 if i == 0 else -1)
                   for i, (lang, t) in enumerate(texts)])


def test_unavailable_path_gives_the_install_hint(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "neurox" else real(name, *a))
    reason = NeuroXExtractor.unavailable_reason()
    assert reason is not None and INSTALL_HINT in reason
    assert "pip install --no-deps neurox==1.0.9 imbalanced-learn" in reason
    with pytest.raises(PluginError, match="no-deps"):
        NeuroXExtractor(model="x").extract(corpus(), tmp_path / "x.h5")
    names = [p.name for p in il.list_plugins("extractor")]
    assert "neurox" in names


@pytest.mark.skipif(not HAS_NEUROX, reason=f"NeuroX not installed ({INSTALL_HINT})")
@pytest.mark.parametrize("agg", ["last", "mean"])
def test_neurox_run_is_imported_and_matches_hf(tiny_bert, tmp_path, agg):
    pytest.importorskip("torch")
    assert NeuroXExtractor.unavailable_reason() is None
    ex = il.get_extractor("neurox", model=str(tiny_bert), word_aggregation=agg, progress=False,
                          chunk_size=2)
    out = ex.extract(corpus(), tmp_path / "nx.h5")
    hf = il.get_extractor("hf", model=str(tiny_bert), word_aggregation=agg, progress=False)
    ref = hf.extract(corpus(), tmp_path / "hf.h5")
    with ActivationStore.open(out) as st, ActivationStore.open(ref) as r:
        assert st.attrs["extractor"] == "neurox" and st.layers == r.layers
        assert list(st.sentences.lang) == ["en", "ru", "ar", "zh", "en"]
        assert list(st.sentences.pair_id) == [0, 1, 0, 1, 0]
        assert st.target_rows()[1].tolist() == [0]
        assert list(st.words.text) == list(r.words.text)
        # BERT WordPiece: NeuroX's alignment is right, so both extractors agree
        for name in st.layers:
            np.testing.assert_allclose(st.layer(name)[:], r.layer(name)[:], atol=1e-5)
            np.testing.assert_allclose(st.layer(name, "sentences")[:],
                                       r.layer(name, "sentences")[:], atol=1e-5)


@pytest.mark.skipif(not HAS_NEUROX, reason=f"NeuroX not installed ({INSTALL_HINT})")
def test_neurox_refuses_pickles_and_seq2seq(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "pytorch_model.bin").write_bytes(b"not really")
    with pytest.raises(InputError, match="allow_pickle"):
        NeuroXExtractor(model=str(tmp_path / "m"), progress=False).extract(corpus(),
                                                                            tmp_path / "x.h5")
    with pytest.raises(InputError, match="not a local directory"):
        NeuroXExtractor(model="org/model", progress=False).extract(corpus(), tmp_path / "x.h5")
    c = Corpus([CorpusSentence(words=["a"], lang="en", source=["b"])])
    with pytest.raises(InputError, match="sequence-to-sequence"):
        NeuroXExtractor(model="x", progress=False).extract(c, tmp_path / "y.h5")
