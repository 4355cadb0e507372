"""The example plugin package in examples/third_party_metric, installed like any
third-party package (CI installs it), seen through the real entry-point machinery."""

import json
import os
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

try:
    metadata.distribution("interlingua-rsa")
except metadata.PackageNotFoundError:  # pragma: no cover - CI installs it
    pytest.skip("pip install -e examples/third_party_metric to run these tests",
                allow_module_level=True)


def _cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    env.pop("INTERLINGUA_LOAD_PLUGINS", None) if env_extra is None else None
    return subprocess.run([sys.executable, "-m", "interlingua", *args], capture_output=True,
                          text=True, env=env)


def test_listed_with_provider_and_version():
    proc = _cli("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    rsa = [p for p in json.loads(proc.stdout) if p["name"] == "rsa"]
    assert rsa and rsa[0]["provider"] == "interlingua-rsa" and rsa[0]["version"] == "0.1.0"
    assert rsa[0]["kind"] == "metric" and rsa[0]["symmetric"] is True


def test_allow_list_hides_it():
    proc = _cli("plugins", "--json", env_extra={"INTERLINGUA_LOAD_PLUGINS": ""})
    assert "rsa" not in {p["name"] for p in json.loads(proc.stdout)}
    proc = _cli("plugins", "--json", env_extra={"INTERLINGUA_LOAD_PLUGINS": "interlingua-rsa"})
    assert "rsa" in {p["name"] for p in json.loads(proc.stdout)}


def test_runs_through_interlingua_run(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", X @ rng.normal(size=(5, 3)))
    out = tmp_path / "rsa.json"
    proc = _cli("run", "metric:rsa", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"),
                "--param", "distance=cosine", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["metric"] == "rsa" and result["params"]["distance"] == "cosine"
    assert -1 <= result["value"] <= 1


def test_third_party_command_through_register_commands(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", X * 2.0)
    proc = _cli("rsa", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--distance",
                "cosine")
    assert proc.returncode == 0, proc.stderr
    assert "rsa" in proc.stdout and "1.0" in proc.stdout  # scaling keeps cosine RDMs
    helptext = _cli("rsa", "--help").stdout
    assert "--distance" in helptext and "euclidean" in helptext  # from the declared Param
    assert "rsa" in _cli("--help").stdout
    hidden = _cli("--help", env_extra={"INTERLINGUA_LOAD_PLUGINS": ""}).stdout
    assert " rsa " not in hidden


def test_third_party_command_writes_through_the_output_guard(tmp_path):
    X = np.random.default_rng(2).normal(size=(20, 3))
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", -X)
    out = tmp_path / "rsa.json"
    args = ("rsa", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "-o", str(out))
    assert _cli(*args).returncode == 0 and json.loads(out.read_text())["value"] == 1.0
    again = _cli(*args)
    assert again.returncode == 1 and "--overwrite" in again.stderr
    itself = _cli("rsa", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "-o",
                  str(tmp_path / "x.npy"), "-f")
    assert itself.returncode == 1 and "same file as the input" in itself.stderr
