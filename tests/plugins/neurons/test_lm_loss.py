"""Per-sentence LM loss (the measure of the interventions) against a slow obvious
computation: each sentence alone through the model's own ``*ForCausalLM`` /
``*ForMaskedLM`` forward and ``torch.nn.functional.cross_entropy``; batching, chunking
of the head, masking and the loading refusals."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
import torch

from interlingua.core.errors import InputError
from interlingua.plugins.neurons import lm_loss
from interlingua.plugins.neurons.lm_loss import (
    encode,
    load_loss_model,
    perplexity,
    sentence_losses,
)

SENTENCES = ["The quick brown fox jumps over the lazy dog .", "Hello world",
             "Привет , мир ! Это небольшое тестовое предложение .", "Der Hund",
             "مرحبا بالعالم ، هذه جملة اختبار صغيرة .", "你好 ， 世界 ！", "a"]


def _planted_module():
    spec = importlib.util.spec_from_file_location("neurons_test_lape",
                                                  Path(__file__).with_name("test_lape.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gemma(tmp_path_factory):
    """The planted tiny Gemma 3 of test_lape.py (a BOS token, tied head)."""
    return _planted_module().build_planted_gemma(tmp_path_factory.mktemp("lm") / "gemma")


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    from interlingua.plugins.extraction.models.tiny import build_tiny_model

    return build_tiny_model("gpt2", tmp_path_factory.mktemp("lm") / "gpt2")


def build_tiny_mlm(root: Path) -> tuple[Path, Path]:
    """Two tiny BERTs: the base model only (no MLM head) and one with an MLM head
    (random, but saved with the checkpoint)."""
    from transformers import BertConfig, BertForMaskedLM

    from interlingua.plugins.extraction.models.tiny import build_tiny_model

    base = build_tiny_model("bert", root / "bert-base")
    mlm = root / "bert-mlm"
    torch.manual_seed(3)
    BertForMaskedLM(BertConfig.from_pretrained(base)).eval().save_pretrained(mlm)
    for f in base.iterdir():
        if not f.name.startswith(("model", "config")):
            shutil.copy(f, mlm / f.name)
    return base, mlm


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return build_tiny_mlm(tmp_path_factory.mktemp("lm"))


def slow_causal(path, sentences):
    """Unbatched next-token NLL with the model's own forward and cross_entropy."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    out = []
    for s in sentences:
        enc = tok(s, return_special_tokens_mask=True)
        ids = torch.tensor([enc["input_ids"]])
        keep = ~torch.tensor(enc["special_tokens_mask"][1:], dtype=torch.bool)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1].double()
        out.append(float(torch.nn.functional.cross_entropy(
            logits[keep], ids[0, 1:][keep], reduction="sum")) if keep.any() else 0.0)
    return np.array(out), tok


@pytest.mark.parametrize("which", ["gemma", "gpt2"])
def test_causal_loss_matches_the_slow_computation(which, request, monkeypatch):
    path = request.getfixturevalue(which)
    expected, tok = slow_causal(path, SENTENCES)
    model = load_loss_model(str(path), device="cpu")
    assert model.objective == "causal" and model.meta["head_reloaded"] is False
    inputs = encode(model, SENTENCES)
    nll = sentence_losses(model, inputs, batch_size=3)
    assert nll.dtype == np.float64
    np.testing.assert_allclose(nll, expected, rtol=1e-5)
    # BOS (Gemma) is context only; GPT-2 has none, so its first token is never predicted.
    lengths = np.array([len(tok(s)["input_ids"]) for s in SENTENCES])
    assert inputs.tokens.tolist() == (lengths - 1).tolist()
    # The head in chunks of 3 rows, one sentence per batch: the same numbers.
    monkeypatch.setattr(lm_loss, "CHUNK_LOGITS", 3 * model.meta["vocab_size"])
    np.testing.assert_allclose(sentence_losses(model, inputs, batch_size=1), nll, rtol=1e-6)
    assert perplexity(nll, inputs.tokens) == pytest.approx(
        np.exp(expected.sum() / inputs.tokens.sum()), rel=1e-6)


def test_masked_loss_matches_the_slow_computation(bert):
    from transformers import AutoModelForMaskedLM

    model = load_loss_model(str(bert[1]), device="cpu")
    assert model.objective == "masked"
    tok = model.tokenizer
    inputs = encode(model, SENTENCES, seed=7)
    nll = sentence_losses(model, inputs, batch_size=4)
    slow = AutoModelForMaskedLM.from_pretrained(bert[1]).eval()
    for i, s in enumerate(SENTENCES):
        enc = tok(s, return_special_tokens_mask=True)
        ids = torch.tensor(enc["input_ids"])
        candidates = np.flatnonzero(~np.array(enc["special_tokens_mask"], dtype=bool))
        k = max(1, round(0.15 * candidates.size))
        pos = np.sort(np.random.default_rng([7, i]).choice(candidates, size=k, replace=False))
        assert inputs.positions[i].tolist() == pos.tolist()
        masked = ids.clone()
        masked[pos] = tok.mask_token_id
        with torch.no_grad():
            logits = slow(input_ids=masked[None]).logits[0].double()
        expected = torch.nn.functional.cross_entropy(logits[pos], ids[pos], reduction="sum")
        assert nll[i] == pytest.approx(float(expected), rel=1e-5)
    # Same positions on every call (every condition compared); other seed, other positions.
    again = encode(model, SENTENCES, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(again.ids, inputs.ids))
    other = encode(model, SENTENCES, seed=8)
    assert any(not np.array_equal(a, b) for a, b in zip(other.positions, inputs.positions))
    assert (inputs.tokens >= 1).all()
    half = encode(model, SENTENCES, seed=7, mask_fraction=0.5)
    assert half.tokens.sum() > inputs.tokens.sum()


def test_checkpoint_without_mlm_head_is_refused(bert):
    with pytest.raises(InputError, match="has no trained masked-LM head") as info:
        load_loss_model(str(bert[0]), device="cpu")
    assert "\n" not in str(info.value) and "cls.predictions" in str(info.value)


def test_e5_is_refused_as_it_has_no_mlm_head():
    from interlingua.plugins.extraction.models import e5_offline

    if e5_offline.unavailable_reason():
        pytest.skip(e5_offline.unavailable_reason())
    with pytest.raises(InputError, match="builtin:multilingual-e5-small' has no trained "
                                         "masked-LM head.*e5"):
        load_loss_model("builtin:multilingual-e5-small", device="cpu")


def test_wrong_objective_and_settings_are_refused(gpt2):
    with pytest.raises(InputError, match="is a decoder .*its objective is causal, not masked"):
        load_loss_model(str(gpt2), objective="masked", device="cpu")
    with pytest.raises(InputError, match="objective must be one of"):
        load_loss_model(str(gpt2), objective="mlm")
    model = load_loss_model(str(gpt2), device="cpu", max_length=4)
    inputs = encode(model, SENTENCES)
    assert inputs.n_truncated == sum(len(model.tokenizer(s)["input_ids"]) > 4
                                     for s in SENTENCES)
    assert max(len(i) for i in inputs.ids) == 4
    with pytest.raises(InputError, match="mask_fraction"):
        encode(model, SENTENCES, mask_fraction=0.0)
    with pytest.raises(InputError, match="batch_size"):
        sentence_losses(model, inputs, batch_size=0)
