"""Core pieces shared by every family: progress protocol, layer-wise result, suggestions."""

import io
import json

import numpy as np
import pytest

from interlingua.core.errors import InputError
from interlingua.core.layerwise import LayerwiseResult
from interlingua.core.progress import SILENT, Progress, as_progress, rich_progress
from interlingua.core.result import MetricResult
from interlingua.core.suggest import closest, did_you_mean


def test_silent_and_rich_progress_follow_the_protocol():
    from rich.console import Console

    assert as_progress(None) is SILENT and as_progress(False) is SILENT
    assert isinstance(SILENT, Progress)
    with SILENT.task("nothing", total=3) as task:
        task.advance()
        task.update(total=4, description="still nothing")
    buffer = io.StringIO()
    shown = rich_progress(console=Console(file=buffer, force_terminal=True, width=80))
    assert isinstance(shown, Progress) and as_progress(shown) is shown
    with shown.task("counting", total=2) as task:
        task.advance()
        task.advance()
    assert "counting" in buffer.getvalue()
    with rich_progress(rate=True, console=Console(file=io.StringIO())).task("r", 1) as task:
        task.advance(rate="5 tok/s")


def test_layerwise_result_values_rows_json_and_plot(tmp_path):
    per = {"anc": {"0": MetricResult(0.2), "6": MetricResult(0.6, pvalue=0.01, ci=(0.5, 0.7),
                                                         details={"n": 10})},
           "cka": {"0": MetricResult(0.4), "6": MetricResult(float("nan"))}}
    lw = LayerwiseResult(["0", "6"], per, {"lang_a": "en"})
    assert lw.series == ["anc", "cka"] and lw.values("anc") == [0.2, 0.6]
    assert lw.best_layer("anc") == "6" and lw.best_layer("cka") == "0"
    with pytest.raises(InputError, match="several series"):
        lw.values()
    rows = lw.rows(series_name="metric")
    assert rows[2] == {"layer": "6", "metric": "anc", "value": 0.6, "pvalue": 0.01,
                       "ci_low": 0.5, "ci_high": 0.7, "n": 10}
    data = json.loads(json.dumps(lw.to_dict()))
    assert data["lang_a"] == "en" and data["results"]["cka"]["6"]["value"] is None
    single = LayerwiseResult.single("calign", {"3": MetricResult(0.1)})
    assert single.values() == [0.1] and single.result("calign", "3").value == 0.1
    path = lw.plot(tmp_path / "curves.png", ylabel="similarity", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.isnan(lw.values("cka")[1])


def test_did_you_mean():
    assert did_you_mean("ckaa", ["cka", "anc"]) == "; did you mean 'cka'?"
    assert did_you_mean("zzz", ["cka"]) == ""
    assert closest("colab", ["colap", "calign"]) == "colap"
