"""The logit lens (``interlingua.plugins.neurons.logit_lens``) and ``interlingua logit-lens``.

Tiny random GPT-2 and Gemma 3 models are built locally (Gemma with the helper of the
``hf`` decoder tests). The references are independent: ``AutoModelForCausalLM`` loaded
again from the directory, each sentence run alone, and the lens computed per layer with
a full float64 softmax in numpy.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from interlingua.cli import main  # noqa: E402
from interlingua.core.errors import InputError  # noqa: E402
from interlingua.plugins.extraction.models import gemma_offline  # noqa: E402
from interlingua.plugins.extraction.models.tiny import (  # noqa: E402
    SAMPLE_SENTENCES,
    build_tiny_model,
)
from interlingua.plugins.neurons.logit_lens import (  # noqa: E402
    CATEGORIES,
    TokenLanguages,
    load_lens_model,
    logit_lens,
)

HERE = Path(__file__).resolve()
DATA = {"en": list(SAMPLE_SENTENCES[:2]), "ru": list(SAMPLE_SENTENCES[2:4]),
        "ar": list(SAMPLE_SENTENCES[4:6]), "de": [SAMPLE_SENTENCES[9]]}


def _decoder_helpers():
    """tests/plugins/extraction/test_hf_decoder.py (build_tiny_gemma), loaded by path."""
    path = HERE.parents[1] / "extraction" / "test_hf_decoder.py"
    spec = importlib.util.spec_from_file_location("_hf_decoder_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _variant(src: Path, dst: Path, *, scale: float = 1.0, softcap: float | None = None,
             untied: bool = False) -> Path:
    """``src`` saved again as a causal LM with random norm weights and biases (the
    built models' norms are identity maps at init, so applying one twice would go
    unnoticed), matrices times ``scale``, optionally soft-capped or with its own head."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(src, tie_word_embeddings=not untied)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 1:
                param.add_(0.5 * torch.randn(param.shape, generator=gen))
            elif not (untied and name == "lm_head.weight"):
                param.mul_(scale)
        if untied:  # its own head: random, not the input embedding
            model.lm_head.weight.copy_(torch.randn(model.lm_head.weight.shape, generator=gen))
    if softcap is not None:
        model.config.final_logit_softcapping = softcap
    model.save_pretrained(dst)
    for f in src.iterdir():  # the tokenizer files
        if f.is_file() and f.suffix != ".safetensors" and "config.json" not in f.name:
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """gpt2 (tied head), gemma, gemma-softcap (final_logit_softcapping) and gemma-untied
    (its own lm_head: loaded from the checkpoint, not wrapped around the base model)."""
    import transformers as tf

    root = tmp_path_factory.mktemp("lens-models")
    gpt2 = build_tiny_model("gpt2", root / "gpt2-init")
    gemma = _decoder_helpers().build_tiny_gemma(root / "gemma-init")
    out = {"gpt2": _variant(gpt2, root / "gpt2", scale=10.0),
           "gemma": _variant(gemma, root / "gemma"),
           "gemma-softcap": _variant(gemma, root / "gemma-softcap", softcap=3.0),
           "gemma-untied": _variant(gemma, root / "gemma-untied", untied=True)}
    # Heads that scale their logits (with GPT-2's tokenizer): Cohere x logit_scale,
    # Granite / logits_scaling.
    common = dict(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128,
                  tie_word_embeddings=True)
    for kind, config in (("cohere", tf.CohereConfig(logit_scale=0.25, **common)),
                         ("granite", tf.GraniteConfig(logits_scaling=4.0, **common))):
        torch.manual_seed(0)
        model = tf.AutoModelForCausalLM.from_config(config)
        model.save_pretrained(root / f"{kind}-init")
        for f in gpt2.iterdir():
            if f.is_file() and f.suffix != ".safetensors" and "config.json" not in f.name:
                (root / f"{kind}-init" / f.name).write_bytes(f.read_bytes())
        out[kind] = _variant(root / f"{kind}-init", root / kind, scale=10.0)
    return out


@functools.lru_cache(maxsize=8)
def lens_model(path: str):
    return load_lens_model(path, device="cpu")


@functools.lru_cache(maxsize=8)
def reference_model(path: str):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).eval()


# -- the last layer is the model's own output -----------------------------------------
@pytest.mark.parametrize("kind", ["gpt2", "gemma", "gemma-softcap", "gemma-untied",
                                  "cohere", "granite"])
