"""Tiny random-weight models for offline tests, demos and benchmarks.

:func:`build_tiny_model` writes a Hugging Face model directory (safetensors weights +
fast tokenizer) for one of four architectures, each with a tokenizer trained locally
on a few built-in multilingual sentences (Latin, Cyrillic, Arabic and Chinese script):

=========  ==================  ================================
kind       model class         tokenizer
=========  ==================  ================================
``bert``   ``BertModel``       WordPiece (BERT normalizer)
``xlmr``   ``XLMRobertaModel`` SentencePiece-style Unigram
``gpt2``   ``GPT2Model``       byte-level BPE
``t5``     ``T5Model``         SentencePiece-style Unigram
=========  ==================  ================================

The weights are random (seeded): useful to test plumbing, not to analyse.
"""

from __future__ import annotations

import os
from pathlib import Path

from interlingua.core.errors import InputError

KINDS = ("bert", "xlmr", "gpt2", "t5")

SAMPLE_SENTENCES = (
    "The quick brown fox jumps over the lazy dog .",
    "Hello world , this is a small test sentence .",
    "Привет , мир ! Это небольшое тестовое предложение .",
    "Быстрая коричневая лиса прыгает через ленивую собаку .",
    "مرحبا بالعالم ، هذه جملة اختبار صغيرة .",
    "الثعلب البني السريع يقفز فوق الكلب الكسول .",
    "你好 ， 世界 ！ 这 是 一个 小 测试 句子 。",
    "敏捷 的 棕色 狐狸 跳过 了 懒 狗 。",
    "Hola mundo , esta es una pequeña frase de prueba .",
    "Der schnelle braune Fuchs springt über den faulen Hund .",
)


def _corpus(repeat: int = 20) -> list[str]:
    return list(SAMPLE_SENTENCES) * repeat


def _train_unigram(specials: list[str], unk: str, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials,
                                      unk_token=unk)
    tok.train_from_iterator(_corpus(), trainer)
    return tok


def _tokenizer(kind: str, workdir: Path):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if kind == "bert":
        from transformers import BertTokenizer

        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(
            vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        )
        tok.train_from_iterator(_corpus(), trainer)
        vocab = dict(sorted(tok.get_vocab().items(), key=lambda kv: kv[1]))
        # transformers 5 ignores ``vocab_file=``; the vocabulary must be passed as ``vocab=``.
        return BertTokenizer(vocab=vocab, do_lower_case=True)
    if kind == "xlmr":
        from transformers import XLMRobertaTokenizerFast

        tok = _train_unigram(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<unk>", 250)
        path = workdir / "xlmr-tokenizer.json"
        tok.save(str(path))
        return XLMRobertaTokenizerFast(tokenizer_file=str(path))
    if kind == "gpt2":
        from transformers import GPT2TokenizerFast

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(_corpus(), trainer)
        path = workdir / "gpt2-tokenizer.json"
        tok.save(str(path))
        return GPT2TokenizerFast(tokenizer_file=str(path), eos_token="<|endoftext|>",
                                 bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    if kind == "t5":
        from tokenizers import processors
        from transformers import T5TokenizerFast

        tok = _train_unigram(["<pad>", "</s>", "<unk>"], "<unk>", 250)
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
        )
        path = workdir / "t5-tokenizer.json"
        tok.save(str(path))
        return T5TokenizerFast(tokenizer_file=str(path), extra_ids=0, eos_token="</s>",
                               pad_token="<pad>", unk_token="<unk>")
    raise InputError(f"unknown tiny model kind {kind!r}; choose from {', '.join(KINDS)}")


def build_tiny_model(
    kind: str,
    path: str | os.PathLike,
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    seed: int = 0,
) -> Path:
    """Write a tiny random model of ``kind`` (see the module table) to ``path``.

    Returns
    -------
    Path
        The model directory (``from_pretrained``-loadable, safetensors weights).
    """
    import torch
    import transformers as tf

    if kind not in KINDS:
        raise InputError(f"unknown tiny model kind {kind!r}; choose from {', '.join(KINDS)}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(kind, path)
    # A finite limit, so that truncation (ours and NeuroX's) knows the position budget.
    tokenizer.model_max_length = 512 if kind == "t5" else 128
    vocab = len(tokenizer)
    common = dict(hidden_size=hidden, num_attention_heads=heads, intermediate_size=2 * hidden)
    if kind == "bert":
        config = tf.BertConfig(vocab_size=vocab, num_hidden_layers=layers,
                               max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
                               **common)
        cls = tf.BertModel
    elif kind == "xlmr":
        config = tf.XLMRobertaConfig(vocab_size=vocab, num_hidden_layers=layers,
                                     max_position_embeddings=130,
                                     pad_token_id=tokenizer.pad_token_id,
                                     bos_token_id=tokenizer.cls_token_id,
                                     eos_token_id=tokenizer.sep_token_id, **common)
        cls = tf.XLMRobertaModel
    elif kind == "gpt2":
        config = tf.GPT2Config(vocab_size=vocab, n_embd=hidden, n_layer=layers, n_head=heads,
                               n_positions=128, bos_token_id=tokenizer.eos_token_id,
                               eos_token_id=tokenizer.eos_token_id)
        cls = tf.GPT2Model
    else:
        config = tf.T5Config(vocab_size=vocab, d_model=hidden, d_kv=hidden // heads,
                             d_ff=2 * hidden, num_layers=layers, num_heads=heads,
                             pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id,
                             decoder_start_token_id=tokenizer.pad_token_id)
        cls = tf.T5Model
    torch.manual_seed(seed)
    model = cls(config).eval()
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    for leftover in path.glob("*-tokenizer.json"):
        leftover.unlink()
    return path


__all__ = ["KINDS", "SAMPLE_SENTENCES", "build_tiny_model"]
