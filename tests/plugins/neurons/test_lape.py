"""LAPE selection (Tang et al. 2024, §2): the rule order against an independent port of
the authors' identify.py, the parameters, the overlaps, and the acceptance test — a tiny
Gemma 3 with planted script-specific neurons, found exactly.

The planted model (:func:`build_planted_gemma`, also used by ``test_cli.py``): residual
dimension ``k`` carries +a on tokens of one script and −a on all others (embedding
column ``k``); nothing else reads or writes it (q/k/v and gate/up columns ``k``, o_proj
and down_proj rows ``k`` are zero), except one gate neuron that reads only it. Gemma's
RMS norms rescale by positive factors, so that neuron's gate (hence act_fn output, GELU
tanh) is positive exactly on that script's tokens.
"""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from interlingua.core.errors import InputError
from interlingua.plugins.neurons.activation_probability import ActivationCounts
from interlingua.plugins.neurons.lape import (
    LapeSettings,
    kth_quantile,
    lape_entropy,
    select_language_neurons,
)

#: Planted neurons: (script, layer, neuron, residual dimension).
PLANTED = {"cyrillic": (1, 5, 7), "latin": (0, 9, 11)}

SENTENCES = {
    "en": ["The quick brown fox jumps over the lazy dog", "Hello world this is a small test",
           "Hello dog", "The lazy fox", "this is a test", "quick brown dog jumps",
           "small world", "the fox is lazy"],
    "de": ["Der schnelle braune Fuchs springt über den faulen Hund", "Der Hund",
           "Der schnelle Fuchs", "braune Hund springt", "den faulen Fuchs", "über den Hund",
           "Der faulen Hund springt", "schnelle Fuchs"],
    "ru": ["Привет мир", "Это небольшое тестовое предложение", "Быстрая коричневая лиса "
           "прыгает через ленивую собаку", "Привет собака", "Это лиса",
           "Быстрая собака прыгает через мир", "ленивую лису", "небольшое предложение мир"],
    "ar": ["مرحبا بالعالم هذه جملة اختبار صغيرة", "الثعلب البني السريع يقفز فوق الكلب الكسول",
           "مرحبا", "هذه جملة", "الكلب الكسول", "الثعلب السريع", "جملة صغيرة", "مرحبا الكلب"],
}


def _script(token: str) -> set[str]:
    return {unicodedata.name(ch, "").split(" ")[0].lower() for ch in token if ch.isalpha()}


def build_planted_gemma(path: Path) -> Path:
    """A random 2-layer Gemma 3 (hidden 32, 64 MLP neurons per layer) with the
    :data:`PLANTED` neurons, and a Gemma-like tokenizer (``<bos>``, "▁" spaces)."""
    import torch
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

    from interlingua.plugins.extraction.models.tiny import SAMPLE_SENTENCES

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
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
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=16,
        max_position_embeddings=128, sliding_window=4,
        layer_types=["sliding_attention", "full_attention"],
        pad_token_id=0, eos_token_id=1, bos_token_id=2)
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(config).eval()
    scripts = [_script(t) for t in tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))]
    with torch.no_grad():
        base = model.model
        for script, (layer, neuron, dim) in PLANTED.items():
            sign = torch.tensor([1.0 if script in s else -1.0 for s in scripts])
            base.embed_tokens.weight[:, dim] = 0.02 * sign
            for block in base.layers:  # nothing else reads or writes dimension `dim`
                for proj in (block.self_attn.q_proj, block.self_attn.k_proj,
                             block.self_attn.v_proj, block.mlp.gate_proj, block.mlp.up_proj):
                    proj.weight[:, dim] = 0
                block.self_attn.o_proj.weight[dim, :] = 0
                block.mlp.down_proj.weight[dim, :] = 0
            gate = base.layers[layer].mlp.gate_proj.weight
            gate[neuron, :] = 0
            gate[neuron, dim] = 10.0
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    pytest.importorskip("torch")
    return build_planted_gemma(tmp_path_factory.mktemp("planted") / "gemma")


@pytest.fixture(scope="module")
def planted_counts(planted):
    from interlingua.plugins.neurons.activation_probability import count_activations

    return count_activations(str(planted), SENTENCES, batch_size=3, device="cpu")