def test_last_layer_is_the_models_output_distribution(models, kind):
    lm = lens_model(str(models[kind]))
    ref = reference_model(str(models[kind]))
    assert lm.meta["head_reloaded"] is (kind == "gemma-untied")
    assert lm.meta["final_logit_softcapping"] == (3.0 if kind == "gemma-softcap" else None)
    assert lm.meta["logit_scale"] == {"cohere": 0.25, "granite": 0.25}.get(kind)
    assert lm.last_state_post_norm  # hidden_states[-1] is already normed by transformers
    for text in (SAMPLE_SENTENCES[0], SAMPLE_SENTENCES[3], SAMPLE_SENTENCES[5]):
        ids = torch.tensor([lm.tokenizer(text)["input_ids"]])
        with torch.no_grad():
            real = ref(input_ids=ids).logits[0].double()
        lens = torch.from_numpy(lm.sentence_logits(text, -1)).double()
        np.testing.assert_allclose(torch.softmax(lens, -1), torch.softmax(real, -1),
                                   atol=1e-6)
        if kind == "gemma-softcap":
            assert real.abs().max() <= 3.0
        # The test has teeth: normalising the last hidden state twice moves the logits.
        with torch.no_grad():
            out = lm.base(input_ids=ids, output_hidden_states=True)
            twice = lm.head_logits(lm.norm(out.hidden_states[-1]))[0].double()
        assert not torch.allclose(torch.softmax(twice, -1), torch.softmax(real, -1),
                                  atol=1e-3)


# -- every number against a slow, obvious computation -----------------------------------
def _reference(path: Path, data: dict[str, list[str]]):
    """Per language: per-position (layer, prob, rank, top, target, entropy) rows, the
    final norm and head applied in float64 numpy with a full softmax."""
    ref = reference_model(str(path))
    tok = lens_model(str(path)).tokenizer
    base = ref.base_model
    norm = base.ln_f if hasattr(base, "ln_f") else base.norm
    w = ref.lm_head.weight.detach().double().numpy()
    cap = getattr(ref.config, "final_logit_softcapping", None)
    out: dict[str, list[tuple]] = {}
    for lang, sentences in data.items():
        rows = []
        for text in sentences:
            enc = tok(text, return_special_tokens_mask=True)
            ids, special = enc["input_ids"], enc["special_tokens_mask"]
            with torch.no_grad():
                out_ = base(input_ids=torch.tensor([ids]), output_hidden_states=True)
                hs = out_.hidden_states
                # Already normed by transformers: the last layer is read without a norm.
                assert torch.equal(hs[-1], out_.last_hidden_state)
                n = len(hs)
                for layer in range(n):
                    h = hs[layer] if layer == n - 1 else norm(hs[layer])
                    z = h[0].double().numpy() @ w.T
                    if cap is not None:
                        z = np.tanh(z / cap) * cap
                    z = z - z.max(axis=1, keepdims=True)
                    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
                    for t in range(len(ids) - 1):
                        if special[t + 1]:
                            continue
                        target = ids[t + 1]
                        entropy = -(p[t] * np.log(p[t] + 1e-300)).sum()
                        rows.append((layer, p[t, target], 1 + (z[t] > z[t, target]).sum(),
                                     int(np.argmax(z[t])), target, entropy))
        out[lang] = rows
    return out


@pytest.mark.parametrize("kind", ["gpt2", "gemma-softcap", "gemma-untied"])
def test_metrics_equal_a_slow_numpy_reference(models, kind):
    lm = lens_model(str(models[kind]))
    res = logit_lens(lm, DATA, batch_size=2)  # padded batches of unequal sentences
    assert res.layers == [str(i) for i in range(lm.n_states)]
    langs = TokenLanguages(lm.tokenizer, {k: [lm.tokenizer(s)["input_ids"] for s in v]
                                          for k, v in DATA.items()}, DATA)
    for lang, rows in _reference(models[kind], DATA).items():
        for layer in res.layers:
            mine = res.stats[lang][layer]
            sel = [r for r in rows if r[0] == int(layer)]
            prob, rank, top, target, entropy = (np.array(c) for c in list(zip(*sel))[1:])
            assert mine["n"] == len(sel)
            assert mine["prob"] == pytest.approx(prob.mean(), abs=1e-6)
            assert mine["rank_mean"] == pytest.approx(rank.mean())
            assert mine["rank_median"] == pytest.approx(np.median(rank))
            assert mine["top1"] == pytest.approx((top == target).mean())
            assert mine["entropy"] == pytest.approx(entropy.mean(), abs=1e-4)
            cats = [langs.category(t, lang) for t in top]
            for c in CATEGORIES:
                expected = cats.count(c) / len(sel)
                if c == "lang" and lang == "en":
                    expected = cats.count("en") / len(sel)
                assert mine[f"share_{c}"] == pytest.approx(expected), (lang, layer, c)
            assert sum(mine[f"share_{c}"] for c in CATEGORIES if c != "lang" or lang != "en") \
                == pytest.approx(1.0)


