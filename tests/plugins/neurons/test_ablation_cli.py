"""``interlingua ablate`` end to end on the planted tiny Gemma 3 (with its silent
Cyrillic neuron, see ``test_ablation.py``): a LAPE run, then the ablation table and its
files; the output guard (refused before any work without -f, never over an input) and a
LAPE result of another model refused in one line."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from interlingua.cli import main


def _module(name):
    spec = importlib.util.spec_from_file_location(f"neurons_{name}",
                                                  Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ABLATION = _module("test_ablation")
SENTENCES = ABLATION.PLANTED.SENTENCES


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return ABLATION.build_silent_planted(tmp_path_factory.mktemp("cli") / "gemma")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    langs = list(SENTENCES)
    rows = ["\t".join(langs)] + ["\t".join(SENTENCES[lang][i] for lang in langs)
                                 for i in range(8)]
    path = tmp_path_factory.mktemp("corpus") / "four.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lape_dir(planted, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("lape") / "lape"
    assert main(["lape", str(planted), str(corpus), "-o", str(out), "--batch-size", "3",
                 "--device", "cpu", "--quiet", "--no-plot"]) == 0
    return out


def test_end_to_end(planted, corpus, lape_dir, tmp_path, capsys):
    out = tmp_path / "out"
    capsys.readouterr()
    code = main(["ablate", str(planted), str(corpus), "--lape", str(lape_dir), "-o", str(out),
                 "--batch-size", "3", "--device", "cpu", "--bootstrap", "200",
                 "--control-draws", "2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "perplexity with each language's neurons zero (causal LM loss)" in captured.out
    assert "no LAPE neurons (no row): en, de, ar" in captured.out
    data = json.loads((out / "ablation.json").read_text())
    assert data["off"] == ["ru"] and data["languages"] == ["en", "de", "ru", "ar"]
    assert data["neurons"]["ru"]["per_module"] == {"layers.1.mlp.act_fn": 1}
    assert [data["cells"]["ru"][e]["ratio"] for e in ("en", "de", "ar")] == [1.0] * 3
    assert data["cells"]["ru"]["ru"]["ratio"] != 1.0
    assert data["settings"]["bootstrap"] == 200 and data["settings"]["control_draws"] == 2
    assert data["meta"]["lape"]["modules"] == ["layers.0.mlp.act_fn", "layers.1.mlp.act_fn"]
    with open(out / "ablation.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["off"], r["evaluated"]) for r in rows] == [("ru", e) for e in data["languages"]]
    assert float(rows[2]["ratio"]) == pytest.approx(data["cells"]["ru"]["ru"]["ratio"])
    assert (out / "ablation.png").stat().st_size > 1000
    assert all(f"wrote {out / name}" in captured.out
               for name in ("ablation.json", "ablation.csv", "ablation.png"))


def test_outputs_guarded_and_options(planted, corpus, lape_dir, tmp_path, capsys):
    out = tmp_path / "res"
    out.mkdir()
    (out / "ablation.json").write_text("keep me\n")
    args = ["ablate", str(planted), str(corpus), "--lape", str(lape_dir), "-o", str(out),
            "--langs", "ru,en", "--sentences", "3", "--bootstrap", "0", "--control-draws",
            "0", "--no-plot", "--quiet", "--device", "cpu"]
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--overwrite" in err and "ablation.json" in err
    assert (out / "ablation.json").read_text() == "keep me\n"
    assert not (out / "ablation.csv").exists()  # refused before any work
    assert main([*args, "-f"]) == 0
    data = json.loads((out / "ablation.json").read_text())
    assert data["languages"] == ["ru", "en"] and data["baseline"]["ru"]["sentences"] == 3
    assert data["cells"]["ru"]["en"]["ratio_ci"] is None and not (out / "ablation.png").exists()
    assert main([*args, "-f", "--skip", "6"]) == 0  # held-out sentences: the last two
    data = json.loads((out / "ablation.json").read_text())
    assert data["baseline"]["ru"]["sentences"] == 2
    assert main([*args, "-f", "--skip", "8"]) != 0
    assert "--skip 8 leaves no sentence of ru, en" in capsys.readouterr().err
    before = corpus.read_bytes()
    for target in (corpus, lape_dir / "lape.json"):
        assert main([*args[:6], str(target), "-f", "--quiet"]) != 0
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(target) in err
    assert corpus.read_bytes() == before
    for extra, needle in [(["--langs", "ru,xx"], "language(s) xx not in four.tsv"),
                          (["--off", "en"], "no language to switch off has LAPE neurons"),
                          (["--bootstrap", "-1"], "bootstrap must be >= 0"),
                          (["--mode", "patch"], "'patch' is not one of")]:
        code = main(["ablate", str(planted), str(corpus), "--lape", str(lape_dir), "-o",
                     str(tmp_path / "bad"), "--quiet", "--device", "cpu", *extra])
        err = capsys.readouterr().err
        assert code != 0 and needle in err, (extra, err)


def test_lape_of_another_model_is_refused(planted, corpus, tmp_path, capsys):
    from interlingua.registry.commands import write_json

    foreign = ABLATION._foreign(["h.0.mlp.act", "h.1.mlp.act"], 64)
    lape = tmp_path / "gpt2-lape"
    foreign.counts.to_hdf5(lape / "counts.h5")
    write_json(lape / "lape.json", foreign.to_dict())
    code = main(["ablate", str(planted), str(corpus), "--lape", str(lape), "-o",
                 str(tmp_path / "x"), "--quiet", "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1, err
    assert "the LAPE neurons are not this model's: module 'h.0.mlp.act' does not exist" in err
    assert not (tmp_path / "x").exists()
