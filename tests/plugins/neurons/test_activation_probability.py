"""Streaming activation counts: exact against an in-memory reference (each sentence run
alone with plain forward hooks written here, special tokens masked with the tokenizer's
own special-tokens mask), for batch sizes 1 and several (padding present), on a decoder,
an encoder and an encoder–decoder; merging, the HDF5 round trip, and the refusals.

The exactness test runs both sides in float64: random tiny models have pre-activations
within 1e-7 of zero, where float32 rounding (which differs between a padded batch and a
sentence alone) could flip a sign; in float64 the smallest |pre-activation| is checked
to be orders of magnitude above the rounding, so equal counts are a real property."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from interlingua.core.errors import InputError, OutputError, StoreError  # noqa: E402
from interlingua.plugins.extraction.models.tiny import (  # noqa: E402
    SAMPLE_SENTENCES,
    build_tiny_model,
)
from interlingua.plugins.neurons.activation_probability import (  # noqa: E402
    ActivationCounts,
    count_activations,
)

#: Three languages, sentences of many lengths (so that batches are padded).
SENTENCES = {
    "en": [SAMPLE_SENTENCES[0], "Hello world", SAMPLE_SENTENCES[1], "The dog .",
           "quick brown fox", SAMPLE_SENTENCES[8], "Hola"],
    "ru": [SAMPLE_SENTENCES[2], "Привет", SAMPLE_SENTENCES[3], "лиса прыгает .",
           "Это небольшое предложение"],
    "ar": [SAMPLE_SENTENCES[4], "مرحبا", SAMPLE_SENTENCES[5], "الكلب الكسول .",
           "هذه جملة اختبار", "مرحبا بالعالم"],
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-neurons")
    cache = {}

    def get(kind: str):
        if kind not in cache:
            cache[kind] = build_tiny_model(kind, root / kind, seed=1)
        return cache[kind]

    return get


def reference_counts(model_dir, sentences, modules):
    """Counts from scratch: one unpadded sentence at a time, all activations kept."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval().double()
    seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
    start = model.config.decoder_start_token_id if seq2seq else None
    table = dict(model.named_modules())
    rows: dict[str, list] = {m: [] for m in modules}
    tokens, margin = [], math.inf
    for items in sentences.values():
        per_module = {m: 0 for m in modules}
        n_tokens = 0
        for text in items:
            enc = tok(" ".join(text.split()), return_special_tokens_mask=True)
            ids = torch.tensor([enc["input_ids"]])
            keep = ~torch.tensor(enc["special_tokens_mask"], dtype=torch.bool)
            n_tokens += int(keep.sum())
            seen: dict[str, tuple] = {}

            def hook(name, seen=seen):
                def store(module, args, output):
                    seen[name] = (args[0][0].detach(), output[0].detach())
                return store

            handles = [table[m].register_forward_hook(hook(m)) for m in modules]
            try:
                with torch.no_grad():
                    if seq2seq:
                        model(input_ids=ids, decoder_input_ids=torch.tensor(
                            [[start, *enc["input_ids"]]]))
                    else:
                        model(input_ids=ids)
            finally:
                for h in handles:
                    h.remove()
            for m in modules:
                pre, act = seen[m]
                if m.startswith("decoder."):
                    pre, act = pre[1:], act[1:]  # the start token is no token of the text
                per_module[m] = per_module[m] + (act[keep] > 0).sum(dim=0).numpy()
                margin = min(margin, float(pre[keep].abs().min()))
        tokens.append(n_tokens)
        for m in modules:
            rows[m].append(np.asarray(per_module[m], dtype=np.int64))
    return {m: np.stack(r) for m, r in rows.items()}, np.array(tokens), margin


