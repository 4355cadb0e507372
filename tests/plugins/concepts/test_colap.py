"""COLAP (seed 000 §2.3, §3.3): hand-computed cases with 2 and 3 languages, slow check."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.testing import check_metric


def build(spec):
    """spec: {concept_id: {lang: n_tokens}} -> Concepts (one word type per language)."""
    words, labels, langs = [], [], []
    for cid, per_lang in spec.items():
        for lang, n in per_lang.items():
            for k in range(n):
                words.append(f"{lang}{cid}_{k % 2}")
                labels.append(cid)
                langs.append(lang)
    return il.Concepts.from_labels(words, labels, langs)


THREE = {
    0: {"en": 3, "de": 3, "fr": 4},    # all three >= 0.3 -> overlapping, all languages
    1: {"en": 6, "de": 3, "fr": 1},    # en, de reach 0.3 -> overlapping
    2: {"en": 8, "de": 1, "fr": 1},    # only en
    3: {"en": 29, "de": 71},           # 0.29 just below θ -> not overlapping
    4: {"en": 30, "de": 70},           # 0.30 exactly -> overlapping
}


def test_three_languages_hand_computed():
    res = il.get_metric("colap")(build(THREE))
    assert res.value == pytest.approx(60.0)
    assert res.per_unit.tolist() == [True, True, False, False, True]
    d = res.details
    assert d["languages"] == ["de", "en", "fr"]
    assert d["n_overlapping"] == 3
    assert d["n_all_languages"] == 1
    assert d["percent_all_languages"] == pytest.approx(20.0)
    assert d["pairs"]["de-en"] == {"n_overlapping": 3, "percent": pytest.approx(60.0)}
    assert d["pairs"]["en-fr"]["n_overlapping"] == 1
    assert d["pairs"]["de-fr"]["n_overlapping"] == 1
    assert d["per_language"]["en"]["n_reaching"] == 4
    assert d["shares"]["1"] == {"de": pytest.approx(0.3), "en": pytest.approx(0.6),
                                "fr": pytest.approx(0.1)}


def test_min_languages_three():
    res = il.get_metric("colap", min_languages=3)(build(THREE))
    assert res.value == pytest.approx(20.0)


def test_theta_changes_result():
    res = il.get_metric("colap", theta=0.29)(build(THREE))
    assert res.per_unit.tolist() == [True, True, False, True, True]


def test_counts_tokens_not_types():
    # en: one type x 10 tokens; de: 5 types x 1 token -> en share 10/15, de 5/15
    words = ["house"] * 10 + [f"w{i}" for i in range(5)]
    langs = ["en"] * 10 + ["de"] * 5
    c = il.Concepts.from_labels(words, [0] * 15, langs)
    assert il.get_metric("colap")(c).value == 100.0
    words = ["house"] * 12 + [f"w{i}" for i in range(5)]
    c = il.Concepts.from_labels(words, [0] * 17, ["en"] * 12 + ["de"] * 5)  # 5/17 < 0.3
    assert il.get_metric("colap")(c).value == 0.0


def test_two_languages():
    res = il.get_metric("colap")(build({0: {"en": 5, "de": 5}, 1: {"en": 10}}))
    assert res.value == pytest.approx(50.0)
    assert list(res.details["pairs"]) == ["de-en"]


def test_bad_input():
    c = il.Concepts.from_labels(["a", "b"], [0, 1])
    with pytest.raises(InputError, match="language"):
        il.get_metric("colap")(c)
    one = il.Concepts.from_labels(["a", "b"], [0, 1], ["en", "en"])
    with pytest.raises(InputError, match="at least 2 languages"):
        il.get_metric("colap")(one)
    with pytest.raises(InputError, match="Concepts"):
        il.get_metric("colap")({0: ["a"]})
    with pytest.raises(InputError, match="theta"):
        il.get_metric("colap", theta=0.0)(build(THREE))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), theta=st.sampled_from([0.2, 0.3, 0.4]))
def test_matches_slow_formula(seed, theta):
    rng = np.random.default_rng(seed)
    spec = {c: {lang: int(rng.integers(0, 8)) for lang in ("en", "de", "fr", "ar")}
            for c in range(15)}
    spec = {c: {k: v for k, v in d.items() if v} for c, d in spec.items()}
    spec = {c: d for c, d in spec.items() if d}
    concepts = build(spec)
    overlapping = 0
    for cid in concepts:
        shares = concepts[cid].language_shares  # |C ∩ L_i| / |C|
        overlapping += sum(share >= theta for share in shares.values()) >= 2
    res = il.get_metric("colap", theta=theta)(concepts)
    assert res.value == pytest.approx(100.0 * overlapping / len(concepts), abs=1e-12)


def test_contract():
    check_metric(il.get_metric("colap"))
