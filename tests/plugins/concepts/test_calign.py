"""CALIGN (seed 000 §2.2, §3.3): hand-computed cases, paper vs reference, slow check."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.testing import check_metric


def calign(**params):
    return il.get_metric("calign", **params)


def words(prefix, n, start=0):
    return [f"{prefix}{i}" for i in range(start, start + n)]


def identity_dict(src, tgt):
    return il.Dictionary.from_pairs(zip(src, tgt))


# -- θ_A boundary ----------------------------------------------------------------------
@pytest.mark.parametrize(("n_translated", "theta", "aligned"), [
    (8, 0.8, True),     # 8/10 = 0.8 exactly: >= θ
    (7, 0.8, False),    # 0.7 < 0.8
    (8, 0.81, False),   # just below a slightly higher θ
    (9, 0.8, True),
])
def test_theta_boundary(n_translated, theta, aligned):
    src, tgt = words("s", 10), words("t", 10)
    d = identity_dict(src[:n_translated], tgt[:n_translated])
    res = calign(theta=theta)({0: src}, {0: tgt}, d)
    assert bool(res.per_unit[0]) is aligned
    assert res.value == (100.0 if aligned else 0.0)


def test_theta_equal_is_aligned_in_paper_but_not_in_reference():
    src, tgt = words("s", 10), words("t", 10)
    d = identity_dict(src[:8], tgt[:8])
    assert calign(variant="paper")({0: src}, {0: tgt}, d).value == 100.0
    # the released script uses aligned/|C_s| > θ
    assert calign(variant="reference")({0: src}, {0: tgt}, d).value == 0.0


# -- more than 5 types -------------------------------------------------------------------
def test_exactly_five_types_excluded_six_included():
    five_s, five_t = words("s", 5), words("t", 5)
    six_s, six_t = words("s", 6, 10), words("t", 6, 10)
    d = identity_dict(five_s + six_s, five_t + six_t)
    res = calign()({0: five_s, 1: six_s}, {0: five_t, 1: six_t}, d)
    assert res.per_unit.tolist() == [False, True]
    assert res.value == pytest.approx(50.0)
    assert res.details["n_eligible_source"] == 1
    assert res.details["percent_of_eligible"] == pytest.approx(100.0)
    assert [(p["source"], p["target"]) for p in res.details["pairs"]] == [(1, 1)]


def test_target_with_five_types_paper_excludes_reference_accepts():
    # |C_s| = 6, |C_t| = 5: the paper requires both > 5; the script checks only |C_s|.
    src, tgt = words("s", 6), words("t", 5)
    d = il.Dictionary.from_pairs([(s, tgt[i % 5]) for i, s in enumerate(src)])
    assert calign(variant="paper")({0: src}, {0: tgt}, d).value == 0.0
    assert calign(variant="reference")({0: src}, {0: tgt}, d).value == 100.0


# -- size difference at 40% ---------------------------------------------------------------
@pytest.mark.parametrize(("n_src", "n_tgt", "paper", "reference"), [
    (6, 10, True, False),    # 6/10 = 0.6: paper >= 0.6 aligned; script 0.6 > 0.6 fails
    (6, 11, False, False),   # 0.545 < 0.6
    (10, 6, True, True),     # paper: min/max = 0.6; script: 10/6 > 0.6
    (20, 6, False, True),    # paper: 0.3 < 0.6; script one-sided 20/6 > 0.6
    (9, 6, True, True),
])
def test_size_ratio_boundary(n_src, n_tgt, paper, reference):
    src, tgt = words("s", n_src), words("t", n_tgt)
    # every source word translates into the target concept (several onto the same word)
    d = il.Dictionary.from_pairs([(s, tgt[i % n_tgt]) for i, s in enumerate(src)])
    assert bool(calign(variant="paper")({0: src}, {0: tgt}, d).per_unit[0]) is paper
    assert bool(calign(variant="reference")({0: src}, {0: tgt}, d).per_unit[0]) is reference


def test_max_size_diff_parameter():
    src, tgt = words("s", 6), words("t", 11)
    d = il.Dictionary.from_pairs([(s, tgt[i]) for i, s in enumerate(src)])
    assert calign()({0: src}, {0: tgt}, d).value == 0.0
    assert calign(max_size_diff=0.5)({0: src}, {0: tgt}, d).value == 100.0


# -- N-best -----------------------------------------------------------------------------
def _twelve_translation_case():
    """Source word w has 12 translations x1..x12 (x1 most probable); only x11 is in C_t.

    C_s = {w, a1..a9}, C_t = {x11, b1..b9}; a1..a7 translate into C_t, so
    A = 7 without w (0.7) and 8 with w (0.8).
    """
    src = ["w", *words("a", 9, 1)]
    tgt = ["x11", *words("b", 9, 1)]
    pairs = [(f"a{i}", f"b{i}", 0.9) for i in range(1, 8)]
    probs = {f"x{k}": 0.5 - 0.03 * k for k in range(1, 13)}
    # file order differs from probability order: x11 is the 3rd line of w
    order = ["x1", "x2", "x11", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x12"]
    pairs += [("w", x, probs[x]) for x in order]
    return {0: src}, {0: tgt}, il.Dictionary.from_pairs(pairs)


def test_eleventh_translation_excluded_with_ten_best():
    src, tgt, d = _twelve_translation_case()
    assert d.translations("w", 12)[10] == "x11"
    assert calign(nbest=10)(src, tgt, d).value == 0.0
    res = calign(nbest=11)(src, tgt, d)
    assert res.value == 100.0
    assert ["w", "x11"] in res.details["pairs"][0]["matches"]
    assert res.details["pairs"][0]["aligned_types"] == 8


def test_reference_takes_first_n_lines_not_most_probable():
    src, tgt, d = _twelve_translation_case()
    # θ = 0.75 so that the strict inequality of the script does not matter here
    assert calign(nbest=10, theta=0.75, variant="paper")(src, tgt, d).value == 0.0
    assert calign(nbest=10, theta=0.75, variant="reference")(src, tgt, d).value == 100.0
    assert calign(nbest=2, theta=0.75, variant="reference")(src, tgt, d).value == 0.0


def test_ranking_rule_is_one_function_of_the_variant():
    from interlingua.plugins.concepts.calign import nbest_ranking, rank_dictionary

    assert nbest_ranking("paper") == "probability"
    assert nbest_ranking("reference") == "order"
    with pytest.raises(InputError, match="variant"):
        nbest_ranking("script")
    src, tgt, d = _twelve_translation_case()
    for variant in ("paper", "reference"):
        ranked = rank_dictionary(d, 10, variant)
        assert ranked["w"] == d.nbest(10, by=nbest_ranking(variant))["w"]
        metric = calign(nbest=10, theta=0.75, variant=variant)
        assert metric.rank(d) == ranked
        # Ranked once, the lists give the same CALIGN as the dictionary itself.
        assert metric(src, tgt, ranked).value == metric(src, tgt, d).value
    assert rank_dictionary({"w": ["x"]}, 10, "paper") == {"w": ["x"]}


# -- the percentage and the details -----------------------------------------------------------
def test_percentage_counts_source_concepts_aligned_to_any_target():
    s0, s1, s2 = words("p", 6), words("q", 6), words("r", 6)
    t0, t1 = words("P", 6), words("Q", 6)
    d = il.Dictionary.from_pairs(list(zip(s0, t0)) + list(zip(s0, t1)) + list(zip(s1, t1)))
    res = calign()({0: s0, 1: s1, 2: s2}, {5: t0, 7: t1}, d)
    assert res.value == pytest.approx(200 / 3)
    assert res.per_unit.tolist() == [True, True, False]
    assert res.details["n_aligned"] == 2
    assert res.details["n_aligned_pairs"] == 3  # s0 aligns to both targets
    assert sorted((p["source"], p["target"]) for p in res.details["pairs"]) == [
        (0, 5), (0, 7), (1, 7)]
    assert res.details["source_ids"] == [0, 1, 2]
    pair = next(p for p in res.details["pairs"] if p["source"] == 1)
    assert sorted(map(tuple, pair["matches"])) == sorted(zip(s1, t1))


def test_types_not_occurrences_and_concepts_objects():
    # Concepts built from occurrences: repeated occurrences do not add types.
    src_words = words("s", 6) * 3
    tgt_words = words("t", 6) * 2
    src = il.Concepts.from_labels(src_words, [0] * len(src_words), ["de"] * len(src_words))
    tgt = il.Concepts.from_labels(tgt_words, [3] * len(tgt_words), ["en"] * len(tgt_words))
    d = identity_dict(words("s", 5), words("t", 5))
    res = calign()(src, tgt, d)
    assert res.details["pairs"][0]["source_types"] == 6
    assert res.value == 100.0  # 5/6 >= 0.8


def test_dictionary_as_mapping_and_pairs():
    src, tgt = words("s", 6), words("t", 6)
    mapping = {s: ["zzz", t] for s, t in zip(src, tgt)}
    assert calign()({0: src}, {0: tgt}, mapping).value == 100.0
    assert calign(nbest=1)({0: src}, {0: tgt}, mapping).value == 0.0
    assert calign()({0: src}, {0: tgt}, list(zip(src, tgt))).value == 100.0


def test_bad_input():
    src, tgt = {0: words("s", 6)}, {0: words("t", 6)}
    d = identity_dict(words("s", 6), words("t", 6))
    with pytest.raises(InputError, match="source concepts"):
        calign()([1, 2], tgt, d)
    with pytest.raises(InputError, match="dictionary"):
        calign()(src, tgt, 3.5)
    with pytest.raises(InputError, match="theta"):
        calign(theta=1.5)(src, tgt, d)
    with pytest.raises(InputError, match="nbest"):
        calign(nbest=0)(src, tgt, d)
    with pytest.raises(InputError):
        calign(variant="script")
    with pytest.raises(InputError, match="empty"):
        calign()({}, tgt, d)


# -- independent slow computation ------------------------------------------------------------
def slow_calign(src, tgt, nbest_lists, theta, min_types, max_size_diff, reference):
    """Literal transcription of seed 000 §2.2 / §3.3 (and of the script for reference)."""
    aligned_pairs = set()
    for i, cs in src.items():
        cs = set(cs)
        for j, ct in tgt.items():
            ct = set(ct)
            a = sum(1 for w in cs if any(t in ct for t in nbest_lists.get(w, [])))
            if reference:
                ok = (a / len(cs) > theta and len(cs) > min_types
                      and len(cs) / len(ct) > 1 - max_size_diff)
            else:
                ok = (a / len(cs) >= theta and len(cs) > min_types and len(ct) > min_types
                      and min(len(cs), len(ct)) / max(len(cs), len(ct)) >= 1 - max_size_diff)
            if ok:
                aligned_pairs.add((i, j))
    n_aligned = len({i for i, _ in aligned_pairs})
    return 100.0 * n_aligned / len(src), aligned_pairs


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), variant=st.sampled_from(["paper", "reference"]),
       theta=st.sampled_from([0.5, 0.6, 0.75, 0.8]), nbest=st.integers(1, 4))
def test_matches_slow_transcription(seed, variant, theta, nbest):
    rng = np.random.default_rng(seed)
    vs, vt = words("s", 40), words("t", 30)
    src = {i: sorted(set(rng.choice(vs, rng.integers(1, 14)).tolist())) for i in range(12)}
    tgt = {j: sorted(set(rng.choice(vt, rng.integers(1, 14)).tolist())) for j in range(10)}
    pairs = []
    for w in vs:
        for t in rng.choice(vt, rng.integers(0, 6), replace=False):
            pairs.append((w, str(t), float(rng.choice([0.1, 0.2, 0.3]))))
    d = il.Dictionary.from_pairs(pairs)
    by = "order" if variant == "reference" else "probability"
    expected, expected_pairs = slow_calign(src, tgt, d.nbest(nbest, by=by), theta, 3, 0.4,
                                           variant == "reference")
    res = calign(theta=theta, nbest=nbest, min_types=3, variant=variant)(src, tgt, d)
    assert res.value == pytest.approx(expected, abs=1e-12)
    assert {(p["source"], p["target"]) for p in res.details["pairs"]} == expected_pairs


def test_contract():
    check_metric(calign())
    check_metric(calign(variant="reference", theta=0.5))
