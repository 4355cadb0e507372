"""`interlingua concepts | calign | colap | induce-dictionary` end to end on a tiny store."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from interlingua.cli import cli
from interlingua.core.store import ActivationStore, SentenceRecord

K = 4


def _store(path, n_pairs=60, seed=0):
    """en/de parallel sentences; layer "1": words of a concept (and translations) share a
    centre; layer "0": per-language offsets keep the languages apart."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(K, 8)) * 10
    offset = {"en": np.full(8, 40.0), "de": np.full(8, -40.0)}
    records, rows0, rows1 = [], [], []
    for p in range(n_pairs):
        cs, ks = rng.integers(0, K, 5), rng.integers(0, 6, 5)
        for lang, prefix in (("en", "e"), ("de", "d")):
            records.append(SentenceRecord([f"{prefix}{c}_{k}" for c, k in zip(cs, ks)], lang,
                                          pair_id=p))
            for c in cs:
                noise = rng.normal(size=8) * 0.5
                rows1.append(centers[c] + noise)
                rows0.append(centers[c] + offset[lang] + noise)
    with ActivationStore.create(path, model="synthetic", extractor="test") as st:
        n = len(records)
        st.append(records, {"0": {"words": np.array(rows0), "sentences": np.zeros((n, 8))},
                            "1": {"words": np.array(rows1), "sentences": np.zeros((n, 8))}})
        st.finalize()
    return path


@pytest.fixture
def workdir(tmp_path):
    _store(tmp_path / "acts.h5")
    pairs = [f"e{c}_{k}\td{c}_{k}\t0.9" for c in range(K) for k in range(6)]
    (tmp_path / "dict.tsv").write_text("\n".join(pairs) + "\n", encoding="utf-8")
    return tmp_path


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_concepts_calign_colap_pipeline(workdir):
    store = workdir / "acts.h5"
    out = invoke("concepts", store, "-k", K, "--min-freq", 1, "--max-freq", 0)
    assert "wrote" in out and (workdir / "acts.concepts.h5").is_file()
    invoke("concepts", store, "-k", K, "--mixed", "--layers", "0,1", "--method",
           "minibatch-kmeans", "-p", "batch_size=64", "--export-conceptx", workdir / "cx")
    assert sorted(p.name for p in (workdir / "cx").iterdir()) == [
        "clusters-0-_mixed.txt", "clusters-1-_mixed.txt"]

    out = invoke("calign", store, "-s", "en", "-t", "de", "-d", workdir / "dict.tsv",
                 "-o", workdir / "calign.json", "--plot", workdir / "calign.png", "--show", 2)
    assert "CALIGN" in out and "top aligned concepts" in out
    data = json.loads((workdir / "calign.json").read_text())
    assert data["layers"]["1"]["value"] == pytest.approx(100.0)
    assert data["source"] == "en" and data["params"]["variant"] == "paper"
    assert (workdir / "calign.csv").read_text().startswith("run,layer,calign")
    assert (workdir / "calign.png").stat().st_size > 1000

    out = invoke("colap", workdir / "acts.concepts.h5", "-o", workdir / "colap",
                 "--plot", workdir / "colap.png", "--show", 3)
    assert "COLAP" in out and "top overlapping concepts" in out
    data = json.loads((workdir / "colap" / "colap.json").read_text())
    assert data["layers"]["1"]["value"] == pytest.approx(100.0)
    assert data["layers"]["0"]["value"] == pytest.approx(0.0)
    assert (workdir / "colap.png").is_file()


def test_calign_two_runs_and_reference_variant(workdir):
    store = workdir / "acts.h5"
    invoke("concepts", store, "-k", K, "--min-freq", 1, "--layers", "1")
    invoke("concepts", store, "-k", K, "--min-freq", 1, "--layers", "1", "--seed", 3,
           "-o", workdir / "other.concepts.h5")
    invoke("calign", workdir / "acts.concepts.h5", workdir / "other.concepts.h5",
                 "-s", "en", "-t", "de", "-d", workdir / "dict.tsv", "--variant", "reference",
                 "--theta", 0.7, "-o", workdir / "both.json")
    data = json.loads((workdir / "both.json").read_text())
    assert set(data) == {"acts", "other"}
    invoke("calign", workdir / "acts.concepts.h5", workdir / "other.concepts.h5",
           "-s", "en", "-t", "de", "-d", workdir / "dict.tsv", "--names", "base,tuned",
           "-o", workdir / "named.json", "--plot", workdir / "two.png")
    assert set(json.loads((workdir / "named.json").read_text())) == {"base", "tuned"}
    from interlingua.cli import main

    assert main(["calign", str(workdir / "acts.concepts.h5"), "-s", "en", "-t", "de", "-d",
                 str(workdir / "dict.tsv"), "--names", "a,b"]) == 1