def test_layers_subset_batching_and_no_english_side(models):
    lm = lens_model(str(models["gemma"]))
    full = logit_lens(lm, DATA, batch_size=8)
    part = logit_lens(lm, DATA, layers="0,-1", batch_size=1)
    assert part.layers == ["0", "3"]
    for lang in DATA:
        for layer in part.layers:
            for key in ("prob", "rank_mean", "top1", "entropy", "share_en"):
                assert part.stats[lang][layer][key] == pytest.approx(
                    full.stats[lang][layer][key], abs=1e-6)
    no_en = logit_lens(lm, {"ru": DATA["ru"], "de": DATA["de"]}, layers=[0])
    assert no_en.stats["ru"]["0"]["share_en"] is None
    assert no_en.meta["heuristic"]["english_in_corpus"] is False
    with pytest.raises(InputError, match="out of range"):
        logit_lens(lm, DATA, layers="7")
    with pytest.raises(InputError, match="no sentences"):
        logit_lens(lm, {"en": ["   "]})
    with pytest.raises(InputError, match="batch_size"):
        logit_lens(lm, DATA, batch_size=0)
    rows = full.rows()
    assert len(rows) == len(DATA) * 4 and rows[0]["language"] == "en"
    assert json.loads(json.dumps(full.to_dict()))["results"]["ru"]["2"]["n"] > 0


def test_encoders_are_refused_in_one_line(tiny_bert):
    with pytest.raises(InputError, match="decoder-only causal LM") as err:
        load_lens_model(str(tiny_bert), device="cpu")
    assert "\n" not in str(err.value)


# -- the language of a token ----------------------------------------------------------------
class FakeTokenizer:
    """Token id = index in ``vocab``; id 0 is a special token."""

    def __init__(self, vocab: list[str]) -> None:
        self.vocab = vocab
        self.all_special_ids = [0]
        self.added_tokens_decoder: dict = {}

    def decode(self, ids, **_):
        return "".join(self.vocab[i] for i in ids)

    def ids(self, text: str) -> list[int]:
        return [self.vocab.index(w) for w in text.split()]


VOCAB = ["<bos>", "▁the", "▁The", "▁house", "▁und", "▁Haus", "▁in", "▁дом", "▁и", "بيت",
         "▁la", "▁maison", "▁y", "▁casa", ",", "▁12", "▁grün", "▁søster", "▁xyzzy", "家",
         "ه", "▁é", "▁is", "▁ist", "�", "<h1>", "<start_of_image>", "▁de", "▁el"]


def languages(**texts: str) -> TokenLanguages:
    tok = FakeTokenizer(VOCAB)
    ids = {lang: [tok.ids(t)] for lang, t in texts.items()}
    # Letters of each side: the words themselves (plus a German ü, French é).
    plain = {lang: t.replace("▁", " ") for lang, t in texts.items()}
    for lang, letters in (("de", " über über"), ("fr", " été été")):
        if lang in plain:
            plain[lang] += letters
    return TokenLanguages(tok, ids, plain)


CORPUS = {
    "en": "▁The ▁house ▁is ▁in ▁the ▁house ▁the",
    "de": "▁Haus ▁und ▁Haus ▁ist ▁in",
    "fr": "▁la ▁maison ▁la ▁de",
    "es": "▁la ▁casa ▁la ▁de ▁el",
    "ru": "▁дом ▁и ▁дом",
    "ar": "بيت ه",
    "fa": "بيت",
}


