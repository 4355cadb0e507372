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


def _results(anc, calign, fe, p):
    layers = [str(i) for i in range(len(anc))]
    n = len(fe)
    return {
        "similarity": {"layers": layers,
                       "results": {"anc": {lay: {"value": v} for lay, v in zip(layers, anc)}}},
        "concepts": {"calign": {"layers": {lay: {"value": v}
                                           for lay, v in zip(layers, calign)}}},
        "affective": {"top_sets": {"layer": "3", "k": 100},
                      "pairwise_fold_enrichment": {"languages": [f"l{i}" for i in range(n)],
                                                   "matrix": fe, "pvalues": p}},
    }


def test_findings_hold_when_numbers_say_so():
    fe = [[np.nan, 1.5, 1.4], [1.5, np.nan, 1.6], [1.4, 1.6, np.nan]]
    p = [[np.nan, 0.01, 0.02], [0.01, np.nan, 0.001], [0.02, 0.001, np.nan]]
    out = findings_check(_results([0.2, 0.5, 0.6, 0.55, 0.5], [0, 5, 10, 12, 15], fe, p))
    assert [f["holds"] for f in out] == [True, True, True]
    assert out[0]["numbers"]["best_middle_layer"] == "2"
    assert out[2]["numbers"]["mean_pairwise_fe"] == pytest.approx(1.5)


def test_findings_not_forced():
    fe = [[np.nan, 0.9], [0.9, np.nan]]
    p = [[np.nan, 0.7], [0.7, np.nan]]
    out = findings_check(_results([0.6, 0.5, 0.4, 0.3, 0.2], [15, 12, 10, 5, 0], fe, p))
    assert [f["holds"] for f in out] == [False, False, False]
    assert "does not" not in out[0]["text"]  # the text states numbers, not a verdict


def test_findings_skip_missing_analyses():
    assert findings_check({}) == []


def test_configs():
    q, f = quick_config(), full_config(pairs=100)
    assert q.quick and q.pairs == 400 and q.layers == ["0", "3", "6", "9", "12"]
    assert f.pairs == 100 and f.layers is None and not f.quick
    assert default_data_path().name == "bible_en_es.tsv"
    assert DemoConfig().to_dict()["model"] == "builtin:multilingual-e5-small"


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
    assert result.exit_code == 2 and "two language codes" in result.output
    result = CliRunner().invoke(demo, ["-o", str(out), "--steps", "similarity, nope"])
    assert result.exit_code == 2 and "unknown step(s) nope" in result.output
    assert not out.exists()


def test_pipeline_module_reexports_the_split_modules():
    from interlingua.plugins.demo import config, findings, pipeline, run

    assert pipeline.run_demo is run.run_demo
    assert pipeline.quick_config is config.quick_config
    assert pipeline.findings_check is findings.findings_check
    assert pipeline.STEPS == ("similarity", "word_translation", "concepts", "affective")