@pytest.mark.parametrize("kind", ["gpt2", "bert", "t5"])
def test_streaming_counts_equal_an_in_memory_computation(tiny, kind):
    from interlingua.plugins.extraction.loading import load_model

    path = tiny(kind)
    loaded = load_model(str(path), device="cpu")
    loaded.model.double()
    runs = {size: count_activations(loaded, SENTENCES, batch_size=size)
            for size in (1, 4)}
    assert runs[1].meta["model_dtype"] == "float64"
    expected, tokens, margin = reference_counts(path, SENTENCES, runs[1].modules)
    # |pre-activation| far above float64 rounding (~1e-16): padding cannot flip a sign
    assert margin > 1e-11, margin
    n_modules = 4 if kind == "t5" else 2
    for size, counts in runs.items():
        assert counts.languages == ["en", "ru", "ar"] and len(counts.modules) == n_modules
        assert counts.tokens.tolist() == tokens.tolist(), size
        assert counts.sentences.tolist() == [7, 5, 6]
        for m in counts.modules:
            assert counts.active[m].dtype == np.int64
            assert np.array_equal(counts.active[m], expected[m]), (size, m)
    assert runs[1] == runs[4]


def test_batches_are_padded_and_memory_does_not_grow(tiny):
    path = tiny("gpt2")
    small = count_activations(str(path), {k: v[:2] for k, v in SENTENCES.items()}, device="cpu")
    large = count_activations(str(path), {k: v * 3 for k, v in SENTENCES.items()}, device="cpu",
                              batch_size=5, max_batch_tokens=64)
    assert [a.shape for a in small.active.values()] == [a.shape for a in large.active.values()]
    whole = count_activations(str(path), SENTENCES, device="cpu")
    assert large.tokens.tolist() == (3 * whole.tokens).tolist()
    for m in whole.modules:  # the same sentences 3 times, in other batches: 3x the counts
        assert np.array_equal(large.active[m], 3 * whole.active[m])


def test_merge_of_halves_equals_the_whole(tiny):
    path = str(tiny("gpt2"))
    whole = count_activations(path, SENTENCES, device="cpu", batch_size=3)
    first = count_activations(path, {k: v[:3] for k, v in SENTENCES.items()}, device="cpu")
    second = count_activations(path, {k: v[3:] for k, v in SENTENCES.items()}, device="cpu")
    assert first + second == whole and first.merge(second) == whole
    # languages run separately, like Tang et al.'s per-language runs
    by_language = [count_activations(path, {k: v}, device="cpu") for k, v in SENTENCES.items()]
    merged = by_language[0] + by_language[1] + by_language[2]
    assert merged == whole and merged.languages == ["en", "ru", "ar"]
    assert merged.probabilities().dtype == np.float64
    assert merged.probabilities().shape == (3, whole.n_neurons)


def test_merge_refuses_other_modules_or_models(tiny):
    path = str(tiny("gpt2"))
    one = count_activations(path, {"en": SENTENCES["en"]}, device="cpu")
    other = count_activations(path, {"en": SENTENCES["en"]}, device="cpu",
                              modules="h.0.mlp.act")
    with pytest.raises(InputError, match="different modules"):
        one + other
    renamed = ActivationCounts(one.languages, one.modules, one.active, one.tokens,
                               meta={"model": "another"})
    with pytest.raises(InputError, match="different models"):
        one + renamed


def test_hdf5_round_trip_and_refusals(tiny, tmp_path):
    counts = count_activations(str(tiny("gpt2")), SENTENCES, device="cpu")
    path = counts.to_hdf5(tmp_path / "counts.h5")
    back = ActivationCounts.from_hdf5(path)
    assert back == counts and back.meta == counts.meta
    assert back.meta["model_type"] == "gpt2" and back.meta["modules_spec"] == "mlp-act"
    with pytest.raises(OutputError, match="--overwrite"):
        counts.to_hdf5(path)
    counts.to_hdf5(path, overwrite=True)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(StoreError, match="not an HDF5 file"):
        ActivationCounts.from_hdf5(tmp_path / "junk.h5")
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as fh:
        fh.attrs["format"] = "something-else"
    with pytest.raises(StoreError, match="not an activation counts file"):
        ActivationCounts.from_hdf5(tmp_path / "other.h5")