def test_errors_are_one_line(workdir):
    from interlingua.cli import main

    assert main(["calign", str(workdir / "acts.h5"), "-s", "en", "-t", "de", "-d",
                 str(workdir / "dict.tsv")]) == 1  # no concept file yet
    assert main(["concepts", str(workdir / "acts.h5"), "--method", "agglomerative",
                 "-p", "max_points=10", "-k", "2"]) == 1
    bad = workdir / "bad.txt"
    bad.write_text("a b 0.5\nc\n", encoding="utf-8")
    invoke("concepts", workdir / "acts.h5", "-k", K, "--layers", "1")
    assert main(["calign", str(workdir / "acts.h5"), "-s", "en", "-t", "de", "-d",
                 str(bad)]) == 1


def test_induce_dictionary_from_store_and_files(workdir):
    out = invoke("induce-dictionary", workdir / "acts.h5", "-s", "en", "-t", "de",
                 "-o", workdir / "lex.txt", "--backend", "ibm1")
    assert "wrote" in out
    first = (workdir / "lex.txt").read_text(encoding="utf-8").splitlines()[0]
    assert " -> " in first and "Probability" in first
    src = workdir / "c.en"
    tgt = workdir / "c.de"
    src.write_text("a b\nb c\na c\n", encoding="utf-8")
    tgt.write_text("x y\ny z\nx z\n", encoding="utf-8")
    invoke("induce-dictionary", src, tgt, "-o", workdir / "lex", "--format", "moses",
           "--backend", "ibm1")
    assert (workdir / "lex.f2e").is_file() and (workdir / "lex.e2f").is_file()
    from interlingua.cli import main

    assert main(["induce-dictionary", str(workdir / "acts.h5"), "-o",
                 str(workdir / "x.txt")]) == 1  # languages missing


@pytest.mark.parametrize(("command", "plugin"), [
    ("calign", "interlingua.plugins.concepts.calign:CAlign"),
    ("colap", "interlingua.plugins.concepts.colap:COlap"),
    ("concepts", "interlingua.plugins.concepts.kmeans:KMeansDiscoverer"),
])
def test_help_shows_the_plugin_defaults(command, plugin):
    """`--help` and `interlingua plugins show` agree: options come from the Params."""
    import importlib

    module, _, name = plugin.partition(":")
    factory = getattr(importlib.import_module(module), name)
    specs = factory.params if command != "concepts" else [
        p for p in factory.params if p.name == "n_clusters"]
    text = " ".join(CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
                    .output.split())
    for spec in specs:
        flag = "--" + spec.name.replace("_", "-")
        assert flag in text and spec.help in text
        assert f"[default: {spec.default}]" in text
    if command == "concepts":
        assert "-k, --n-clusters" in text


def test_list_options_and_suggestions(workdir, capsys):
    from interlingua.cli import main

    store = workdir / "acts.h5"
    invoke("concepts", store, "-k", K, "--min-freq", 1, "--layers", "1,", "--languages", "en,de")
    out = invoke("calign", store, "-s", "en", "-t", "de", "-d", workdir / "dict.tsv",
                 "--layers", " 1 ,", "--names", "run", "--show", 1, "--show-layer", "1")
    assert "run" in out and "top aligned concepts" in out
    capsys.readouterr()
    assert main(["calign", str(store), "-s", "en", "-t", "de", "-d",
                 str(workdir / "dict.tsv"), "--show", "1", "--show-layer", "11"]) == 1
    assert "did you mean '1'" in capsys.readouterr().err
    assert main(["induce-dictionary", str(store), "-s", "enn", "-t", "de", "-o",
                 str(workdir / "lex.txt"), "--backend", "ibm1"]) == 1
    assert "did you mean 'en'" in capsys.readouterr().err
