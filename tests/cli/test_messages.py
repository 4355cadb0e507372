"""Fault injection (issue 14, item 5): every failure is one clear line, no traceback."""

from __future__ import annotations

import json
import types

import h5py
import numpy as np
import pytest

import interlingua as il
from interlingua.cli import main
from interlingua.core import Metric, MetricResult
from interlingua.core.store import ActivationStore, SentenceRecord
from interlingua.registry import get_registry, manager, reset_registry


class NanMetric(Metric):
    """Always NaN (a broken third-party metric)."""

    name = "test-nan"

    def compute(self, X, Y):
        return MetricResult(float("nan"))


class DictMetric(Metric):
    """Returns a dict instead of a MetricResult."""

    name = "test-dict"

    def compute(self, X, Y):
        return {"value": 0.5}


@pytest.fixture
def registry():
    reset_registry()
    module = types.ModuleType("message_test_plugins")

    @il.hookimpl
    def register_metrics(register):
        register(NanMetric)
        register(DictMetric)

    module.register_metrics = register_metrics
    get_registry().register_module(module, provider="msg-tests", version="0.1")
    yield get_registry()
    reset_registry()


def one_line(text: str) -> str:
    """The only non-blank line of ``text`` (asserts there is exactly one, no traceback)."""
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def _strict_json(path):
    def refuse(token):
        raise AssertionError(f"bare {token} in {path}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.fixture
def xy(tmp_path):
    rng = np.random.default_rng(0)
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, rng.normal(size=(6, 3)))
    np.save(y, rng.normal(size=(6, 3)))
    return x, y


def test_run_metric_returning_nan_warns_and_writes_null(registry, xy, tmp_path, capsys):
    out = tmp_path / "nan.json"
    assert main(["run", "metric:test-nan", str(xy[0]), str(xy[1]), "-o", str(out)]) == 0
    warning = one_line(capsys.readouterr().err)
    assert warning.startswith("warning: metric plugin 'test-nan' (provider msg-tests) "
                              "returned NaN;")
    assert '"value": null with a "value_note"' in warning
    data = _strict_json(out)
    assert data["value"] is None
    assert data["value_note"] == "metric 'test-nan' returned NaN; stored as null (JSON has no NaN)"


def test_compare_metric_returning_nan_warns_per_layer(registry, tmp_path, capsys):
    rng = np.random.default_rng(0)
    store = tmp_path / "acts.h5"
    writer = ActivationStore.create(store, model="toy", extractor="test")
    writer.append([SentenceRecord(["a", "b"], lang, pair_id=i)
                   for i in range(6) for lang in ("en", "es")],
                  {str(layer): {"words": rng.normal(size=(24, 3)),
                                "sentences": rng.normal(size=(12, 3))} for layer in range(2)})
    writer.finalize()
    out = tmp_path / "cmp"
    assert main(["compare", str(store), "-m", "test-nan", "-o", str(out), "--no-plot"]) == 0
    warning = one_line(capsys.readouterr().err)
    assert warning.startswith("warning: metric plugin 'test-nan' (provider msg-tests) returned "
                              "NaN for layer(s) 0, 1;")
    data = _strict_json(out / "compare.json")
    for layer in ("0", "1"):
        entry = data["results"]["test-nan"][layer]
        assert entry["value"] is None and "returned NaN" in entry["value_note"]


def test_metric_result_to_dict_notes_nonfinite_values():
    data = MetricResult(float("-inf"), metric="m").to_dict()
    assert data["value"] is None and data["value_note"].startswith("metric 'm' returned -inf")
    assert list(data)[:4] == ["metric", "params", "value", "value_note"]
    assert "value_note" not in MetricResult(0.5).to_dict()
    json.loads(MetricResult(float("nan")).to_json(), parse_constant=lambda t: 1 / 0)


