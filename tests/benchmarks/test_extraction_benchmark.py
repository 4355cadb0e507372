"""``benchmarks/extraction.py``: its error statistics, its ratios and a smoke run."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import interlingua as il

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "extraction.py"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH.parent))  # its helpers (_memory), as when it runs as a script
    spec = importlib.util.spec_from_file_location("benchmark_extraction", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_numpy_cka_matches_the_metric(bench):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 24)).astype(np.float32)
    y = (x @ rng.normal(size=(24, 16)) + 0.5 * rng.normal(size=(300, 16))).astype(np.float32)
    assert bench.numpy_linear_cka(x, y) == pytest.approx(il.get_metric("cka")(x, y).value,
                                                         abs=1e-6)
    assert bench.numpy_linear_cka(x, 3 * x + 1) == pytest.approx(1.0, abs=1e-9)


def test_compare_rows(bench):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(200, 8)).astype(np.float32)
    same = bench.compare_rows(a, a)
    assert same["max_abs_rel"] == 0 and same["row_rel_max"] == 0
    assert same["cka"] == pytest.approx(1.0) and same["anc"] == pytest.approx(1.0)
    b = a.copy()
    b[3, 2] += 0.1 * np.abs(a).max()  # one entry off by 10 % of the largest magnitude
    out = bench.compare_rows(a, b)
    assert out["max_abs_rel"] == pytest.approx(0.1, rel=1e-5)
    assert out["row_rel_median"] == 0
    assert out["row_rel_max"] == pytest.approx(
        np.linalg.norm(b[3] - a[3]) / np.linalg.norm(a[3]), rel=1e-5)
    assert out["min_neuron_r"] < 1 and out["anc"] < 1


def test_ratios_are_ratios_of_medians(bench):
    ours = [{"tokens": 100, "wall_seconds": s, "loop_seconds": s / 2, "forward_seconds": s / 4}
            for s in (10.0, 12.0, 30.0)]
    bare = [{"tokens": 100, "wall_seconds": s, "loop_seconds": s / 4} for s in (9.0, 8.0, 50.0)]
    out = bench.summarize_pair(ours, bare)
    assert out["end_to_end"]["ratio"] == pytest.approx(9.0 / 12.0)
    assert out["loop"]["ratio"] == pytest.approx((9.0 / 4) / 6.0)
    assert out["forward_share"] == pytest.approx(0.5)


@pytest.mark.slow
def test_smoke_run_on_a_tiny_model(bench, tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench.main(["--models", "tiny", "--bf16-models", "tiny", "--sections", "compare,bf16",
                "--sentences", "8", "--repeats", "1", "--bf16-sentences", "8",
                "--bf16-repeats", "1", "--json", str(out)])
    res = json.loads(out.read_text())
    cmp = res["compare"]["tiny"]
    assert cmp["ours"][0]["tokens"] == cmp["bare"][0]["tokens"] > 0
    assert cmp["ours"][0]["sentences"] == cmp["bare"][0]["sentences"] == 8
    assert cmp["end_to_end"]["ratio"] > 0
    layers = res["bf16"]["tiny"]["layers"]
    assert set(layers) == {"0", "1", "2"}
    assert all(v["cka"] > 0.99 and v["max_abs_rel"] < 0.1 for v in layers.values())
    assert res["bf16"]["tiny"]["cka_check"]["abs_diff"] < 1e-6
    assert "ours/bare tokens/s end to end" in capsys.readouterr().out
