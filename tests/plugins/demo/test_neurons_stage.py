"""The demo's neurons stage (LAPE, ablation, logit lens on decoders): run through
``run_demo`` on the planted tiny Gemma (the planted Cyrillic neuron must be found, and
switching it off must change Russian perplexity only), its findings rules on numbers
that do and do not support them, and its report section."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")

from interlingua.plugins.demo.config import full_config
from interlingua.plugins.demo.findings import (
    check_ablation,
    check_lape_layers,
    check_lens,
)

HERE = Path(__file__).resolve().parents[1] / "neurons"


def _module(name: str, file: str):
    spec = importlib.util.spec_from_file_location(name, HERE / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from interlingua.plugins.demo.run import run_demo

    ablation = _module("demo_neurons_ablation", "test_ablation.py")
    root = tmp_path_factory.mktemp("demo-neurons")
    model = ablation.build_silent_planted(root / "gemma")
    sentences = ablation.PLANTED.SENTENCES
    langs = ["en", "de", "ru", "ar"]
    data = root / "parallel.tsv"
    with data.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(langs)
        for i in range(8):
            writer.writerow([sentences[lang][i] for lang in langs])
    cfg = full_config(models=[str(model)], data=str(data), languages=langs, sensitivity=False,
                      neuron_verses=4, ablation_verses=4, lens_verses=8, control_draws=2,
                      batch_size=4)
    out = root / "out"
    results = run_demo(out, cfg, steps=("neurons",))
    return out, results, results["models"][str(model)]


def test_stage_finds_and_ablates_the_planted_neuron(demo_run):
    out, results, entry = demo_run
    neu = entry["neurons"]
    assert neu["verses"] == {"lape": [0, 4], "ablation": [4, 8], "lens": [0, 8]}
    counts = neu["lape"]["per_layer"]["counts"]
    assert counts["ru"] == [0, 1] and neu["lape"]["per_language"]["ru"] == 1
    abl = neu["ablation"]
    assert abl["off"] == ["ru"]  # the only language with neurons
    cells = abl["cells"]["ru"]
    assert cells["ru"]["ratio"] != 1.0
    assert all(cells[e]["ratio"] == 1.0 for e in ("en", "de", "ar"))  # bit-identical losses
    assert set(neu["lens"]["layers"]) == {"0", "1", "2"}
    for name in neu["figures"].values():
        assert (out / name).stat().st_size > 0
    keys = {f["key"] for f in results["findings"]}
    assert {"lape_layers", "lens_english"} <= keys
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Language-specific neurons, ablation, logit lens" in report
    assert "ru control" in report


def test_stage_skipped_for_encoders_and_quick_runs(tmp_path):
    from interlingua.plugins.demo.config import quick_config

    assert quick_config().neurons is False
    assert full_config().neurons is True
    # an encoder store: run_model decides from the store's architecture attribute
    from interlingua.plugins.extraction.models.tiny import build_tiny_model

    model = build_tiny_model("bert", tmp_path / "bert")
    data = tmp_path / "p.tsv"
    data.write_text("en\tde\nthe dog\tder Hund\na cat\teine Katze\n", encoding="utf-8")
    from interlingua.plugins.demo.run import run_demo

    res = run_demo(tmp_path / "out", full_config(models=[str(model)], data=str(data),
                                                 sensitivity=False), steps=("neurons",))
    assert "neurons" not in res["models"][str(model)]


def _lape(counts: dict[str, list[int]]) -> dict:
    n = len(next(iter(counts.values())))
    return {"lape": {"languages": list(counts), "per_language": {k: sum(v) for k, v in
                                                                  counts.items()},
                     "n_selected": sum(sum(v) for v in counts.values()),
                     "per_layer": {"layers": [str(i) for i in range(n)], "counts": counts}}}


def test_lape_rule():
    outer = {"en": [3, 0, 0, 0, 0, 0, 0, 2], "ru": [1, 0, 0, 1, 0, 0, 0, 4]}
    middle = {"en": [0, 2, 3, 0, 1, 1, 0, 0], "ru": [0, 1, 1, 3, 2, 0, 0, 1]}
    assert check_lape_layers({"neurons": _lape(outer)})["holds"] is True
    assert check_lape_layers({"neurons": _lape(middle)})["holds"] is False
    missing = dict(outer, ar=[0] * 8)
    assert check_lape_layers({"neurons": _lape(missing)})["holds"] is False
    assert check_lape_layers({}) is None


def _headline(contrast_low: float, control_low: float | None) -> dict:
    return {"own_ratio": 2.0, "others_ratio": 1.1, "control_ratio": 1.0,
            "contrast": 0.9, "contrast_ci": [contrast_low, 1.2], "own_vs_control": 1.0,
            "own_vs_control_ci": None if control_low is None else [control_low, 1.3]}


def test_ablation_rule():
    def entry(*heads):
        return {"neurons": {"ablation": {"headline": {f"l{i}": h for i, h in
                                                      enumerate(heads)}}}}

    assert check_ablation(entry(_headline(0.1, 0.2), _headline(0.3, None)))["holds"]
    assert not check_ablation(entry(_headline(-0.1, 0.2), _headline(0.3, -0.01)))["holds"]
    assert check_ablation({"neurons": {"ablation": {"headline": {}}}}) is None


def _lens(share_en: list[float], share_lang: list[float]) -> dict:
    layers = [str(i) for i in range(len(share_en))]
    stats = {layer: {"share_en": e, "share_lang": s} for layer, e, s in
             zip(layers, share_en, share_lang)}
    en_stats = {layer: {"share_en": 0.5, "share_lang": 0.5} for layer in layers}
    return {"neurons": {"lens": {"layers": layers, "languages": ["en", "de"],
                                 "english": "en", "results": {"en": en_stats, "de": stats}}}}


def test_lens_rule():
    latent = _lens([0.0, 0.0, 0.05, 0.2, 0.1, 0.0, 0.0, 0.0],
                   [0.8, 0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5])
    found = check_lens(latent)
    assert found["holds"] and found["languages"]["de"]["english_peak_layer"] == "3"
    never = _lens([0.0] * 8, [0.8, 0.1, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert not check_lens(never)["holds"]
    english_at_end = _lens([0.0, 0.0, 0.05, 0.2, 0.1, 0.0, 0.0, 0.6],
                           [0.8, 0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.3])
    assert not check_lens(english_at_end)["holds"]