@pytest.mark.parametrize("token, lang, expected", [
    ("<bos>", "en", "nonword"), (",", "de", "nonword"), ("▁12", "ru", "nonword"),
    ("<h1>", "en", "nonword"), ("<start_of_image>", "ru", "nonword"),  # tags
    ("�", "ru", "nonword"),  # a byte-level piece of a character
    ("▁the", "de", "en"), ("▁The", "ru", "en"), ("▁the", "en", "en"),  # case folded
    ("▁house", "ar", "en"), ("▁is", "fr", "en"),
    ("▁Haus", "de", "lang"), ("▁und", "de", "lang"), ("▁und", "fr", "other"),
    ("▁ist", "en", "other"),
    ("▁in", "de", "unknown"),  # as frequent in the English as in the German side
    ("▁in", "ru", "unknown"),  # English or German: cannot tell
    ("▁la", "fr", "lang"), ("▁la", "es", "lang"),  # shared by fr and es, not English
    ("▁la", "de", "other"), ("▁la", "en", "other"),
    ("▁de", "fr", "lang"), ("▁el", "fr", "other"), ("▁el", "es", "lang"),
    ("▁xyzzy", "de", "unknown"),  # ASCII, never seen: cannot tell
    ("▁дом", "ru", "lang"), ("▁дом", "de", "other"), ("▁дом", "en", "other"),
    ("▁и", "ru", "lang"), ("▁и", "en", "other"),  # Cyrillic: the script decides
    ("بيت", "ar", "lang"), ("بيت", "fa", "lang"),  # same script: not told apart
    ("ه", "fa", "lang"), ("بيت", "ru", "other"),
    ("家", "ru", "other"),  # a script no corpus language uses
    ("▁grün", "de", "lang"), ("▁grün", "fr", "other"),  # unseen, ü only in German
    ("▁é", "fr", "lang"), ("▁é", "en", "other"),  # é: French side only
    ("▁søster", "de", "other"),  # ø: no side has it
])
def test_token_language_rules(token, lang, expected):
    langs = languages(**CORPUS)
    assert langs.category(VOCAB.index(token), lang) == expected


def test_token_language_tables():
    langs = languages(**CORPUS)
    assert langs.scripts["ru"] == {"CYRILLIC"} and langs.scripts["ar"] == {"ARABIC"}
    assert langs.scripts["en"] == {"LATIN"}
    assert langs.key(VOCAB.index("▁The")) == langs.key(VOCAB.index("▁the")) == "the"
    assert langs.label(VOCAB.index("▁und")) == ("known", frozenset({"de"}))
    assert langs.label(VOCAB.index("▁in")) == ("known", frozenset({"en", "de"}))
    assert langs.label(VOCAB.index("▁la")) == ("known", frozenset({"fr", "es"}))
    assert langs.label(VOCAB.index("▁xyzzy")) == ("unknown", frozenset())
    # "markedly more": twice the relative frequency (en 1/7 vs de 1/5 for "in": no).
    exact = languages(en="▁in ▁the", de="▁in ▁Haus ▁und ▁ist")
    assert exact.category(VOCAB.index("▁in"), "de") == "en"  # 1/2 = 2 × 1/4
    below = languages(en="▁in ▁the ▁the", de="▁in ▁Haus ▁und ▁ist")
    assert below.category(VOCAB.index("▁in"), "de") == "unknown"  # 1/3 < 2 × 1/4


def test_without_an_english_side_latin_tokens_are_not_english():
    langs = languages(de=CORPUS["de"], ru=CORPUS["ru"])
    assert langs.category(VOCAB.index("▁the"), "ru") == "unknown"
    assert langs.category(VOCAB.index("▁Haus"), "ru") == "other"


