import json
import subprocess
import sys
import types

import numpy as np
import pytest

import interlingua as il
from interlingua.cli import main
from interlingua.core import Aligner, ConceptDiscoverer, Metric, MetricResult, Param
from interlingua.core.store import ActivationStore, SentenceRecord
from interlingua.registry import get_registry, reset_registry


class Gap(Metric):
    """Absolute difference of the grand means."""

    name = "test-gap"
    symmetric = True
    params = (Param("scale", 1.0, "multiplier", float),)

    def compute(self, X, Y):
        return MetricResult(abs(X.mean() - Y.mean()) * self.scale, per_unit=X.mean(0),
                            details={"rows": X.shape[0]})


class Shift(Aligner):
    """Translate by the difference of the means."""

    name = "test-shift"

    def fit(self, X, Y):
        X, Y = self._check_fit_inputs(X, Y)
        self.shift_ = Y.mean(0) - X.mean(0)
        return self

    def transform(self, X):
        return self._check_transform_input(X, self.shift_.size) + self.shift_


class Halves(ConceptDiscoverer):
    """Two clusters split at the median of the first column."""

    name = "test-halves"

    def fit(self, X):
        X = self._check_fit_input(X)
        self.labels_ = (X[:, 0] > np.median(X[:, 0])).astype(np.int64)
        return self


@pytest.fixture
def registry():
    reset_registry()
    module = types.ModuleType("cli_test_plugins")

    @il.hookimpl
    def register_metrics(register):
        register(Gap)

    @il.hookimpl
    def register_aligners(register):
        register(Shift)

    @il.hookimpl
    def register_discoverers(register):
        register(Halves)

    module.register_metrics = register_metrics
    module.register_aligners = register_aligners
    module.register_discoverers = register_discoverers
    get_registry().register_module(module, provider="cli-tests", version="9.9")
    yield get_registry()
    reset_registry()


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "acts.h5"
    writer = ActivationStore.create(path, model="toy", extractor="test")
    records = [SentenceRecord(["a", "b"], lang, pair_id=i)
               for i in range(6) for lang in ("en", "es")]
    writer.append(records, {str(layer): {"words": rng.normal(size=(24, 3)),
                                         "sentences": rng.normal(size=(12, 3))}
                            for layer in range(2)})
    writer.finalize()
    return path


def test_version(capsys):
    assert main(["--version"]) == 0
    assert il.__version__ in capsys.readouterr().out


