"""LAPE × ANC: per-neuron correlations of language-specific neurons against the rest.

* A known answer: synthetic stores whose LAPE-specific neuron is identical in both
  languages (r = 1), one neuron constant, the others independent noise — against the
  real LAPE result of the planted tiny Gemma of ``test_lape.py``.
* End to end on the planted model: ``interlingua lape``, ``interlingua extract --modules``,
  ``interlingua lape-anc``; every number recomputed here with ``numpy.corrcoef`` per
  column on rows paired by pair id, categories read from ``lape.json``.
* Refusals (one line, before any output): stores without module groups, without LAPE's
  modules, of another model; outputs that exist or are inputs.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from interlingua.cli import main
from interlingua.core.errors import InputError
from interlingua.core.store import ActivationStore, SentenceRecord
from interlingua.plugins.neurons.lape import load_language_neurons
from interlingua.plugins.neurons.lape_anc import CATEGORIES, lape_anc


def _planted_module():
    spec = importlib.util.spec_from_file_location("lape_anc_test_lape",
                                                  Path(__file__).with_name("test_lape.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PLANTED = _planted_module()
LANGS = list(PLANTED.SENTENCES)
MODULES = {"mlp/0": "layers.0.mlp.act_fn", "mlp/1": "layers.1.mlp.act_fn"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The planted model, its 4-language corpus, its LAPE result and a module store."""
    root = tmp_path_factory.mktemp("lape-anc")
    model = PLANTED.build_planted_gemma(root / "gemma")
    rows = ["\t".join(LANGS)] + ["\t".join(PLANTED.SENTENCES[lang][i] for lang in LANGS)
                                 for i in range(8)]
    corpus = root / "four.tsv"
    corpus.write_text("\n".join(rows) + "\n", encoding="utf-8")
    lape = root / "lape"
    assert main(["lape", str(model), str(corpus), "-o", str(lape), "--device", "cpu",
                 "--quiet", "--no-plot"]) == 0
    store = root / "mods.h5"
    assert main(["extract", str(model), str(corpus), "-o", str(store), "--modules",
                 "mlp-act", "--no-hidden-states", "--device", "cpu", "--quiet"]) == 0
    plain = root / "plain.h5"
    assert main(["extract", str(model), str(corpus), "-o", str(plain), "--layers", "1",
                 "--device", "cpu", "--quiet"]) == 0
    return {"model": model, "corpus": corpus, "lape": lape, "store": store, "plain": plain}


def synthetic_store(path: Path, lang: str | list[str], values: dict[str, np.ndarray], *,
                    model_type: str = "gemma3_text", modules: dict | None = None) -> Path:
    """A store of one language (or one per sentence), one word per sentence, layers
    ``values`` (n, d) given."""
    n = next(iter(values.values())).shape[0]
    attrs = {"modules": json.dumps(MODULES if modules is None else modules),
             "model_type": model_type}
    with ActivationStore.create(path, model="planted", extractor="test", attrs=attrs) as w:
        langs = [lang] * n if isinstance(lang, str) else lang
        w.append([SentenceRecord([f"w{i}"], langs[i], pair_id=i) for i in range(n)],
                 {name: {"words": v, "sentences": v} for name, v in values.items()})
        w.finalize()
    return path