# -- the command ----------------------------------------------------------------------------
def run(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture()
def corpus(tmp_path) -> Path:
    rows = ["en\tru\tde"] + [f"{SAMPLE_SENTENCES[i]}\t{SAMPLE_SENTENCES[2 + i]}\t"
                             f"{SAMPLE_SENTENCES[9] if i == 0 else 'Hallo Welt .'}"
                             for i in range(2)]
    path = tmp_path / "par.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_command_end_to_end(models, corpus, tmp_path, capsys):
    out = tmp_path / "lens"
    model = models["gemma-softcap"]
    assert run("logit-lens", model, corpus, "-o", out, "--quiet", "--batch-size", "1",
               "--device", "cpu") == 0
    shown = capsys.readouterr().out
    assert "logit lens of" in shown and "lens.png" in shown
    data = json.loads((out / "lens.json").read_text(encoding="utf-8"))
    sentences = {"en": list(SAMPLE_SENTENCES[:2]), "ru": list(SAMPLE_SENTENCES[2:4]),
                 "de": [SAMPLE_SENTENCES[9], "Hallo Welt ."]}
    api = logit_lens(lens_model(str(model)), sentences, batch_size=1)
    assert data["layers"] == api.layers and data["languages"] == ["en", "ru", "de"]
    for lang in sentences:
        for layer in api.layers:
            mine, theirs = data["results"][lang][layer], api.stats[lang][layer]
            for key in ("n", "prob", "rank_mean", "rank_median", "top1", "entropy",
                        *(f"share_{c}" for c in CATEGORIES)):
                assert mine[key] == pytest.approx(theirs[key], rel=1e-12), (lang, layer, key)
    lines = (out / "lens.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("language,layer,n,prob,") and len(lines) == 1 + 3 * 4
    assert (out / "lens.png").stat().st_size > 1000
    # Existing outputs are refused before any work; -f replaces them.
    before = (out / "lens.json").stat().st_mtime_ns
    assert run("logit-lens", model, corpus, "-o", out, "--quiet") == 1
    err = capsys.readouterr().err
    assert "overwrite" in err and len(err.strip().splitlines()) == 1
    assert (out / "lens.json").stat().st_mtime_ns == before
    assert run("logit-lens", model, corpus, "-o", out, "--quiet", "-f", "--langs", "ru,en",
               "--sentences", "1", "--layers", "0,-1") == 0
    data = json.loads((out / "lens.json").read_text(encoding="utf-8"))
    assert data["languages"] == ["ru", "en"] and data["layers"] == ["0", "3"]
    assert data["meta"]["n_sentences"] == {"ru": 1, "en": 1}


def test_command_errors_are_one_line(models, corpus, tiny_bert, tmp_path, capsys):
    cases = [
        ((tiny_bert, corpus), "decoder-only causal LM"),
        ((models["gemma"], corpus, "--langs", "en,zh"), "zh"),
        ((models["gemma"], corpus, "--layers", "9"), "out of range"),
        ((models["gemma"], corpus, "--batch-size", "0"), "batch-size"),
    ]
    for i, (args, message) in enumerate(cases):
        assert run("logit-lens", *args, "-o", tmp_path / f"o{i}", "--quiet") == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


# -- the real model -----------------------------------------------------------------------
REASON = gemma_offline.unavailable_reason()
REAL = {
    "en": ["The cat sleeps.", "I drink water.", "The sun is hot.", "My brother reads."],
    "de": ["Die Katze schläft.", "Ich trinke Wasser.", "Die Sonne ist heiß.",
           "Mein Bruder liest."],
    "ru": ["Кошка спит.", "Я пью воду.", "Солнце горячее.", "Мой брат читает."],
    "ar": ["القطة تنام.", "أنا أشرب الماء.", "الشمس حارة.", "أخي يقرأ."],
}


@pytest.mark.slow
@pytest.mark.skipif(REASON is not None, reason=f"builtin:gemma-3-270m unavailable: {REASON}")
def test_gemma_3_270m():
    lm = load_lens_model("builtin:gemma-3-270m", device="cpu")
    assert lm.meta["vocab_size"] == 262144 and lm.n_states == 19
    assert lm.norm_name == "norm" and lm.last_state_post_norm
    res = logit_lens(lm, REAL, layers="0,-1")
    for lang in REAL:
        first, last = res.stats[lang]["0"], res.stats[lang]["18"]
        # Layer 0 reads the input token back (tied embeddings): the input language.
        assert first["share_lang"] > 0.6 and first["top1"] < 0.1
        assert last["prob"] > 10 * first["prob"] and last["rank_median"] < 100
        counted = [c for c in CATEGORIES if c != "lang" or lang != "en"]
        assert sum(last[f"share_{c}"] for c in counted) == pytest.approx(1.0)
    # At the output, the input language wins over English (and no other language
    # shows up); English words absent from these few sentences stay "unknown".
    for lang in ("de", "ru", "ar"):
        assert res.stats[lang]["18"]["share_lang"] > res.stats[lang]["18"]["share_en"]
    for lang in REAL:
        assert res.stats[lang]["18"]["share_other"] < 0.1
    assert res.stats["en"]["18"]["share_en"] > 0