def test_plugins_table_json_and_show(registry, capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "test-gap" in out and "cli-tests" in out and "9.9" in out
    assert main(["plugins", "--json", "--kind", "aligner"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {d["kind"] for d in data} == {"aligner"} and "test-shift" in {d["name"] for d in data}
    assert main(["plugins", "show", "metric:test-gap"]) == 0
    out = capsys.readouterr().out
    assert "scale" in out and "multiplier" in out and "symmetric: True" in out


def test_unknown_plugin_is_one_line_error(registry, capsys):
    assert main(["plugins", "show", "test-gpa"]) == 1
    err = capsys.readouterr().err
    assert "Error: unknown plugin 'test-gpa'. Did you mean 'test-gap'?" in " ".join(err.split())
    assert "Traceback" not in err
    assert main(["run", "metric:test-gpa", "x.npy", "y.npy"]) == 1
    assert "Did you mean 'test-gap'" in capsys.readouterr().err


def test_run_metric_on_files(registry, tmp_path, capsys):
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 3)) + 1
    np.save(tmp_path / "x.npy", X)
    np.savetxt(tmp_path / "y.csv", Y, delimiter=",")
    out = tmp_path / "r.json"
    code = main(["run", "metric:test-gap", str(tmp_path / "x.npy"), str(tmp_path / "y.csv"),
                 "--param", "scale=2", "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["metric"] == "test-gap" and result["params"] == {"scale": 2.0}
    assert result["value"] == pytest.approx(2 * abs(X.mean() - Y.mean()))
    assert "value" in capsys.readouterr().out


def test_run_pairs_store_languages_by_pair_id(registry, store, tmp_path):
    out = tmp_path / "r.json"
    assert main(["run", "test-gap", f"{store}:1:sentences@en", f"{store}:1@es",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    with ActivationStore.open(store) as st:
        a, b = st.parallel_rows("en", "es")
        layer = st.layer("1", "sentences")
        expected = abs(layer[a].mean() - layer[b].mean())
    assert result["value"] == pytest.approx(expected, rel=1e-6)
    assert result["details"]["rows"] == 6
    code = main(["run", "test-gap", f"{store}:1:words@en", f"{store}:1:words@es"])
    assert code == 1


def test_run_aligner_and_discoverer(registry, tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 4))
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", X + 5)
    out = tmp_path / "a.json"
    mapped = tmp_path / "m.npy"
    assert main(["run", "aligner:test-shift", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"),
                 "--out", str(out), "--save-transformed", str(mapped)]) == 0
    summary = json.loads(out.read_text())
    assert summary["relative_residual"] == pytest.approx(0, abs=1e-12)
    np.testing.assert_allclose(np.load(mapped), X + 5)
    out = tmp_path / "d.json"
    assert main(["run", "discoverer:test-halves", str(tmp_path / "x.npy"),
                 "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["labels"]) == 30


def test_run_input_errors(registry, tmp_path, capsys):
    assert main(["run", "test-gap", str(tmp_path / "x.npy")]) == 1
    assert "expected 2 input(s)" in capsys.readouterr().err
    (tmp_path / "x.pkl").write_bytes(b"\x80")
    assert main(["run", "test-gap", str(tmp_path / "x.pkl"), str(tmp_path / "x.pkl")]) == 1
    assert "unsupported file type" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    assert main(["run", "test-gap", str(tmp_path / "x.npy"), str(tmp_path / "x.npy"),
                 "--param", "scal=2"]) == 1
    assert "did you mean 'scale'" in capsys.readouterr().err


def test_info(store, capsys, tmp_path):
    assert main(["info", str(store)]) == 0
    out = capsys.readouterr().out
    assert "complete" in out and "toy" in out and "en" in out and "2 layers" in out
    assert main(["info", str(store), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_sentences"] == 12 and data["languages"] == {"en": 6, "es": 6}
    partial = tmp_path / "partial.h5"
    writer = ActivationStore.create(partial, model="toy", extractor="test")
    writer.append([SentenceRecord(["x"], "en")], {"0": {"words": np.ones((1, 2))}})
    writer.close()
    assert main(["info", str(partial)]) == 0
    assert "INCOMPLETE" in capsys.readouterr().out
    (tmp_path / "junk.h5").write_text("junk")
    assert main(["info", str(tmp_path / "junk.h5")]) == 1
    err = capsys.readouterr().err
    assert "not an HDF5 file" in err and "Traceback" not in err


def test_debug_shows_traceback(tmp_path):
    with pytest.raises(il.StoreError):
        main(["--debug", "info", str(tmp_path / "missing.h5")])


def test_neurox_import_export_commands(store, tmp_path, capsys):
    exported = tmp_path / "n.hdf5"
    assert main(["export-neurox", str(store), "-o", str(exported)]) == 0
    back = tmp_path / "back.h5"
    assert main(["import-neurox", str(exported), "-o", str(back), "--lang", "xx"]) == 0
    with ActivationStore.open(store) as a, ActivationStore.open(back) as b:
        np.testing.assert_array_equal(a.layer("1")[:], b.layer("1")[:])
    assert main(["import-neurox", str(exported), "-o", str(back), "--lang", "xx"]) == 1
    assert "already exists" in capsys.readouterr().err
    one = tmp_path / "one.hdf5"
    assert main(["export-neurox", str(store), "-o", str(one), "--layers", "1,"]) == 0
    single = tmp_path / "single.h5"
    assert main(["import-neurox", str(one), "-o", str(single), "--lang", "xx"]) == 0
    with ActivationStore.open(store) as a, ActivationStore.open(single) as b:
        assert len(b.layers) == 1
        np.testing.assert_array_equal(a.layer("1")[:], b.layer(b.layers[0])[:])


def test_console_script_entry():
    out = subprocess.run([sys.executable, "-m", "interlingua", "plugins", "--json"],
                         capture_output=True, text=True, check=True)
    assert isinstance(json.loads(out.stdout), list)
