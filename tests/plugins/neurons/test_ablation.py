"""Switching language neurons off (Tang et al. 2024, §3) — the acceptance test of
issue 13 on the planted tiny Gemma 3 of ``test_lape.py``: LAPE finds the Cyrillic
neuron and zeroing it changes the Russian loss only (the other languages' losses
bit-identical); the paired bootstrap against a slow loop; the random controls.

The planted gate is sharpened here (:func:`build_silent_planted`): in
``build_planted_gemma`` the neuron's gate is −0.56 … −0.75 on non-Cyrillic tokens, so
its GELU output there is ≈ −0.17, not 0, and zeroing it would move every language.
With the gate × 100 (≈ −60) GELU-tanh saturates to exactly −0.0 on those tokens, and
setting them to 0 changes nothing downstream.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
import torch

from interlingua.core.errors import InputError
from interlingua.plugins.neurons.ablation import (
    AblationSettings,
    ablate_languages,
    bootstrap_ratios,
    edits_for,
    percentile_ci,
    random_control,
)
from interlingua.plugins.neurons.activation_probability import ActivationCounts
from interlingua.plugins.neurons.lape import select_language_neurons


def _module(name):
    spec = importlib.util.spec_from_file_location(f"neurons_{name}",
                                                  Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PLANTED = _module("test_lape")
NEURON = ("layers.1.mlp.act_fn", 5)


def build_silent_planted(path: Path) -> Path:
    """The planted Gemma with the Cyrillic neuron's gate × 100 (module docstring)."""
    from transformers import Gemma3ForCausalLM

    raw = PLANTED.build_planted_gemma(path.with_name(path.name + "-raw"))
    model = Gemma3ForCausalLM.from_pretrained(raw)
    with torch.no_grad():
        model.model.layers[1].mlp.gate_proj.weight[NEURON[1]] *= 100
    model.save_pretrained(path, safe_serialization=True)
    for f in raw.iterdir():
        if f.name.startswith("tokenizer") or f.name == "special_tokens_map.json":
            shutil.copy(f, path / f.name)
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return build_silent_planted(tmp_path_factory.mktemp("ablation") / "gemma")


@pytest.fixture(scope="module")
def lm(planted):
    from interlingua.plugins.neurons.lm_loss import load_loss_model

    return load_loss_model(str(planted), device="cpu")


@pytest.fixture(scope="module")
def found(planted):
    from interlingua.plugins.neurons.activation_probability import count_activations

    counts = count_activations(str(planted), PLANTED.SENTENCES, batch_size=3, device="cpu")
    return select_language_neurons(counts)


@pytest.fixture(scope="module")
def result(lm, found):
    return ablate_languages(lm, PLANTED.SENTENCES, found, batch_size=3, control_draws=2,
                            bootstrap=300, seed=5)


# -- acceptance ---------------------------------------------------------------------------
def test_lape_finds_the_neuron_and_ablating_it_changes_only_russian(lm, found, result):
    from interlingua.plugins.neurons.intervention import capture

    assert {lang: found.neurons(lang) for lang in found.languages} == {
        "en": [], "de": [], "ru": [NEURON], "ar": []}
    # Why the other languages cannot move: the neuron is exactly 0 on their tokens.
    for lang in ("en", "ar"):
        ids = lm.tokenizer(PLANTED.SENTENCES[lang][0], return_tensors="pt")["input_ids"]
        assert (capture(lm, NEURON[0], input_ids=ids)[NEURON[0]][..., NEURON[1]] == 0).all()
    assert result.off == ["ru"] and result.without_neurons == ["en", "de", "ar"]
    base, off = result.losses["baseline"], result.losses["off"]["ru"]
    for lang in ("en", "de", "ar"):
        assert np.array_equal(off[lang], base[lang]), lang  # bit-identical
        assert result.cells["ru"][lang]["ratio"] == 1.0
        assert result.cells["ru"][lang]["ratio_ci"] == [1.0, 1.0]
    assert np.abs(off["ru"] - base["ru"]).min() > 1e-3  # every Russian sentence moves
    cell = result.cells["ru"]["ru"]
    assert abs(np.log(cell["ratio"])) > 0.01
    assert cell["ppl_off"] == pytest.approx(np.exp(off["ru"].sum() / result.tokens["ru"].sum()))
    head = result.headline["ru"]
    assert head["others_ratio"] == 1.0
    assert head["contrast"] == pytest.approx(cell["ratio"] - 1.0)
    lo, hi = head["contrast_ci"]
    assert lo <= head["contrast"] <= hi and np.sign(lo) == np.sign(hi)  # excludes 0
    # The random control of the same size changes Russian far less than the neuron does.
    assert abs(np.log(cell["control_ratio"])) < abs(np.log(cell["ratio"])) / 3