def slow_r(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r per column with numpy.corrcoef (NaN for a constant column)."""
    out = np.full(x.shape[1], np.nan)
    for j in range(x.shape[1]):
        if np.ptp(x[:, j]) > 0 and np.ptp(y[:, j]) > 0:
            out[j] = np.corrcoef(x[:, j], y[:, j])[0, 1]
    return out


# -- a known answer -------------------------------------------------------------------------
def test_identical_specific_neuron_stands_out(files, tmp_path):
    lape = load_language_neurons(files["lape"])
    assert lape.neurons("ru") == [("layers.1.mlp.act_fn", 5)]  # the planted neuron
    rng = np.random.default_rng(1)
    n = 40
    a = {k: rng.normal(size=(n, 64)).astype(np.float32) for k in MODULES}
    b = {k: rng.normal(size=(n, 64)).astype(np.float32) for k in MODULES}
    b["mlp/1"][:, 5] = a["mlp/1"][:, 5]  # the ru neuron: r = 1
    a["mlp/0"][:, 0] = 3.0  # constant in A: no correlation, counted apart
    sa = synthetic_store(tmp_path / "ru.h5", "ru", a)
    sb = synthetic_store(tmp_path / "en.h5", "en", b)
    res = lape_anc(lape, sa, sb, n_bootstrap=500, seed=3)
    assert (res.lang_a, res.lang_b) == ("ru", "en")  # one language per store
    assert res.layers == ["mlp/0", "mlp/1"] and res.meta["pairing"] == "pair_id"
    pair = res.row("all", "pair")
    assert pair["n"] == 1 and pair["mean_abs_r"] == pytest.approx(1.0)
    rest = np.abs(np.concatenate([slow_r(a[k], b[k]) for k in MODULES]))
    rest = np.delete(rest, 64 + 5)
    rest = rest[np.isfinite(rest)]
    assert pair["rest_n"] == rest.size == 126
    assert pair["rest_mean_abs_r"] == pytest.approx(rest.mean(), abs=1e-6)
    assert pair["diff"] == pytest.approx(1.0 - rest.mean(), abs=1e-6)
    # the one neuron ranks above all 126 others: exact two-sided p = 2 / 127
    assert pair["pvalue"] == pytest.approx(2 / 127, rel=1e-6)
    assert 0 < pair["ci_low"] < pair["diff"] < pair["ci_high"]
    assert res.row("all", "unselected")["n_constant"] == 1
    assert res.row("mlp/0", "unselected")["n_constant"] == 1
    assert res.row("mlp/0", "pair")["n"] == 0 and res.row("mlp/0", "pair")["pvalue"] is None
    assert res.row("all", "other")["n"] == 0  # LAPE selected only the ru neuron
    assert np.isnan(res.r["mlp/0"][0]) and res.r["mlp/1"][5] == pytest.approx(1.0)
    again = lape_anc(files["lape"], sa, sb, n_bootstrap=500, seed=3)
    assert again.stats == res.stats  # seeded
    # a language pair without the specific language: no pair neurons
    sd = synthetic_store(tmp_path / "de.h5", "de", b)
    none = lape_anc(lape, sd, sb, n_bootstrap=0)
    assert none.row("all", "pair")["n"] == 0 and none.row("all", "other")["n"] == 1
    assert none.row("all", "other")["ci_low"] is None


# -- end to end, against numpy.corrcoef ---------------------------------------------------------
def test_command_matches_an_independent_computation(files, tmp_path, capsys):
    out = tmp_path / "anc"
    code = main(["lape-anc", str(files["lape"]), str(files["store"]), "--lang-a", "ru",
                 "--lang-b", "en", "-o", str(out), "--bootstrap", "200"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "specific to ru or en vs the rest" in captured.out and "8 paired" in captured.out
    data = json.loads((out / "lape_anc.json").read_text())
    assert (out / "lape_anc.png").stat().st_size > 0
    with open(out / "lape_anc.csv", newline="", encoding="utf-8") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert len(csv_rows) == len(data["stats"]) == 3 * 2 + 3
    # independent: pair rows by pair id, categories from lape.json
    lape_json = json.loads((files["lape"] / "lape.json").read_text())
    cats = {m: np.full(64, 2) for m in MODULES.values()}
    for neuron in lape_json["neurons"]:
        cats[neuron["module"]][neuron["index"]] = 0 if {"ru", "en"} & set(
            neuron["languages"]) else 1
    from scipy.stats import mannwhitneyu

    with ActivationStore.open(files["store"]) as st:
        lang, pid = st.sentences.lang, st.sentences.pair_id
        ru = np.flatnonzero(lang == "ru")[np.argsort(pid[lang == "ru"])]
        en = np.flatnonzero(lang == "en")[np.argsort(pid[lang == "en"])]
        r = {layer: slow_r(st.layer(layer, "sentences")[:][ru].astype(np.float64),
                           st.layer(layer, "sentences")[:][en].astype(np.float64))
             for layer in MODULES}
    assert data["layers"] == list(MODULES) and data["modules"] == list(MODULES.values())
    every = {c: [] for c in range(3)}
    for layer, module in MODULES.items():
        for c, label in enumerate(CATEGORIES):
            row = next(x for x in data["stats"] if x["layer"] == layer
                       and x["category"] == label)
            ok = (cats[module] == c) & np.isfinite(r[layer])
            rest = (cats[module] != c) & np.isfinite(r[layer])
            assert row["n"] == ok.sum() and row["rest_n"] == rest.sum()
            assert row["n_constant"] == ((cats[module] == c) & ~np.isfinite(r[layer])).sum()
            every[c].append(np.abs(r[layer][ok]))
            if ok.any():
                assert row["mean_abs_r"] == pytest.approx(np.abs(r[layer][ok]).mean(), abs=1e-9)
                assert row["median_abs_r"] == pytest.approx(np.median(np.abs(r[layer][ok])),
                                                            abs=1e-9)
            if ok.any() and rest.any():
                p = mannwhitneyu(np.abs(r[layer][ok]), np.abs(r[layer][rest])).pvalue
                assert row["pvalue"] == pytest.approx(p, rel=1e-9)
            else:  # mlp/0 has no selected neuron: "unselected" has no rest
                assert row["pvalue"] is None and row["diff"] is None
    pair = next(x for x in data["stats"] if x["layer"] == "all" and x["category"] == "pair")
    assert pair["n"] == 1  # the planted ru neuron (if it varies across sentences)
    rest = np.concatenate(every[1] + every[2])
    assert pair["rest_mean_abs_r"] == pytest.approx(rest.mean(), abs=1e-9)
    assert pair["diff"] == pytest.approx(np.concatenate(every[0]).mean() - rest.mean(),
                                         abs=1e-9)
    # outputs exist: refused before any work without -f, replaced with it
    code = main(["lape-anc", str(files["lape"]), str(files["store"]), "--lang-a", "ru",
                 "--lang-b", "en", "-o", str(out)])
    assert code != 0 and "exists" in capsys.readouterr().err
    assert main(["lape-anc", str(files["lape"]), str(files["store"]), "--lang-a", "ru",
                 "--lang-b", "en", "-o", str(out), "-f", "--bootstrap", "0",
                 "--no-plot"]) == 0
    code = main(["lape-anc", str(files["lape"]), str(files["store"]), "--lang-a", "ru",
                 "--lang-b", "en", "-o", str(files["lape"] / "lape.json"), "-f"])
    assert code != 0  # an input is never an output
    assert json.loads((files["lape"] / "lape.json").read_text())["method"] == "LAPE"


# -- refusals -------------------------------------------------------------------------------------
def test_wrong_or_missing_groups_are_refused(files, tmp_path):
    lape = load_language_neurons(files["lape"])
    rng = np.random.default_rng(0)
    x = {k: rng.normal(size=(5, 64)).astype(np.float32) for k in MODULES}
    cases = [
        (lambda: lape_anc(lape, files["plain"], lang_a="ru", lang_b="en"),
         "has no module groups"),
        (lambda: lape_anc(lape, synthetic_store(tmp_path / "o.h5", "ru", x,
                                                modules={"mlp/0": "layers.0.self_attn",
                                                         "mlp/1": "layers.1.self_attn"}),
                          synthetic_store(tmp_path / "o2.h5", "en", x)),
         "none of the LAPE result's modules"),
        (lambda: lape_anc(lape, synthetic_store(tmp_path / "w.h5", "ru", {
            "mlp/0": x["mlp/0"], "mlp/1": x["mlp/1"][:, :32]}),
            synthetic_store(tmp_path / "w2.h5", "en", x)), "has 32 neurons but"),
        (lambda: lape_anc(lape, synthetic_store(tmp_path / "t.h5", "ru", x,
                                                model_type="llama"),
                          synthetic_store(tmp_path / "t2.h5", "en", x)), "another model"),
        (lambda: lape_anc(lape, synthetic_store(tmp_path / "m.h5", ["ru", "en"] * 2 + ["ru"], x),
                          synthetic_store(tmp_path / "m2.h5", ["en", "ru"] * 2 + ["en"], x)),
         "give lang_a and lang_b"),
        (lambda: lape_anc(lape, files["store"], lang_a="ru", lang_b="en", level="tokens"),
         "level must be"),
        (lambda: lape_anc(lape, files["store"], lang_a="ru", lang_b="xx"), "no sentences"),
    ]
    for call, match in cases:
        with pytest.raises(InputError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


def test_command_refuses_a_store_without_groups(files, tmp_path, capsys):
    out = tmp_path / "x"
    code = main(["lape-anc", str(files["lape"]), str(files["plain"]), "--lang-a", "ru",
                 "--lang-b", "en", "-o", str(out)])
    assert code != 0 and "--modules" in capsys.readouterr().err
    assert not out.exists()