# -- acceptance ---------------------------------------------------------------------------
def test_planted_neuron_is_found_exactly(planted_counts):
    counts = planted_counts
    assert counts.modules == ["layers.0.mlp.act_fn", "layers.1.mlp.act_fn"]
    p = counts.probabilities()
    cyr = 64 * PLANTED["cyrillic"][0] + PLANTED["cyrillic"][1]
    assert p[:, cyr].tolist() == [0.0, 0.0, 1.0, 0.0]  # en, de, ru, ar: all ru tokens
    result = select_language_neurons(counts)  # Tang et al.'s parameters
    assert result.thresholds["budget"] == 1  # round(1 % of 128)
    assert {lang: result.neurons(lang) for lang in result.languages} == {
        "en": [], "de": [], "ru": [("layers.1.mlp.act_fn", 5)], "ar": []}
    assert result.lape[cyr] == 0.0
    assert result.per_layer().tolist() == [[0, 0, 0, 0], [0, 0, 1, 0]]


def test_planted_script_neurons_shared_by_two_languages(planted_counts):
    # 2 of 128 neurons: the Cyrillic one (LAPE 0) and the Latin one, active on every
    # en and de token (LAPE ln 2), specific to both; every random neuron has LAPE > 1.
    result = select_language_neurons(planted_counts, entropy_quantile=0.015)
    assert result.thresholds["budget"] == 2
    assert {lang: result.neurons(lang) for lang in result.languages} == {
        "en": [("layers.0.mlp.act_fn", 9)], "de": [("layers.0.mlp.act_fn", 9)],
        "ru": [("layers.1.mlp.act_fn", 5)], "ar": []}
    assert result.lape[result.selected].tolist() == pytest.approx([0.0, math.log(2)])
    rest = np.setdiff1d(np.flatnonzero(result.candidates), result.selected)
    assert result.lape[rest].min() > 1.0
    overlaps = result.overlaps()
    pair = overlaps.details["pairwise"]
    assert pair["names"] == ["en", "de", "ru"] and pair["observed"][0][1] == 1
    assert pair["fold_enrichment"][0][1] == pytest.approx(128.0)  # E = 1·1/128
    data = json.loads(json.dumps(result.to_dict()))
    assert data["n_shared"] == 1 and data["per_language"] == {"en": 1, "de": 1, "ru": 1,
                                                              "ar": 0}
    assert data["neurons"][1]["languages"] == ["en", "de"]


# -- the rule order, against a port of the authors' identify.py ---------------------------
def identify_reference(over_zero: np.ndarray, n: np.ndarray, top_rate: float,
                       filter_rate: float, bar_ratio: float) -> list[set[int]]:
    """numpy port of RUCAIBox/Language-Specific-Neurons identify.py (torch ops mirrored:
    kthvalue, entropy of normalised probabilities with NaN -> 0, non-candidates at
    +inf, topk of the lowest entropies, assignment above the bar)."""
    probs = over_zero / n  # (neurons, languages)
    with np.errstate(divide="ignore", invalid="ignore"):
        normed = probs / probs.sum(axis=-1, keepdims=True)
        normed[np.isnan(normed)] = 0
        logs = np.where(normed > 0, np.log(normed), 0)
    entropy = -np.sum(normed * logs, axis=-1)
    flat = np.sort(probs.ravel())
    top_prob = flat[round(len(flat) * filter_rate) - 1]
    entropy[(probs > top_prob).sum(axis=-1) == 0] = np.inf
    k = round(len(entropy) * top_rate)
    index = np.argsort(entropy, kind="stable")[:k]
    bar = flat[round(len(flat) * bar_ratio) - 1]
    selected = probs[index].T  # languages x selected
    return [set(index[selected[li] > bar].tolist()) for li in range(probs.shape[1])]


def random_counts(seed: int, languages=("en", "de", "ru", "ar", "zh"), widths=(300, 200)):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(500, 2000, len(languages))
    active = {}
    for k, w in enumerate(widths):
        logit = rng.normal(-1.0, 1.5, size=(1, w)) + rng.normal(0, 1.0, (len(languages), w))
        p = 1 / (1 + np.exp(-logit))
        active[f"layers.{k}.mlp.act_fn"] = rng.binomial(tokens[:, None], p)
    return ActivationCounts(list(languages), list(active), active, tokens)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("top", "filt", "bar"), [(0.01, 0.95, 0.95), (0.05, 0.9, 0.95),
                                                  (0.2, 0.8, 0.9)])
