"""The ``hf`` extractor on a decoder-only Gemma 3 model (tiny, random, built locally).

The tokenizer behaves like Gemma's: spaces become "▁" inside tokens (offsets include
the leading space), a lone "▁" token precedes words the vocabulary cannot glue it to,
``<bos>`` is prepended, padding side is left. The reference runs the model on each
sentence alone (no padding) and maps tokens to words from the offsets with its own
code (not :mod:`interlingua.plugins.extraction.words`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import interlingua as il  # noqa: E402
from interlingua.core.errors import InputError  # noqa: E402
from interlingua.core.store import ActivationStore  # noqa: E402
from interlingua.plugins.extraction.corpus import Corpus, CorpusSentence  # noqa: E402
from interlingua.plugins.extraction.models.tiny import SAMPLE_SENTENCES  # noqa: E402

SENTENCES = [
    "Hello world , this is a small test sentence .",
    "Привет , мир ! Это небольшое тестовое предложение .",
    "مرحبا بالعالم ، هذه جملة اختبار صغيرة .",
    "你好 ， 世界 ！ 这 是 一个 小 测试 句子 。",
    "naïve ❤ café, «glued» (words) end.",  # unknown characters: lone "▁" tokens
    "Der schnelle braune Fuchs springt über den faulen Hund und die Katze schläft .",
    "short",
    "Hi !",
]


def build_tiny_gemma(path: Path, *, layers: int = 3, seed: int = 0) -> Path:
    """A random Gemma 3 text model with a Gemma-like BPE tokenizer, saved to ``path``."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    # Trained on whitespace-split words ("▁" only at a word start, never merged across
    # words), then run like Gemma's: spaces -> "▁", no pre-tokenization.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
    tok.train_from_iterator(list(SAMPLE_SENTENCES) * 20, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"]))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    tok.decoder = decoders.Replace("▁", " ")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", 2)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>",
                                        eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
                                        padding_side="left", model_max_length=128)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
        num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
        query_pre_attn_scalar=16, max_position_embeddings=128,
        sliding_window=4,  # shorter than most sentences: sliding attention is exercised
        layer_types=["sliding_attention"] * (layers - 1) + ["full_attention"],
        pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )
    torch.manual_seed(seed)
    model = Gemma3ForCausalLM(config).eval()
    with torch.no_grad():  # larger weights than the 0.02 init: activations worth comparing
        for p in model.parameters():
            p.mul_(10.0 if p.dim() > 1 else 1.0)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def gemma_dir(tmp_path_factory) -> Path:
    return build_tiny_gemma(tmp_path_factory.mktemp("tiny-gemma") / "gemma")


def corpus() -> Corpus:
    return Corpus([CorpusSentence(words=s.split(), lang="x", pair_id=i)
                   for i, s in enumerate(SENTENCES)])


def extract(model_dir, tmp_path, name="out.h5", **params) -> ActivationStore:
    params.setdefault("progress", False)
    ex = il.get_extractor("hf", model=str(model_dir), **params)
    return ActivationStore.open(ex.extract(corpus(), tmp_path / name, overwrite=True))


# -- the independent reference ----------------------------------------------------------
def token_words(text: str, words: list[str], offsets, special) -> list[int]:
    """Word of each token: the word holding its first non-space character; a token of
    spaces only belongs to the next word; special tokens to none (-1)."""
    spans, pos = [], 0
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    out = []
    for (s, e), sp in zip(offsets, special):
        if sp:
            out.append(-1)
            continue
        while s < e and text[s] == " ":
            s += 1
        out.append(next(i for i, (_, b) in enumerate(spans) if s < b))
    return out


