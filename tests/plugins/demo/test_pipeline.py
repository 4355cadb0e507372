"""Unit tests of the demo pipeline's pure parts (no model): configs and findings check."""

from __future__ import annotations

import numpy as np
import pytest

from interlingua.core.errors import InputError
from interlingua.plugins.demo.pipeline import (
    DemoConfig,
    default_data_path,
    findings_check,
    full_config,
    quick_config,
    run_demo,
)


def _results(anc, calign, colap, fe, p, modes=None):
    layers = [str(i) for i in range(len(anc))]
    n = len(fe)
    names = [f"l{i}" for i in range(n)]
    modes = modes or ["bible contexts"] * n
    entry = {
        "similarity": {"en-de": {"layers": layers, "results": {
            "anc": {lay: {"value": v} for lay, v in zip(layers, anc)}}}},
        "concepts": {"languages": ["en", "fr", "de", "ar"],
                     "calign": {"en-de": {"layers": {lay: {"value": v}
                                                     for lay, v in zip(layers, calign)}}},
                     "colap": {f"en-{x}": {"layers": {"0": {"value": v}}}
                               for x, v in colap.items()}},
        "affective": {"top_sets": {"layer": "3", "k": 100},
                      "languages": {lg: {"mode": m} for lg, m in zip(names, modes)},
                      "pairwise_fold_enrichment": {"languages": names, "matrix": fe,
                                                   "pvalues": p}},
    }
    return {"models": {"m": entry}}


def _by_key(out):
    return {f["key"]: f for f in out}


def test_findings_hold_when_numbers_say_so():
    fe = [[np.nan, 1.5, 1.4], [1.5, np.nan, 1.6], [1.4, 1.6, np.nan]]
    p = [[np.nan, 0.01, 0.02], [0.01, np.nan, 0.001], [0.02, 0.001, np.nan]]
    out = _by_key(findings_check(_results([0.2, 0.5, 0.6, 0.55, 0.5], [0, 5, 10, 12, 15],
                                          {"fr": 50, "de": 40, "ar": 10}, fe, p)))
    assert all(f["holds"] for f in out.values()) and len(out) == 4
    assert out["anc_rise_fall"]["pairs"]["en-de"]["peak_layer"] == "2"
    assert out["affective_overlap"]["numbers"]["mean_pairwise_fe"] == pytest.approx(1.5)
    assert out["colap_order"]["numbers"]["order"] == ["fr", "de", "ar"]


def test_findings_not_forced():
    fe = [[np.nan, 0.9], [0.9, np.nan]]
    p = [[np.nan, 0.7], [0.7, np.nan]]
    out = findings_check(_results([0.2, 0.3, 0.4, 0.5, 0.6], [15, 12, 10, 5, 0],
                                  {"fr": 10, "de": 40, "ar": 50}, fe, p))
    assert [f["holds"] for f in out] == [False, False, False, False]
    assert all("does not" not in f["text"] for f in out)  # numbers, not a verdict


def test_affective_finding_counts_only_languages_in_context():
    fe = [[np.nan, 1.5, 0.5], [1.5, np.nan, 0.5], [0.5, 0.5, np.nan]]
    p = [[np.nan, 0.01, 0.9], [0.01, np.nan, 0.9], [0.9, 0.9, np.nan]]
    res = _results([0.2, 0.5, 0.4], [0, 1, 2], {"fr": 3, "de": 2, "ar": 1}, fe, p,
                   modes=["bible contexts", "bible contexts", "word alone"])
    aff = _by_key(findings_check(res))["affective_overlap"]
    assert aff["holds"] and aff["numbers"]["languages_in_context"] == ["l0", "l1"]
    res = _results([0.2, 0.5, 0.4], [0, 1, 2], {"fr": 3, "de": 2, "ar": 1}, fe, p,
                   modes=["bible contexts", "word alone", "word alone"])
    assert "affective_overlap" not in _by_key(findings_check(res))


def test_colap_order_needs_its_languages():
    res = _results([0.2, 0.5, 0.4], [0, 1, 2], {"fr": 3, "es": 2}, [[np.nan]], [[np.nan]])
    assert "colap_order" not in _by_key(findings_check(res))


def test_findings_skip_missing_analyses():
    assert findings_check({}) == []
    assert findings_check({"models": {"m": {}}}) == []


def test_sensitivity_variants_vary_one_choice():
    from interlingua.plugins.demo.sensitivity import variants

    cfg = full_config().for_model("builtin:multilingual-e5-small")
    assert variants("anc_rise_fall", cfg) == [("verses", 250), ("verses", 500),
                                              ("signed correlation", True)]
    assert variants("calign_depth", cfg) == [("K", 75), ("K", 300),
                                             ("occurrences per type (max)", 20)]
    assert [c for c, _ in variants("affective_overlap", cfg)] == [
        "top-k", "top-k", "contexts per word", "words per language"]
    assert variants("unknown", cfg) == []


def test_configs():
    from interlingua.plugins.demo.config import DECODER, MODEL, with_verses

    q, f = quick_config(), full_config()
    assert q.quick and q.models == [MODEL, DECODER] and not q.sensitivity
    assert f.models == [MODEL, DECODER] and not f.quick and f.sensitivity
    e5, gemma = f.for_model(MODEL), f.for_model(DECODER)
    assert e5.pairs == 1000 and e5.layers is None and e5.model_dtype == "float32"
    assert gemma.model_dtype == "bfloat16" and gemma.layers == [str(i) for i in range(0, 19, 2)]
    assert gemma.for_pair("en", "ar").lang_b == "ar" and gemma.model == DECODER
    assert with_verses(f, 64).for_model(DECODER).pairs == 64
    assert f.for_model("some/other").pairs is None  # no plan: the run's settings
    assert default_data_path().name == "bible_en_es.tsv"
    assert DemoConfig().to_dict()["models"] == [MODEL, DECODER]


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="not found"):
        run_demo(tmp_path, full_config(data=str(tmp_path / "nope.tsv")))
    with pytest.raises(InputError, match="unknown demo step"):
        run_demo(tmp_path, quick_config(), steps=("nonsense",))


def test_comma_list_options_are_checked_before_any_work(tmp_path):
    from click.testing import CliRunner

    from interlingua.plugins.demo.cli import demo

    out = tmp_path / "out"
    result = CliRunner().invoke(demo, ["-o", str(out), "--langs", "en"])
    assert result.exit_code == 2 and "at least two language codes" in result.output
    result = CliRunner().invoke(demo, ["-o", str(out), "--steps", "similarity, nope"])
    assert result.exit_code == 2 and "unknown step(s) nope" in result.output
    assert not out.exists()


def test_pipeline_module_reexports_the_split_modules():
    from interlingua.plugins.demo import config, findings, pipeline, run

    assert pipeline.run_demo is run.run_demo
    assert pipeline.quick_config is config.quick_config
    assert pipeline.findings_check is findings.findings_check
    assert pipeline.STEPS == ("similarity", "word_translation", "concepts", "affective",
                              "neurons")