def test_selection_matches_the_authors_rule(seed, top, filt, bar):
    counts = random_counts(seed)
    result = select_language_neurons(counts, activation_quantile=filt, entropy_quantile=top,
                                     language_quantile=bar)
    over_zero = counts.positive().T.astype(np.float64)
    expected = identify_reference(over_zero, counts.tokens.astype(np.float64), top, filt, bar)
    assert [set(result.flat(lang).tolist()) for lang in counts.languages] == expected
    assert sum(len(s) for s in expected) > 0


def test_entropy_and_quantile_helpers():
    p = np.array([[1.0, 0.5, 0.2, 0.0], [0.0, 0.5, 0.2, 0.0], [0.0, 0.0, 0.2, 0.0]])
    assert lape_entropy(p).tolist() == pytest.approx([0.0, math.log(2), math.log(3), 0.0])
    values = np.arange(1, 101, dtype=float)
    assert kth_quantile(values, 0.95) == 95.0 and kth_quantile(values, 0.001) == 1.0
    assert kth_quantile(values[::-1], 0.5) == 50.0


def test_candidates_budget_and_language_threshold():
    counts = random_counts(3)
    all_budget = select_language_neurons(counts, entropy_quantile=0.05)
    cand = select_language_neurons(counts, entropy_quantile=0.05, entropy_budget="candidates")
    n_cand = int(all_budget.candidates.sum())
    assert all_budget.thresholds["budget"] == round(0.05 * counts.n_neurons)
    assert cand.thresholds["budget"] == round(0.05 * n_cand)
    # the first neurons kept are the same: lowest LAPE among candidates, ties by position
    k = min(all_budget.selected.size, cand.selected.size)
    assert all_budget.selected[:k].tolist() == cand.selected[:k].tolist()
    assert np.all(np.diff(all_budget.lape[all_budget.selected]) >= 0)
    assert all_budget.candidates[all_budget.selected].all()
    strict = select_language_neurons(counts, entropy_quantile=0.05, language_quantile=0.99)
    assert strict.specific.sum() <= all_budget.specific.sum()
    assert strict.thresholds["language"] >= all_budget.thresholds["language"]


def test_rows_dict_plot_and_overlap_backgrounds(tmp_path):
    counts = random_counts(4)
    result = select_language_neurons(counts, entropy_quantile=0.1)
    rows = result.layer_rows()
    assert [r["layer"] for r in rows] == ["0", "1"] and rows[0]["neurons"] == 300
    assert sum(r["ru"] for r in rows) == result.n_per_language["ru"]
    data = json.loads(json.dumps(result.to_dict()))
    assert data["n_selected"] == result.selected.size == len(data["neurons"])
    assert data["overlaps"]["background"] == 500
    assert data["reference"].startswith("Tang et al. 2024")
    selected = result.overlaps(background="selected")
    assert selected.details["background"] == result.selected.size
    assert selected.details["background_kind"] == "selected"
    png = result.plot(tmp_path / "lape.png")
    assert png.stat().st_size > 1000


def test_no_overlap_test_with_fewer_than_two_languages_with_neurons(planted_counts):
    result = select_language_neurons(planted_counts)  # only ru has a neuron
    assert result.overlaps() is None
    assert result.to_dict()["overlaps"] is None


@pytest.mark.parametrize(("kw", "message"), [
    ({"activation_quantile": 1.0}, "activation_quantile must be in (0, 1)"),
    ({"language_quantile": 0.0}, "language_quantile must be in (0, 1)"),
    ({"entropy_quantile": 0.0}, "entropy_quantile must be in (0, 1]"),
    ({"entropy_budget": "some"}, "entropy_budget"),
])
def test_bad_parameters_are_one_line_errors(kw, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")) as info:
        select_language_neurons(random_counts(0), **kw)
    assert "\n" not in str(info.value)


def test_one_language_is_refused_and_languages_are_checked():
    counts = random_counts(0).select(["ru"])
    with pytest.raises(InputError, match="at least two languages"):
        select_language_neurons(counts)
    result = select_language_neurons(random_counts(0))
    with pytest.raises(InputError, match="unknown language 'rus'; did you mean 'ru'"):
        result.flat("rus")


def test_settings_declare_the_papers_defaults():
    defaults = {p.name: p.default for p in LapeSettings.params}
    assert defaults["activation_quantile"] == 0.95 and defaults["entropy_quantile"] == 0.01