@functools.lru_cache(maxsize=4)
def _load(model_dir: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return (AutoTokenizer.from_pretrained(model_dir),
            AutoModelForCausalLM.from_pretrained(model_dir).eval())


def reference(model_dir, sentences, agg="mean", pooling="mean"):
    """{layer: (word rows, sentence rows)}, one unpadded sentence at a time."""
    tok, model = _load(str(model_dir))
    out: dict[str, tuple[list, list]] = {}
    with torch.no_grad():
        for words in sentences:
            text = " ".join(words)
            enc = tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
            tw = np.array(token_words(text, words, enc["offset_mapping"],
                                      enc["special_tokens_mask"]))
            assert tw[0] == -1 and (tw[1:] >= 0).all()  # <bos> is no word, the rest are
            assert sorted(set(tw[1:])) == list(range(len(words)))
            hs = model.model(input_ids=torch.tensor([enc["input_ids"]]),
                             output_hidden_states=True).hidden_states
            for i, h in enumerate(hs):
                states = h[0].double().numpy()
                rows = []
                for w in range(len(words)):
                    block = states[tw == w]
                    rows.append({"mean": block.mean(0), "first": block[0],
                                 "last": block[-1]}[agg])
                rows = np.stack(rows)
                sent = {"mean": rows.mean(0), "mean-tokens": states.mean(0),
                        "cls": states[0], "last": states[-1]}[pooling]
                entry = out.setdefault(str(i), ([], []))
                entry[0].append(rows)
                entry[1].append(sent)
    return {k: (np.concatenate(v[0]), np.stack(v[1])) for k, v in out.items()}


def assert_close_rel(got, ref, rtol, what):
    """Every row within ``rtol`` of the reference row's norm."""
    err = np.linalg.norm(got - ref, axis=-1)
    scale = np.maximum(np.linalg.norm(ref, axis=-1), 1e-6)
    assert (err / scale).max() <= rtol, f"{what}: max relative error {(err / scale).max():.3g}"


# -- tests ------------------------------------------------------------------------------
def test_tokenizer_is_gemma_like(gemma_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gemma_dir)
    assert tok.padding_side == "left" and tok.pad_token == "<pad>"
    text = "naïve ❤ café"
    enc = tok(text, return_offsets_mapping=True)
    pieces = tok.convert_ids_to_tokens(enc["input_ids"])
    assert pieces[0] == "<bos>"
    assert "▁" in pieces  # a lone space marker ...
    lone = pieces.index("▁")
    assert token_words(text, text.split(), enc["offset_mapping"], [1] + [0] * (
        len(pieces) - 1))[lone] == 1  # ... belongs to the next word ("❤")
    assert any(text[a] == " " for a, b in enc["offset_mapping"][1:] if b > a)


COMBOS = [("mean", "mean"), ("first", "mean-tokens"), ("last", "last"), ("mean", "cls")]


@pytest.mark.parametrize(("agg", "pooling"), COMBOS)
def test_rows_match_unpadded_forward(gemma_dir, tmp_path, agg, pooling):
    words = [s.split() for s in SENTENCES]
    st = extract(gemma_dir, tmp_path, word_aggregation=agg, sentence_pooling=pooling,
                 batch_size=3)
    ref = reference(gemma_dir, words, agg, pooling)
    assert st.layers == ["0", "1", "2", "3"]  # embeddings + one per block
    assert st.attrs["architecture"] == "decoder"
    assert list(st.words.text) == [w for ws in words for w in ws]
    for name, (ref_words, ref_sents) in ref.items():
        assert_close_rel(st.layer(name)[:], ref_words, 1e-5, f"{agg} words {name}")
        assert_close_rel(st.layer(name, "sentences")[:], ref_sents, 1e-5,
                         f"{pooling} sentences {name}")
    st.close()


def test_padded_batches_equal_one_sentence_at_a_time(gemma_dir, tmp_path):
    # The tokenizer pads on the left, the extractor pads on the right itself: positions
    # stay 0..n-1 per sentence, whatever the batch.
    one = extract(gemma_dir, tmp_path, "b1.h5", batch_size=1)
    many = extract(gemma_dir, tmp_path, "b16.h5", batch_size=16)
    for name in one.layers:
        for level in ("words", "sentences"):
            np.testing.assert_allclose(many.layer(name, level)[:], one.layer(name, level)[:],
                                       rtol=1e-5, atol=1e-6, err_msg=f"{name} {level}")
    one.close()
    many.close()


def test_last_layer_is_the_final_norm_output(gemma_dir, tmp_path):
    """Layer N = final RMSNorm(residual after block N); layers < N are raw residuals."""
    tok, model = _load(str(gemma_dir))
    ids = torch.tensor([tok(SENTENCES[0])["input_ids"]])
    captured = {}
    hook = model.model.layers[-1].register_forward_hook(
        lambda mod, args, out: captured.setdefault("raw", out[0] if isinstance(out, tuple)
                                                   else out))
    with torch.no_grad():
        hs = model.model(input_ids=ids, output_hidden_states=True).hidden_states
        hook.remove()
        normed = model.model.norm(captured["raw"])
    assert len(hs) == model.config.num_hidden_layers + 1
    torch.testing.assert_close(hs[-1], normed)
    assert not torch.allclose(hs[-1], captured["raw"])


def test_bfloat16_model_dtype_is_close(gemma_dir, tmp_path):
    ref = extract(gemma_dir, tmp_path, "fp32.h5")
    low = extract(gemma_dir, tmp_path, "bf16.h5", model_dtype="bfloat16")
    assert low.attrs["model_dtype"] == "bfloat16"
    for name in ref.layers:
        got = low.layer(name)[:]
        assert got.dtype == np.float32  # cast to the store dtype
        want = ref.layer(name)[:]
        rel = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert rel < 5e-2, (name, rel)
    ref.close()
    low.close()


def test_float16_is_refused_before_any_work(gemma_dir, tmp_path):
    for params, hint in [({"dtype": "float16"}, "store with dtype float32"),
                         ({"model_dtype": "float16"}, "use model_dtype bfloat16 or float32")]:
        ex = il.get_extractor("hf", model=str(gemma_dir), progress=False, **params)
        with pytest.raises(InputError, match=hint) as info:
            ex.extract(corpus(), tmp_path / "f16.h5")
        assert "\n" not in str(info.value) and "gemma3_text" in str(info.value)
        assert not (tmp_path / "f16.h5").exists()


def test_bos_and_lone_space_markers_in_the_word_map(gemma_dir):
    from transformers import AutoTokenizer

    from interlingua.plugins.extraction.words import tokenize_window

    tok = AutoTokenizer.from_pretrained(gemma_dir)
    items = [CorpusSentence(words=s.split(), lang="x") for s in SENTENCES]
    for item, t in zip(items, tokenize_window(tok, items, 0, prefix="", max_length=128)):
        text = " ".join(item.words)
        enc = tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        assert t.ids == enc["input_ids"]
        expected = token_words(text, item.words, enc["offset_mapping"],
                               enc["special_tokens_mask"])
        assert t.token_word.tolist() == expected, text


def test_the_base_model_runs_without_lm_head(gemma_dir):
    from interlingua.plugins.extraction.loading import load_model

    loaded = load_model(str(gemma_dir), device="cpu")
    assert type(loaded.model).__name__ == "Gemma3TextModel"  # no 262k-wide logits
    assert not hasattr(loaded.model, "lm_head")
    assert loaded.n_layers == {"": 4} and loaded.architecture == "decoder"
    assert loaded.pad_id == 0 and loaded.max_length == 128