def test_cis_are_the_paired_bootstrap_of_a_slow_loop(result):
    ru = result.languages.index("ru")
    rng = np.random.default_rng([5, 1, ru])
    base, off = result.losses["baseline"]["ru"], result.losses["off"]["ru"]["ru"]
    controls = [c["ru"] for c in result.losses["control"]["ru"]]
    tokens = result.tokens["ru"]
    ratios, contrast_ctrl = [], []
    for _ in range(300):
        idx = rng.integers(0, tokens.size, size=tokens.size)
        t = sum(float(tokens[i]) for i in idx)
        ratio = np.exp(sum(off[i] - base[i] for i in idx) / t)
        ctrl = np.mean([np.exp(sum(c[i] - base[i] for i in idx) / t) for c in controls])
        ratios.append(ratio)
        contrast_ctrl.append(ratio - ctrl)
    np.testing.assert_allclose(result.cells["ru"]["ru"]["ratio_ci"],
                               np.quantile(ratios, [0.025, 0.975]), rtol=1e-10)
    np.testing.assert_allclose(result.headline["ru"]["own_vs_control_ci"],
                               np.quantile(contrast_ctrl, [0.025, 0.975]), rtol=1e-10)
    # The contrast against the other languages: every language resampled with its own
    # generator; here the others are unchanged (ratio 1 in every resample).
    np.testing.assert_allclose(result.headline["ru"]["contrast_ci"],
                               np.quantile(np.array(ratios) - 1.0, [0.025, 0.975]), rtol=1e-10)


def test_bootstrap_blocks_are_one_stream(monkeypatch):
    from interlingua.plugins.neurons import ablation_result as ablation

    rng = np.random.default_rng(0)
    deltas, tokens = rng.normal(0, 1, (3, 50)), rng.integers(0, 6, 50)
    whole = bootstrap_ratios(deltas, tokens, resamples=40, rng=np.random.default_rng(9))
    monkeypatch.setattr(ablation, "_BOOT_BLOCK", 50 * 7)  # blocks of 7 resamples
    blocks = bootstrap_ratios(deltas, tokens, resamples=40, rng=np.random.default_rng(9))
    np.testing.assert_allclose(blocks, whole, rtol=1e-12)
    idx = np.random.default_rng(9).integers(0, 50, size=(40, 50))
    slow = np.exp(deltas[:, idx].sum(axis=2) / tokens[idx].sum(axis=1))
    np.testing.assert_allclose(whole, slow, rtol=1e-12)
    assert percentile_ci([np.nan, np.inf], 0.9) is None
    assert percentile_ci(np.arange(101.0), 0.9) == pytest.approx([5.0, 95.0])


def test_modes_run_through_the_same_engine(lm, found, result):
    same = ablate_languages(lm, PLANTED.SENTENCES, found, batch_size=3, control_draws=1,
                            bootstrap=0, mode="scale", value=1.0)
    assert all(same.cells["ru"][e]["ratio"] == 1.0 for e in same.languages)
    assert same.cells["ru"]["ru"]["ratio_ci"] is None and same.headline["ru"]["contrast_ci"] \
        is None
    zero = ablate_languages(lm, {"ru": PLANTED.SENTENCES["ru"]}, found, batch_size=3,
                            control_draws=0, bootstrap=0, mode="constant", value=0.0,
                            seed=5)
    assert np.array_equal(zero.losses["off"]["ru"]["ru"], result.losses["off"]["ru"]["ru"])
    assert zero.cells["ru"]["ru"]["control_ratio"] is None
    assert zero.headline["ru"]["others_ratio"] is None  # only Russian evaluated


def test_result_outputs(result, tmp_path):
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["neurons"] == {"ru": {"total": 1, "per_module": {NEURON[0]: 1}}}
    assert data["settings"]["control_draws"] == 2 and data["objective"] == "causal"
    assert data["without_neurons"] == ["en", "de", "ar"]
    assert data["reference"].startswith("Tang et al. 2024")
    assert set(data["meta"]["seconds"]) == {"baseline", "ru off", "ru control 1",
                                            "ru control 2"}
    rows = result.rows()
    assert [(r["off"], r["evaluated"], r["own"]) for r in rows] == [
        ("ru", "en", False), ("ru", "de", False), ("ru", "ru", True), ("ru", "ar", False)]
    assert result.matrix("ratio").shape == (1, 4)
    png = result.plot(tmp_path / "a.png")
    assert png.stat().st_size > 1000


