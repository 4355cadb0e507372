"""End to end: ``interlingua demo --quick`` on the two offline models and the installed
six-language Bible.

This is the CI end-to-end test: one quick demo run (module fixture), then checks that
the report exists and that results.json numbers are the plugins' numbers, for the encoder
and the decoder.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from interlingua.plugins.extraction.bible import bible_unavailable_reason
from interlingua.plugins.extraction.models.e5_offline import unavailable_reason
from interlingua.plugins.extraction.models.gemma_offline import (
    unavailable_reason as gemma_unavailable,
)

REASON = unavailable_reason() or gemma_unavailable() or bible_unavailable_reason()
pytestmark = pytest.mark.skipif(
    REASON is not None, reason=f"offline models or Bible unavailable: {REASON}"
)
E5, GEMMA = "builtin:multilingual-e5-small", "builtin:gemma-3-270m"
LANGS = ["en", "de", "fr", "es", "ru", "ar"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from interlingua.cli import cli

    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(cli, ["demo", "--quick", "-o", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return out, data, result.output


def test_report_files(demo_run):
    out, data, output = demo_run
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Findings check" in report
    assert list(data["models"]) == [E5, GEMMA]
    assert data["corpus"]["languages"] == LANGS
    keys = {f["key"] for f in data["findings"]}
    assert keys == {"anc_rise_fall", "calign_depth", "colap_order", "affective_overlap"}
    assert {f["model"] for f in data["findings"]} == {E5, GEMMA}
    expected = {"anc", "cka", "svcca", "retrieval", "word_translation", "calign", "colap",
                "affective_probe", "mpo", "affective_overlap multilingual-e5-small",
                "affective_overlap gemma-3-270m"}
    assert set(data["figures"]) == expected
    for name in data["figures"].values():
        png = out / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({name})" in report
    for lang in LANGS[1:]:
        assert (out / f"dictionary-en-{lang}.txt").stat().st_size > 0
    assert "report:" in output and "findings" in output


@pytest.mark.parametrize("model", [E5, GEMMA])
def test_similarity_numbers_match_plugins(demo_run, model):
    from interlingua import get_metric
    from interlingua.core.store import ActivationStore

    _, data, _ = demo_run
    entry = data["models"][model]
    assert set(entry["similarity"]) == {f"en-{x}" for x in LANGS[1:]}
    sim = entry["similarity"]["en-ru"]
    layer = sim["layers"][1]
    with ActivationStore.open(entry["store"]["path"]) as st:
        assert sorted(st.languages) == sorted(LANGS)
        ra, rb = st.parallel_rows("en", "ru")
        X = st.layer(layer, "sentences")[ra].astype(np.float64)
        Y = st.layer(layer, "sentences")[rb].astype(np.float64)
    assert X.shape[0] == entry["store"]["n_verses"] == sim["n"]
    checks = {"anc": get_metric("anc"), "cka": get_metric("cka"),
              "cka[debiased=True]": get_metric("cka", debiased=True),
              "svcca": get_metric("svcca"),
              "retrieval[method=csls]": get_metric("retrieval", method="csls")}
    for label, metric in checks.items():
        assert sim["results"][label][layer]["value"] == pytest.approx(
            metric(X, Y).value, abs=1e-6), label
    # Independent check of ANC: mean |Pearson r| per neuron.
    r = [np.corrcoef(X[:, i], Y[:, i])[0, 1] for i in range(X.shape[1])]
    assert sim["results"]["anc"][layer]["value"] == pytest.approx(np.mean(np.abs(r)), abs=1e-6)


def test_word_translation_recomputes(demo_run):
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.similarity.word_translation import evaluate_word_translation

    _, data, _ = demo_run
    entry = data["models"][GEMMA]
    wt = entry["word_translation"]["en-de"]
    layer = wt["layers"][-1]
    vecs = {}
    with ActivationStore.open(entry["store"]["path"]) as st:
        for lang in ("en", "de"):
            rows = st.word_rows(lang)
            words = st.words.text[rows]
            X = st.layer(layer, "words")[rows].astype(np.float64)
            types, counts = np.unique(words, return_counts=True)
            keep = [str(t) for t, c in zip(types, counts) if c >= wt["min_count"]]
            vecs[lang] = (keep, np.stack([X[words == w].mean(axis=0) for w in keep]))
    res = evaluate_word_translation(vecs["en"][1], vecs["en"][0], vecs["de"][1], vecs["de"][0],
                                    [tuple(p) for p in wt["train_pairs"]],
                                    [tuple(p) for p in wt["gold_test_pairs"]], ks=(1, 5, 10))
    for method in ("cosine", "csls"):
        assert wt["results"][layer]["precision"][method]["p@1"] == pytest.approx(
            res.precision[method][1], abs=1e-12)


def test_concepts_and_overlap_match_plugins(demo_run):
    from interlingua import get_metric
    from interlingua.core.concepts import Concepts
    from interlingua.plugins.concepts.pipeline import load_concepts

    out, data, _ = demo_run
    conc = data["models"][E5]["concepts"]
    assert set(conc["calign"]) == set(conc["colap"]) == {f"en-{x}" for x in LANGS[1:]}
    layer = conc["layers"][-1]
    run = load_concepts(out / conc["concepts_file"], layer, None)
    assert set(map(str, run.languages)) == set(LANGS)
    assert np.unique(run.labels).size <= conc["n_clusters"]
    assert conc["colap_all"]["layers"][layer]["value"] == pytest.approx(
        get_metric("colap")(run.concepts).value)
    # COLAP with one language: the mixed run restricted to English and that language.
    mask = np.isin(run.languages, ["en", "ar"])
    only = Concepts.from_labels(run.words[mask], run.labels[mask], run.languages[mask])
    assert conc["colap"]["en-ar"]["layers"][layer]["value"] == pytest.approx(
        get_metric("colap")(only).value)
    aff = data["models"][E5]["affective"]
    in_context = {lg for lg, v in aff["languages"].items() if v["mode"] == "bible contexts"}
    assert in_context == set(LANGS)
    assert {v["mode"] for lg, v in aff["languages"].items() if lg not in LANGS} == {
        "word alone"}
    sets = aff["top_sets"]["sets"]
    assert all(len(v) == aff["top_sets"]["k"] == 100 for v in sets.values())
    names = aff["pairwise_fold_enrichment"]["languages"]
    a, b = names[0], names[1]
    res = get_metric("superexact")({a: sets[a], b: sets[b]}, background=aff["background"])
    pair = res.details["intersections"][0]
    assert aff["pairwise_fold_enrichment"]["matrix"][0][1] == pytest.approx(
        pair["fold_enrichment"])
    # MPO recomputed from the sets (seed 003 eq. 2).
    mpo = np.mean([len(set(sets[a]) & set(sets[o])) for o in names if o != a])
    assert aff["mpo"][a] == pytest.approx(mpo)


def test_findings_follow_the_numbers(demo_run):
    from interlingua.plugins.demo.findings import CHECKS

    _, data, _ = demo_run
    for f in data["findings"]:
        again = CHECKS[f["key"]](data["models"][f["model"]])
        assert again["holds"] == f["holds"] and again["text"] == f["text"]
    f = next(x for x in data["findings"] if x["key"] == "anc_rise_fall" and x["model"] == GEMMA)
    sim = data["models"][GEMMA]["similarity"]
    for pair, p in f["pairs"].items():
        anc = [sim[pair]["results"]["anc"][lay]["value"] for lay in sim[pair]["layers"]]
        assert p["holds"] == (max(anc) > anc[0] and max(anc) > anc[-1])


def test_rerun_reuses_cached_store(demo_run):
    from interlingua.cli import cli

    out, data, _ = demo_run
    result = CliRunner().invoke(cli, ["demo", "--quick", "-o", str(out), "--steps",
                                      "similarity", "--quiet"])
    assert result.exit_code == 0, result.output
    again = json.loads((out / "results.json").read_text(encoding="utf-8"))
    for model in (E5, GEMMA):
        assert again["models"][model]["extraction"]["state"] == "cached"
        assert again["models"][model]["store"]["path"] == data["models"][model]["store"]["path"]
        assert again["models"][model]["similarity"] == data["models"][model]["similarity"]


def test_sensitivity_sweep_reruns_a_failing_finding(demo_run, tmp_path):
    from interlingua.core.progress import SILENT
    from interlingua.plugins.demo.config import quick_config
    from interlingua.plugins.demo.findings import check_anc
    from interlingua.plugins.demo.sensitivity import sensitivity_sweep, variants
    from interlingua.plugins.demo.stages import Reporter

    _, data, _ = demo_run
    cfg = quick_config(languages=LANGS)
    finding = {"key": "anc_rise_fall", "seed": "001", "model": E5, "holds": False}
    rows = sensitivity_sweep(cfg, {**data, "findings": [finding]}, tmp_path, tmp_path,
                             Reporter(None), SILENT)
    assert [(r["choice"], r["value"]) for r in rows] == variants(
        "anc_rise_fall", cfg.for_model(E5))
    # The signed-correlation variant, recomputed independently on the store.
    from interlingua.core.store import ActivationStore

    entry = data["models"][E5]
    sim = {}
    with ActivationStore.open(entry["store"]["path"]) as st:
        for pair in entry["similarity"]:
            a, b = pair.split("-")
            ra, rb = st.parallel_rows(a, b)
            res = {}
            for layer in entry["store"]["layers"]:
                X = st.layer(layer, "sentences")[ra].astype(np.float64)
                Y = st.layer(layer, "sentences")[rb].astype(np.float64)
                r = [np.corrcoef(X[:, i], Y[:, i])[0, 1] for i in range(X.shape[1])]
                res[layer] = {"value": float(np.mean(r))}
            sim[pair] = {"layers": entry["store"]["layers"], "results": {"anc": res}}
    signed = next(r for r in rows if r["choice"] == "signed correlation")
    expected = check_anc({"similarity": sim})
    assert signed["holds"] == expected["holds"]
    assert signed["text"] == expected["text"]
    # Nothing to sweep when every finding holds.
    assert sensitivity_sweep(cfg, {**data, "findings": [{**finding, "holds": True}]},
                             tmp_path, tmp_path, Reporter(None), SILENT) == []
