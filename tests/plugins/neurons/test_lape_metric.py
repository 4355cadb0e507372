"""The ``lape`` metric plugin: the same selection as ``select_language_neurons``, from
counts in memory or a counts file, through the registry and ``interlingua run``; the
contract checks run over it with every other registered metric (tests/test_contracts)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.plugins.neurons.lape import select_language_neurons
from interlingua.testing import check_metric


@pytest.fixture(scope="module")
def counts():
    metric = il.get_metric("lape")
    (found,), _ = metric.example_inputs(np.random.default_rng(3))
    return found


def test_equals_the_selection_function(counts):
    result = il.get_metric("lape")(counts)
    direct = select_language_neurons(counts)
    assert result.details["sets"] == {k: v.tolist() for k, v in direct.sets().items()}
    n_langs = direct.specific.sum(axis=0)
    assert result.value == pytest.approx((n_langs >= 2).sum() / direct.selected.size)
    assert result.value == pytest.approx(0.1)  # 1 shared of 10 kept
    np.testing.assert_array_equal(result.per_unit, direct.lape)
    assert result.metric == "lape" and result.params["entropy_quantile"] == 0.01


def test_parameters_change_the_selection(counts):
    wide = il.get_metric("lape", entropy_quantile=0.05)(counts)
    assert wide.details["n_selected"] > il.get_metric("lape")(counts).details["n_selected"]
    check_metric(il.get_metric("lape", entropy_budget="candidates", entropy_quantile=0.5))


def test_counts_file_and_cli(counts, tmp_path, capsys):
    from interlingua.cli import main

    path = counts.to_hdf5(tmp_path / "counts.h5")
    from_file = il.get_metric("lape")(str(path))
    assert from_file.details["sets"] == il.get_metric("lape")(counts).details["sets"]
    out = tmp_path / "lape.json"
    assert main(["run", "metric:lape", str(path), "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["value"] == pytest.approx(0.1)
    assert main(["plugins", "--kind", "metric"]) == 0
    assert "lape" in capsys.readouterr().out


def test_bad_input_is_one_line(tmp_path):
    metric = il.get_metric("lape")
    with pytest.raises(InputError, match="expected ActivationCounts"):
        metric(np.zeros((3, 4)))
    (tmp_path / "x.h5").write_text("not hdf5")
    with pytest.raises(Exception, match="x.h5"):
        metric(str(tmp_path / "x.h5"))
    with pytest.raises(InputError, match="entropy_quantile"):
        il.get_metric("lape", entropy_quantile=2.0)(
            metric.example_inputs(np.random.default_rng(0))[0][0])