def test_encoders_are_scored_by_masked_tokens(tmp_path):
    from interlingua.plugins.neurons.activation_probability import count_activations
    from interlingua.plugins.neurons.lm_loss import encode, load_loss_model, sentence_losses

    _, path = _module("test_lm_loss").build_tiny_mlm(tmp_path)
    sentences = {k: PLANTED.SENTENCES[k][:4] for k in ("en", "ru")}
    counts = count_activations(str(path), sentences, device="cpu")
    neurons = select_language_neurons(counts, entropy_quantile=0.1)
    assert counts.modules[0] == "encoder.layer.0.intermediate.intermediate_act_fn"
    model = load_loss_model(str(path), device="cpu")
    got = ablate_languages(model, sentences, neurons, control_draws=1, bootstrap=50, seed=4)
    assert got.objective == "masked" and got.off == [k for k in ("en", "ru")
                                                     if neurons.n_per_language[k]]
    for lang, texts in sentences.items():  # the baseline masks what encode(seed) masks
        inputs = encode(model, texts, seed=4)
        assert np.array_equal(got.tokens[lang], inputs.tokens)
        np.testing.assert_allclose(got.losses["baseline"][lang],
                                   sentence_losses(model, inputs, batch_size=16), rtol=1e-6)
    lang = got.off[0]
    assert not np.array_equal(got.losses["off"][lang][lang], got.losses["baseline"][lang])


# -- controls -----------------------------------------------------------------------------
def test_random_control_excludes_selected_neurons_and_matches_module_counts():
    neurons = select_language_neurons(PLANTED.random_counts(1), entropy_quantile=0.2)
    counts = neurons.counts
    taken = {counts.locate(j) for j in neurons.selected}
    for lang in neurons.languages:
        mine = neurons.neurons(lang)
        draws = [random_control(neurons, lang, seed=3, draw=d) for d in range(3)]
        for control in draws:
            assert not set(control) & taken
            assert len(set(control)) == len(control) == len(mine)
            for module in counts.modules:
                assert sum(m == module for m, _ in control) == sum(m == module for m, _ in mine)
        assert draws[0] != draws[1]
        assert random_control(neurons, lang, seed=3, draw=0) == draws[0]
        assert random_control(neurons, lang, seed=4, draw=0) != draws[0]
    edits = edits_for(neurons.neurons("ru"), mode="scale", value=0.5)
    assert {e.module for e in edits} == {m for m, _ in neurons.neurons("ru")}
    assert sum(len(e.neurons) for e in edits) == len(neurons.neurons("ru"))


def test_control_needs_enough_unselected_neurons():
    tokens = np.array([10, 10])
    active = {"m.0": np.array([[10, 0, 0], [0, 10, 0]])}
    neurons = select_language_neurons(ActivationCounts(["a", "b"], ["m.0"], active, tokens),
                                      activation_quantile=0.5, entropy_quantile=1.0)
    assert neurons.neurons("a") == [("m.0", 0)] and neurons.neurons("b") == [("m.0", 1)]
    assert random_control(neurons, "a") == [("m.0", 2)]
    active = {"m.0": np.array([[10, 0], [0, 10]])}
    neurons = select_language_neurons(ActivationCounts(["a", "b"], ["m.0"], active, tokens),
                                      activation_quantile=0.5, entropy_quantile=1.0)
    with pytest.raises(InputError, match="has 0 neurons not selected by LAPE"):
        random_control(neurons, "a")


# -- refusals -----------------------------------------------------------------------------
def _foreign(modules, width):
    """A LAPE result of another model: neuron 0 of the first module is English-only."""
    tokens = np.array([5, 5])
    active = {m: np.full((2, width), 3) for m in modules}
    active[modules[0]][:, 0] = [5, 0]
    neurons = select_language_neurons(ActivationCounts(["en", "ru"], modules, active, tokens))
    assert neurons.neurons("en") == [(modules[0], 0)]
    return neurons


def test_lape_of_another_model_is_refused(lm):
    for neurons, needle in [
            (_foreign(["h.0.mlp.act", "h.1.mlp.act"], 64),
             "not this model's: module 'h.0.mlp.act' does not exist in the model "
             "(gemma3_text)"),
            (_foreign(["layers.0.mlp.act_fn", "layers.1.mlp.act_fn"], 100),
             "module 'layers.0.mlp.act_fn' has 64 outputs, the LAPE result counted 100")]:
        with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            ablate_languages(lm, {"en": ["Hello world"]}, neurons, bootstrap=0)


def test_bad_settings_and_languages(lm, found):
    for kw, needle in [({"control_draws": -1}, "control_draws must be >= 0"),
                       ({"confidence": 1.0}, "confidence must be in"),
                       ({"mode": "patch"}, "'patch' is not one of"),
                       ({"batch_size": 0}, "batch_size must be >= 1")]:
        with pytest.raises(InputError, match=needle):
            ablate_languages(lm, PLANTED.SENTENCES, found, **kw)
    with pytest.raises(InputError, match="no language to switch off has LAPE neurons"):
        ablate_languages(lm, PLANTED.SENTENCES, found, languages_off=["en"])
    with pytest.raises(InputError, match="unknown language 'rus'"):
        ablate_languages(lm, PLANTED.SENTENCES, found, languages_off=["rus"])
    with pytest.raises(InputError, match="'ru' has no sentences"):
        ablate_languages(lm, {"ru": ["  "]}, found)
    defaults = {p.name: p.default for p in AblationSettings.params}
    assert defaults["mode"] == "zero" and defaults["bootstrap"] == 1000
