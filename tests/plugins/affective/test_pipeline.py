"""Layer-wise probing, MPO, mixed model and the unseen-language test (seed 003 §4–§7)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from interlingua.core.errors import InputError
from interlingua.plugins.affective.norms import Norms
from interlingua.plugins.affective.pipeline import (
    LayerwiseProbe,
    mean_pairwise_overlap,
    mixed_model,
    overlap_analysis,
    probe_layers,
    probe_store,
    shared_neurons,
    unseen_language_from_store,
    unseen_language_test,
)

LANGS = ("en", "de", "it")
SHARED = [2, 5, 11, 19]


def synthetic_layers(n=240, d=32, seed=0, informative_layer="1"):
    """Three layers; only ``informative_layer`` carries the rating in SHARED neurons."""
    rng = np.random.default_rng(seed)
    data, targets = {}, {}
    for li, lang in enumerate(LANGS):
        y = rng.uniform(0, 1, n)
        per = {}
        for layer in ("0", "1", "2"):
            X = rng.normal(size=(n, d))
            if layer == informative_layer:
                X[:, SHARED] += 3.0 * (y[:, None] - 0.5) * (1 + 0.2 * li)
                X[:, 20 + li] += 1.0 * (y - 0.5)  # one weaker language-specific neuron
            per[layer] = X
        data[lang], targets[lang] = per, y
    return data, targets


def test_probe_layers_finds_best_layer_and_shared_neurons():
    data, targets = synthetic_layers()
    res = probe_layers(data, targets, target="valence", params={"top_k": 5})
    assert res.layers == ["0", "1", "2"]
    assert res.best_layers(1) == ["1"]
    mean = res.mean_curve()
    assert mean[1] > 0.8 and abs(mean[0]) < 0.3
    sets = res.top_sets(k=4)
    for lang in LANGS:
        assert set(sets[lang]) == set(SHARED)
    sets5 = res.top_sets("1", k=5)
    assert all(set(SHARED) <= set(s) for s in sets5.values())
    # round trip through JSON
    again = LayerwiseProbe.from_dict(json.loads(json.dumps(res.to_dict())))
    assert again.scores == res.scores
    assert again.top_sets("1", 5) == sets5


def test_probe_layers_lazy_loading_and_errors():
    data, targets = synthetic_layers(n=60, d=24)
    calls = []

    def lazy(X):
        def load():
            calls.append(1)
            return X
        return load

    lazy_data = {lang: {k: lazy(v) for k, v in per.items()} for lang, per in data.items()}
    res = probe_layers(lazy_data, targets, progress=True)
    assert len(calls) == 9 and len(res.scores["en"]) == 3
    with pytest.raises(InputError, match="no ratings"):
        probe_layers(data, {"en": targets["en"]})
    bad = dict(data)
    bad["it"] = {"0": data["it"]["0"]}
    with pytest.raises(InputError, match="different layers"):
        probe_layers(bad, targets)
    with pytest.raises(InputError, match="was not probed"):
        res.top_sets("7")


def test_plot_layer_curves(tmp_path):
    data, targets = synthetic_layers(n=60, d=24)
    res = probe_layers(data, targets, target="arousal")
    path = res.plot(tmp_path / "curves.png")
    assert path.exists() and path.stat().st_size > 1000


# -- MPO ---------------------------------------------------------------------------
def test_mpo_matches_plain_definition():
    rng = np.random.default_rng(1)
    sets = {f"l{i}": rng.choice(50, 10, replace=False).tolist() for i in range(5)}
    mpo = mean_pairwise_overlap(sets)
    for a in sets:
        others = [len(set(sets[a]) & set(sets[b])) for b in sets if b != a]
        assert mpo[a] == pytest.approx(sum(others) / (len(sets) - 1))


@pytest.mark.parametrize(
    ("sets", "match"),
    [
        ({"a": [1, 2]}, "at least 2"),
        ({"a": [], "b": [1]}, "empty"),
        ({"a": [1, 1], "b": [1]}, "duplicate"),
        ({"a": [1.5], "b": [1]}, "non-integer"),
        ([[1], [2]], "dict"),
    ],
)
def test_mpo_bad_input(sets, match):
    with pytest.raises(InputError, match=match):
        mean_pairwise_overlap(sets)


# -- mixed model ----------------------------------------------------------------------
def planted_mixed_data(slope=0.02, seed=0, n_lang=10):
    rng = np.random.default_rng(seed)
    langs = [f"l{i}" for i in range(n_lang)]
    lang_eff = {lang: rng.normal(0, 0.05) for lang in langs}
    rows = []
    for model, m_eff, m_slope in (("mbert", 0.0, -0.002), ("xlmr", 0.1, 0.002)):
        for var, v_eff in (("valence", 0.05), ("arousal", -0.05)):
            for lang in langs:
                x = rng.uniform(8, 25)
                perf = (0.2 + m_eff + v_eff + lang_eff[lang] + (slope + m_slope) * x
                        + rng.normal(0, 0.02))
                rows.append((perf, x, lang, model, var))
    return [list(c) for c in zip(*rows)]


@pytest.mark.parametrize("slope", [0.02, -0.015])
def test_mixed_model_recovers_planted_slope(slope):
    perf, mpo, lang, model, var = planted_mixed_data(slope)
    res = mixed_model(perf, mpo, lang, model, var)
    assert np.sign(res.slope) == np.sign(slope)
    assert res.slope == pytest.approx(slope, rel=0.3)
    assert res.se > 0 and res.pvalue < 1e-3
    assert res.z == pytest.approx(res.slope / res.se)
    assert set(res.random_effects) == {
        "language", "model", "model:mpo", "variable", "variable:mpo"
    }
    r, p = stats.pearsonr(perf, mpo)
    assert res.pearson_r == pytest.approx(r) and res.pearson_p == pytest.approx(p)
    assert res.n == 40 and res.n_languages == 10
    json.dumps(res.to_dict())


def test_mixed_model_single_level_factor_is_dropped_with_note():
    perf, mpo, lang, _, var = planted_mixed_data()
    res = mixed_model(perf, mpo, lang, ["m"] * len(perf), var)
    assert "model" not in res.random_effects
    assert any("model has one level" in n for n in res.notes)
    assert res.slope > 0


def test_mixed_model_bad_input():
    with pytest.raises(InputError, match="at least 3 languages"):
        mixed_model([0.1, 0.2, 0.3, 0.4], [1, 2, 3, 4], ["a", "a", "b", "b"])
    with pytest.raises(InputError, match="at least 3"):
        mixed_model([0.1, 0.2], [1, 2], ["a", "b"])
    with pytest.raises(InputError, match="entries"):
        mixed_model([0.1, 0.2, 0.3], [1, 2, 3], ["a", "b"])
    with pytest.raises(InputError, match="constant"):
        mixed_model([0.1, 0.2, 0.3], [1, 1, 1], ["a", "b", "c"])
    with pytest.raises(InputError, match="NaN"):
        mixed_model([0.1, np.nan, 0.3], [1, 2, 3], ["a", "b", "c"])


# -- unseen language ------------------------------------------------------------------
def test_unseen_language_ols_and_random_baseline():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 40)) * 2 + 1
    y = 0.3 * X[:, 4] + rng.normal(size=200)
    X[:, 9] = 5.0  # constant neuron
    res = unseen_language_test(X, y, [4, 7, 9], n_random=10, seed=1)
    target, other, const = res.neurons
    z = (X[:, 4] - X[:, 4].mean()) / X[:, 4].std()
    lr = stats.linregress(z, y)
    assert target["beta"] == pytest.approx(lr.slope)
    assert target["p"] == pytest.approx(lr.pvalue, rel=1e-6)
    assert target["t"] == pytest.approx(lr.slope / lr.stderr)
    assert target["p"] < 1e-6 and other["p"] > 1e-3
    assert np.isnan(const["beta"]) and "constant" in const["note"]
    base = res.baseline
    assert base["n"] == 10
    assert not {4, 7, 9} & set(base["neurons"])
    # baseline = mean of plain per-neuron regressions
    slopes = []
    for j in base["neurons"]:
        zj = (X[:, j] - X[:, j].mean()) / X[:, j].std()
        slopes.append(stats.linregress(zj, y).slope)
    assert base["beta"] == pytest.approx(np.mean(slopes))
    again = unseen_language_test(X, y, [4, 7, 9], n_random=10, seed=1)
    assert again.baseline["neurons"] == base["neurons"]
    raw = unseen_language_test(X, y, [4], n_random=5, standardize=False)
    assert raw.neurons[0]["beta"] == pytest.approx(stats.linregress(X[:, 4], y).slope)


def test_unseen_language_bad_input():
    X = np.random.default_rng(0).normal(size=(20, 5))
    y = X[:, 0]
    with pytest.raises(InputError, match="out of range"):
        unseen_language_test(X, y, [7])
    with pytest.raises(InputError, match="no neurons"):
        unseen_language_test(X, y, [])
    with pytest.raises(InputError, match="rows but y"):
        unseen_language_test(X, y[:5], [0])
    with pytest.raises(InputError, match="constant"):
        unseen_language_test(X, np.ones(20), [0])
    res = unseen_language_test(X, y, [0], n_random=100)
    assert res.baseline["n"] == 4 and "only 4" in res.baseline["note"]


# -- store-based probing --------------------------------------------------------------
def _write_store(path, n_words=30, per_word=4, d=24, seed=0):
    from interlingua.core.store import ActivationStore, SentenceRecord

    rng = np.random.default_rng(seed)
    vocab = {lang: [f"{lang}word{i}" for i in range(n_words)] for lang in LANGS}
    rating = {w: rng.uniform(0, 1) for ws in vocab.values() for w in ws}
    st = ActivationStore.create(path, model="toy", extractor="test")
    records, words_rows = [], {str(layer): [] for layer in range(2)}
    for lang in LANGS:
        for word in vocab[lang]:
            for j in range(per_word):
                sentence = ["The", word.capitalize() if j == 0 else word, "is", "here"]
                records.append(SentenceRecord(sentence, lang, target=1))
                for layer in ("0", "1"):
                    acts = rng.normal(size=(4, d))
                    if layer == "1":
                        acts[1, SHARED] += 4 * (rating[word] - 0.5)
                    words_rows[layer].append(acts)
    layers = {
        layer: {"words": np.concatenate(rows).astype(np.float32),
                "sentences": rng.normal(size=(len(records), d)).astype(np.float32)}
        for layer, rows in words_rows.items()
    }
    st.append(records, layers)
    st.finalize()
    words = [w for ws in vocab.values() for w in ws]
    langs = [lang for lang, ws in vocab.items() for _ in ws]
    norms = Norms(words, {"valence": np.array([rating[w] for w in words])}, langs, "toy")
    return norms


def test_probe_store_end_to_end(tmp_path):
    path = tmp_path / "toy.h5"
    norms = _write_store(path)
    res = probe_store(path, norms, "valence", params={"top_k": 4})
    assert res.languages == sorted(LANGS) and res.layers == ["0", "1"]
    assert res.best_layers(1) == ["1"]
    assert res.n_rows == {lang: 120 for lang in LANGS}
    assert res.meta["group_by_word"] and res.meta["model"] == "toy"
    for lang in LANGS:
        assert set(res.top_sets("1", 4)[lang]) == set(SHARED)
        assert res.details[lang]["1"]["grouped_split"]
    ov = overlap_analysis([res], k=4)
    (run,) = ov["runs"]
    assert run["layer"] == "1" and run["background"] == 24
    assert all(v == 4.0 for v in run["mpo"].values())
    assert "constant" in ov["mixed_model_note"]
    full = run["superexact"]["intersections"][-1]
    assert full["observed"] == 4 and full["pvalue"] < 1e-6


def test_probe_store_missing_words_reported_not_dropped(tmp_path):
    path = tmp_path / "toy.h5"
    norms = _write_store(path, n_words=20, per_word=3)
    keep = [i for i, w in enumerate(norms.words) if w not in ("deword3", "enword7")]
    partial = Norms([norms.words[i] for i in keep],
                    {"valence": norms.ratings["valence"][keep]},
                    [norms.langs[i] for i in keep], "partial")
    message = r"de: 2 target word\(s\) have no 'valence' rating \(3 rows\)"
    with pytest.raises(InputError, match=message):
        probe_store(path, partial, "valence", languages=["de"])
    res = probe_store(path, partial, "valence", missing="drop")
    assert res.missing == {"en": ["Enword7", "enword7"], "de": ["Deword3", "deword3"]}
    assert res.n_rows == {"en": 57, "de": 57, "it": 60}
    with pytest.raises(InputError, match="no column"):
        probe_store(path, norms, "arousal")
    with pytest.raises(InputError, match="no layer"):
        probe_store(path, norms, "valence", layers=["5"])
    with pytest.raises(InputError, match="missing must be"):
        probe_store(path, norms, "valence", missing="ignore")


def test_shared_neurons():
    sets = {"a": [1, 2, 3], "b": [2, 3, 4], "c": [3, 4, 5]}
    assert shared_neurons(sets) == {3: ["a", "b", "c"]}
    two = shared_neurons(sets, min_sets=2)
    assert list(two) == [3, 2, 4]
    assert two[4] == ["b", "c"]


def test_unseen_language_from_store(tmp_path):
    path = tmp_path / "toy.h5"
    norms = _write_store(path)
    res = unseen_language_from_store(path, norms, "valence", "it", "1", SHARED[:2],
                                     n_random=6, seed=0)
    assert res.n_rows == 120
    assert all(row["p"] < 1e-6 and row["beta"] > 0 for row in res.neurons)
    assert res.baseline["n"] == 6
    assert not set(SHARED[:2]) & set(res.baseline["neurons"])
    with pytest.raises(InputError, match="no layer"):
        unseen_language_from_store(path, norms, "valence", "it", "9", [1])
    with pytest.raises(InputError, match="no sentences in language .fi."):
        unseen_language_from_store(path, norms, "valence", "fi", "1", [1])
