"""`interlingua compare` through click's CliRunner."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from interlingua.core.store import ActivationStore, SentenceRecord
from interlingua.plugins.similarity.cli import compare


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """en/es parallel sentences; layer 1 shares most."""
    path = tmp_path_factory.mktemp("cli") / "par.h5"
    rng = np.random.default_rng(0)
    n, d = 80, 5
    base = rng.normal(size=(3, n, d))
    noise = (2.0, 0.2, 1.0)
    with ActivationStore.create(path, model="toy", extractor="test") as st:
        recs, layers = [], {str(k): {"sentences": [], "words": []} for k in range(3)}
        for lang in ("en", "es"):
            for i in range(n):
                recs.append(SentenceRecord([f"{lang}{i}"], lang, pair_id=i, target=0))
            for k in range(3):
                rows = (base[k] + noise[k] * rng.normal(size=(n, d))).astype(np.float32)
                layers[str(k)]["sentences"].append(rows)
                layers[str(k)]["words"].append(rows)
        st.append(recs, {k: {lv: np.concatenate(v) for lv, v in lvs.items()}
                         for k, lvs in layers.items()})
        st.finalize()
    return path


def test_table_json_csv_png(store, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(compare, [str(store), "-m", "anc", "-m", "cka:debiased=true",
                                       "-m", "procrustes", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "cka[debiased=True]" in res.output and "en vs es" in res.output
    data = json.loads((out / "compare.json").read_text())
    assert data["layers"] == ["0", "1", "2"] and data["n"] == 80
    anc = [data["results"]["anc"][layer]["value"] for layer in data["layers"]]
    assert anc[1] == max(anc)
    csv_lines = (out / "compare.csv").read_text().splitlines()
    assert csv_lines[0].startswith("layer,metric,value") and len(csv_lines) == 1 + 9
    assert (out / "compare.png").stat().st_size > 1000


def test_significance_and_layers(store, tmp_path):
    res = CliRunner().invoke(compare, [str(store), "--lang-a", "es", "--lang-b", "en",
                                       "--layers", "1,2", "--permutations", "19",
                                       "--bootstrap", "20", "--out",
                                       str(tmp_path / "r.json"), "--no-plot"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["layers"] == ["1", "2"]
    r = data["results"]["anc"]["1"]
    assert r["pvalue"] == pytest.approx(1 / 20) and len(r["ci"]) == 2
    assert not (tmp_path / "r.png").exists()
    assert "95% CI" in res.output


def test_dask_local(store, tmp_path):
    pytest.importorskip("distributed")
    plain = CliRunner().invoke(compare, [str(store), "-m", "cka", "--out",
                                         str(tmp_path / "a.json"), "--no-plot"])
    viadask = CliRunner().invoke(compare, [str(store), "-m", "cka", "--dask", "local",
                                           "--out", str(tmp_path / "b.json"), "--no-plot"])
    assert plain.exit_code == 0 and viadask.exit_code == 0, viadask.output
    a = json.loads((tmp_path / "a.json").read_text())["results"]["cka"]
    b = json.loads((tmp_path / "b.json").read_text())["results"]["cka"]
    for layer in a:
        assert b[layer]["value"] == pytest.approx(a[layer]["value"], abs=1e-10)


def test_errors(store):
    res = CliRunner().invoke(compare, [str(store), "-m", "nosuch"])
    assert res.exit_code != 0 and "nosuch" in str(res.exception)
    res = CliRunner().invoke(compare, [str(store), "--lang-a", "en", "--lang-b", "xx"])
    assert res.exit_code != 0 and "xx" in str(res.exception)
    res = CliRunner().invoke(compare, [str(store), "--level", "tokens"])
    assert res.exit_code == 2