def _counts(**kw):
    args = dict(languages=["en", "de"], modules=["m.0.act"],
                active={"m.0.act": [[1, 2, 3], [0, 0, 4]]}, tokens=[5, 4])
    args.update(kw)
    return ActivationCounts(**args)


@pytest.mark.parametrize(("kw", "message"), [
    ({"active": {"m.0.act": [[1.0, np.nan, 3], [0, 0, 4]]}}, "contain NaN"),
    ({"tokens": [5, float("nan")]}, "contain NaN"),
    ({"active": {"m.0.act": [[1.5, 2, 3], [0, 0, 4]]}}, "not whole numbers"),
    ({"active": {"m.0.act": [[-1, 2, 3], [0, 0, 4]]}}, "negative"),
    ({"active": {"m.0.act": [[1, 2, 6], [0, 0, 4]]}}, "exceed the token count of language 'en'"),
    ({"tokens": [5, 0]}, "language 'de' has no counted tokens"),
    ({"languages": []}, "at least one language"),
    ({"languages": ["en", "en"]}, "duplicate language 'en'"),
    ({"active": {"m.1.act": [[1, 2, 3], [0, 0, 4]]}}, "unknown module 'm.1.act'"),
    ({"active": {"m.0.act": [1, 2, 3]}}, "expected shape"),
])
def test_counts_are_validated_with_one_line_errors(kw, message):
    with pytest.raises(InputError, match=message) as info:
        _counts(**kw)
    assert "\n" not in str(info.value)


def test_unknown_module_and_language_lookups():
    counts = _counts()
    assert counts.probabilities("m.0.act").tolist() == [[0.2, 0.4, 0.6], [0.0, 0.0, 1.0]]
    with pytest.raises(InputError, match="unknown module 'm.0.ac'; did you mean 'm.0.act'"):
        counts.probabilities("m.0.ac")
    with pytest.raises(InputError, match="unknown language 'es'"):
        counts.select(["es"])
    assert counts.locate(2) == ("m.0.act", 2)


def test_count_activations_refuses_bad_input(tiny):
    path = str(tiny("gpt2"))
    with pytest.raises(InputError, match="language 'ru' has no sentences"):
        count_activations(path, {"en": ["Hello"], "ru": []}, device="cpu")
    with pytest.raises(InputError, match="no languages given"):
        count_activations(path, {}, device="cpu")
    with pytest.raises(InputError, match=r"'h\.\*\.mlp\.gelu' matches no module.*"
                                         r"h\.\*\.mlp\.act \(NewGELUActivation"):
        count_activations(path, {"en": ["Hello"]}, device="cpu", modules="h.*.mlp.gelu")
    with pytest.raises(InputError, match="'h.0.attn' returned tuple, not a tensor"):
        count_activations(path, {"en": ["Hello"]}, device="cpu", modules="h.0.attn")
    with pytest.raises(InputError, match="batch_size must be >= 1"):
        count_activations(path, {"en": ["Hello"]}, device="cpu", batch_size=0)


def test_nan_activations_are_refused(tiny):
    from interlingua.plugins.extraction.loading import load_model

    loaded = load_model(str(tiny("gpt2")), device="cpu")
    with torch.no_grad():
        loaded.model.h[1].mlp.c_fc.weight[:, 3] = float("nan")
    with pytest.raises(InputError, match="'h.1.mlp.act' produced NaN activations on tokens "
                                         "of language 'en'") as info:
        count_activations(loaded, {"en": ["Hello world"]})
    assert "\n" not in str(info.value)
    assert not loaded.model.h[1].mlp.act._forward_hooks  # removed after the error


def test_truncation_is_counted_and_warned(tiny):
    with pytest.warns(UserWarning, match="truncated"):
        counts = count_activations(str(tiny("bert")), SENTENCES, device="cpu", max_length=6)
    assert counts.meta["n_truncated"]["en"] >= 3
    assert counts.tokens.max() <= 4 * 7  # at most 4 word tokens per sentence ([CLS], [SEP])
