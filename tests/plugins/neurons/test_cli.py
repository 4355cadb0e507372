"""``interlingua lape`` end to end on the planted tiny Gemma 3 of ``test_lape.py``: the
planted neuron in every output, the output guard (refused without -f, replaced with it,
never over the corpus), languages and sentence limits."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from interlingua.cli import main
from interlingua.plugins.neurons.activation_probability import ActivationCounts


def _planted_module():
    spec = importlib.util.spec_from_file_location("neurons_test_lape",
                                                  Path(__file__).with_name("test_lape.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PLANTED = _planted_module()


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return PLANTED.build_planted_gemma(tmp_path_factory.mktemp("planted") / "gemma")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    langs = list(PLANTED.SENTENCES)
    rows = ["\t".join(langs)] + ["\t".join(PLANTED.SENTENCES[lang][i] for lang in langs)
                                 for i in range(8)]
    path = tmp_path_factory.mktemp("corpus") / "four.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_end_to_end(planted, corpus, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["lape", str(planted), str(corpus), "-o", str(out), "--batch-size", "3",
                 "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "1 language-specific of 128 neurons" in captured.out
    data = json.loads((out / "lape.json").read_text())
    assert data["per_language"] == {"en": 0, "de": 0, "ru": 1, "ar": 0}
    neuron = data["neurons"][0]
    assert (neuron["module"], neuron["layer"], neuron["index"]) == ("layers.1.mlp.act_fn", "1", 5)
    assert neuron["languages"] == ["ru"] and neuron["p"]["ru"] == 1.0
    assert data["settings"]["activation_quantile"] == 0.95 and data["overlaps"] is None
    with open(out / "lape.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["layer"], r["ru"], r["en"]) for r in rows] == [("0", "0", "0"), ("1", "1", "0")]
    assert (out / "lape.png").stat().st_size > 1000
    counts = ActivationCounts.from_hdf5(out / "counts.h5")
    assert counts.languages == ["en", "de", "ru", "ar"] and counts.sentences.tolist() == [8] * 4
    assert counts.meta["model_type"] == "gemma3_text"
    assert [f"wrote {out / name}" in captured.out
            for name in ("counts.h5", "lape.json", "lape.csv", "lape.png")] == [True] * 4


def test_existing_output_refused_without_overwrite(planted, corpus, tmp_path, capsys):
    out = tmp_path / "res"
    out.mkdir()
    (out / "lape.csv").write_text("keep me\n")
    args = ["lape", str(planted), str(corpus), "-o", str(out), "--langs", "ru,en",
            "--sentences", "3", "--quiet", "--no-plot", "--entropy-quantile", "0.05"]
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--overwrite" in err and "lape.csv" in err
    assert (out / "lape.csv").read_text() == "keep me\n"
    assert not (out / "counts.h5").exists()  # refused before any work
    assert main([*args, "-f"]) == 0
    data = json.loads((out / "lape.json").read_text())
    assert data["languages"] == ["ru", "en"] and data["counts"]["sentences"] == {"ru": 3,
                                                                                "en": 3}
    assert not (out / "lape.png").exists()
    assert "ru" in (out / "lape.csv").read_text()


def test_input_never_overwritten_and_bad_options(planted, corpus, tmp_path, capsys):
    before = corpus.read_bytes()
    assert main(["lape", str(planted), str(corpus), "-o", str(corpus), "-f", "--quiet"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(corpus) in err
    target = corpus.parent / "x.json"
    code = main(["lape", str(planted), str(corpus), "-o", str(target), "--quiet", "-f"])
    assert code == 0 and (corpus.parent / "x.counts.h5").is_file()
    capsys.readouterr()
    assert corpus.read_bytes() == before
    for args, needle in [(["--langs", "ru,xx"], "language 'xx' is not a column"),
                         (["--langs", "ru"], "need at least two"),
                         (["--entropy-quantile", "2"], "entropy_quantile must be in (0, 1]"),
                         (["--batch-size", "0"], "batch_size must be >= 1"),
                         (["--modules", "layers.*.mlp.gelu"], "matches no module")]:
        code = main(["lape", str(planted), str(corpus), "-o", str(tmp_path / "bad"),
                     "--quiet", *args])
        err = capsys.readouterr().err
        assert code != 0 and needle in err, (args, err)


def test_result_reloads_and_mismatch_is_refused(planted, corpus, tmp_path):
    import json

    from interlingua.core.errors import InputError
    from interlingua.plugins.neurons.lape import load_language_neurons

    out = tmp_path / "reload"
    assert main(["lape", str(planted), str(corpus), "-o", str(out), "--batch-size", "3",
                 "--quiet", "--no-plot"]) == 0
    result = load_language_neurons(out)
    assert result.neurons("ru") == [("layers.1.mlp.act_fn", 5)]
    assert load_language_neurons(out / "lape.json").neurons("ru") == result.neurons("ru")
    data = json.loads((out / "lape.json").read_text())
    data["neurons"] = [*data["neurons"][:-1], dict(data["neurons"][-1], flat=0)]
    (out / "lape.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="does not match"):
        load_language_neurons(out)
    (out / "lape.json").write_text("{}")
    with pytest.raises(InputError, match="not a LAPE result"):
        load_language_neurons(out)
    (out / "counts.h5").unlink()
    with pytest.raises(InputError, match="not found"):
        load_language_neurons(out)