def test_run_metric_returning_dict_names_plugin_and_provider(registry, xy, capsys):
    assert main(["run", "metric:test-dict", str(xy[0]), str(xy[1])]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("Error: metric plugin 'test-dict' (provider msg-tests) returned "
                           "dict from compute(); expected MetricResult or float")
    assert "--debug" not in line  # an interlingua error, not an unexpected one


def test_metric_returning_dict_without_registry_names_its_class():
    with pytest.raises(il.PluginError, match=r"metric plugin 'test-dict' \(class .*DictMetric\) "
                                             "returned dict"):
        DictMetric()(np.ones((3, 2)), np.zeros((3, 2)))


def test_extract_zero_width_line_names_file_and_line(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\n\u200b\u200b \u200b\n", encoding="utf-8")
    out = tmp_path / "s.h5"
    # The corpus is read before the model is loaded: no model needed.
    assert main(["extract", "no-model", str(corpus), "--lang", "en", "-o", str(out)]) == 1
    line = one_line(capsys.readouterr().err)
    assert line == (f"Error: {corpus}:2: no words after normalisation: the line holds only "
                    "invisible characters (U+200B ZERO WIDTH SPACE); delete the line or fix "
                    "its text")
    assert not list(tmp_path.glob("s.h5*"))


def test_extract_nul_byte_rejected_before_any_store(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_bytes(b"hello world\nbad\x00line\n")
    out = tmp_path / "s.h5"
    assert main(["extract", "no-model", str(corpus), "--lang", "en", "-o", str(out)]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"Error: {corpus}:2: contains a NUL byte")
    assert not list(tmp_path.glob("s.h5*"))


def test_superexact_id_beyond_int64_names_set_id_and_range(tmp_path, capsys):
    sets = tmp_path / "sets.json"
    sets.write_text(json.dumps({"a": [1, 2], "big": [1, 10**30]}), encoding="utf-8")
    assert main(["superexact", str(sets), "--background", "768"]) == 1
    line = one_line(capsys.readouterr().err)
    assert "set 'big'" in line and str(10**30) in line
    assert "ids must be integers in [0, background)" in line and "[0, 768)" in line


def _truncated_h5(path):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "interlingua-concepts"
        f.create_dataset("x", data=np.arange(50_000, dtype=np.float64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("command", ["calign", "colap", "import-neurox"])
def test_truncated_hdf5_is_one_line(command, tmp_path, capsys):
    bad = _truncated_h5(tmp_path / "broken.h5")
    assert h5py.is_hdf5(str(bad))  # the signature survives truncation
    lexicon = tmp_path / "lex.tsv"
    lexicon.write_text("haus\thouse\n", encoding="utf-8")
    args = {
        "calign": ["calign", str(bad), "-s", "de", "-t", "en", "-d", str(lexicon)],
        "colap": ["colap", str(bad)],
        "import-neurox": ["import-neurox", str(bad), "-o", str(tmp_path / "s.h5"),
                          "--lang", "en"],
    }[command]
    assert main(args) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"Error: {bad}: not a readable HDF5 file (truncated or corrupt)")
    assert not (tmp_path / "s.h5").exists()


def test_import_neurox_layer_count_mismatch(tmp_path, capsys):
    src = tmp_path / "acts.hdf5"
    with h5py.File(src, "w") as f:
        f.create_dataset("0", data=np.ones((3, 2, 4), np.float32))
        f.create_dataset("1", data=np.ones((2, 1, 4), np.float32))
        ds = f.create_dataset("sentence_to_index", (1,), dtype=h5py.string_dtype("utf-8"))
        ds[0] = json.dumps({"a b": "0", "c": "1"})
    out = tmp_path / "s.h5"
    assert main(["import-neurox", str(src), "-o", str(out), "--lang", "en"]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"Error: {src}: sentence 1 has activations for 2 layer(s), but "
                           "sentence 0 has 3")
    assert not out.exists()


def test_unknown_allow_list_name_warns_once_with_suggestion(monkeypatch, capsys):
    class Dist:
        name, version = "interlingua-meandiff", "1.0"

    class EntryPoint:
        name, dist = "meandiff", Dist()

        def load(self):
            return types.ModuleType("empty_plugin")

    monkeypatch.setattr(manager.metadata, "entry_points", lambda group: [EntryPoint()])
    monkeypatch.setenv("INTERLINGUA_LOAD_PLUGINS", "meandif")
    reset_registry()
    try:
        assert main(["run", "metric:test-nothing", "x.npy", "y.npy"]) == 1
    finally:
        reset_registry()
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: INTERLINGUA_LOAD_PLUGINS names 'meandif', but no installed plugin has that "
        "entry-point or distribution name. Did you mean 'meandiff'? Installed: "
        "interlingua-meandiff, meandiff — ignored"
    ]
    assert "Traceback" not in err and "PluginLoadWarning" not in err
