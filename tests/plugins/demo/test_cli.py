"""End to end: ``interlingua demo --quick`` on the offline model and the embedded data.

This is the CI end-to-end test: one quick demo run (module fixture), then checks that
the report exists and that results.json numbers are the plugins' numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from interlingua.plugins.extraction.models.e5_offline import unavailable_reason

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(
    REASON is not None, reason=f"offline multilingual-e5-small unavailable: {REASON}"
)


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
    assert len(data["findings"]) == 3
    expected = {"similarity", "retrieval", "word_translation", "calign", "colap",
                "affective_probe", "affective_overlap", "mpo"}
    assert set(data["figures"]) == expected
    for name in data["figures"].values():
        png = out / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({name})" in report
    assert "report:" in output and "findings check" in output


def test_similarity_numbers_match_plugins(demo_run):
    from interlingua import get_metric
    from interlingua.core.store import ActivationStore

    _, data, _ = demo_run
    sim = data["similarity"]
    layer = sim["layers"][2]
    with ActivationStore.open(data["store"]["path"]) as st:
        ra, rb = st.parallel_rows("en", "es")
        X = st.layer(layer, "sentences")[ra].astype(np.float64)
        Y = st.layer(layer, "sentences")[rb].astype(np.float64)
    assert X.shape[0] == data["store"]["n_pairs"] == sim["n"]
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
    wt = data["word_translation"]
    layer = wt["layers"][-1]
    vecs = {}
    with ActivationStore.open(data["store"]["path"]) as st:
        for lang in ("en", "es"):
            rows = st.word_rows(lang)
            words = st.words.text[rows]
            X = st.layer(layer, "words")[rows].astype(np.float64)
            types, counts = np.unique(words, return_counts=True)
            keep = [str(t) for t, c in zip(types, counts) if c >= wt["min_count"]]
            vecs[lang] = (keep, np.stack([X[words == w].mean(axis=0) for w in keep]))
    res = evaluate_word_translation(vecs["en"][1], vecs["en"][0], vecs["es"][1], vecs["es"][0],
                                    [tuple(p) for p in wt["train_pairs"]],
                                    [tuple(p) for p in wt["gold_test_pairs"]], ks=(1, 5, 10))
    for method in ("cosine", "csls"):
        assert wt["results"][layer]["precision"][method]["p@1"] == pytest.approx(
            res.precision[method][1], abs=1e-12)


def test_concepts_and_overlap_match_plugins(demo_run):
    from interlingua import get_metric
    from interlingua.plugins.concepts.pipeline import load_concepts

    out, data, _ = demo_run
    conc = data["concepts"]
    layer = list(conc["colap"]["layers"])[-1]
    run = load_concepts(out / "concepts.h5", layer, None)
    assert np.unique(run.labels).size <= conc["n_clusters"]
    assert conc["colap"]["layers"][layer]["value"] == pytest.approx(
        get_metric("colap")(run.concepts).value)
    aff = data["affective"]
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
    _, data, _ = demo_run
    anc = data["similarity"]["results"]["anc"]
    f = {x["seed"].split()[0]: x for x in data["findings"]}
    n = f["001"]["numbers"]
    assert n["anc_layer0"] == anc[data["similarity"]["layers"][0]]["value"]
    assert f["001"]["holds"] == (n["anc_best_middle"] > n["anc_layer0"])
    pf = np.array(data["affective"]["pairwise_fold_enrichment"]["matrix"], dtype=float)
    iu = np.triu_indices_from(pf, k=1)
    assert f["003"]["numbers"]["mean_pairwise_fe"] == pytest.approx(pf[iu].mean())


def test_rerun_reuses_cached_store(demo_run):
    from interlingua.cli import cli

    out, data, _ = demo_run
    result = CliRunner().invoke(cli, ["demo", "--quick", "-o", str(out), "--steps",
                                      "similarity", "--quiet"])
    assert result.exit_code == 0, result.output
    again = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert again["extraction"]["state"] == "cached"
    assert Path(again["store"]["path"]) == Path(data["store"]["path"])
    assert again["similarity"]["results"]["anc"] == data["similarity"]["results"]["anc"]
