"""Super exact test: checked against scipy (two sets) and an exact rational-arithmetic
Markov chain written plainly here (three and four sets)."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import hypergeom

import interlingua as il
from interlingua.core.errors import InputError
from interlingua.plugins.affective.superexact import (
    IntersectionDistribution,
    SuperExact,
    hypergeom_log_rows,
)


# -- independent reference: the Markov chain in exact fractions -----------------------
def exact_distribution(N: int, sizes: tuple[int, ...]) -> dict[int, Fraction]:
    """P(|S_1 ∩ ... ∩ S_m| = x) for independent uniform subsets, exactly."""
    sizes = tuple(sorted(sizes))
    dist = {sizes[0]: Fraction(1)}
    for n in sizes[1:]:
        total = math.comb(N, n)
        new: dict[int, Fraction] = {}
        for a, pa in dist.items():
            for b in range(0, min(a, n) + 1):
                ways = math.comb(a, b) * math.comb(N - a, n - b)
                if ways:
                    new[b] = new.get(b, Fraction(0)) + pa * Fraction(ways, total)
        dist = new
    return dist


def exact_sf(N: int, sizes: tuple[int, ...], observed: int) -> Fraction:
    return sum(
        (p for x, p in exact_distribution(N, sizes).items() if x >= observed), Fraction(0)
    )


def log_fraction(f: Fraction) -> float:
    return math.log(f.numerator) - math.log(f.denominator)


def brute_force_counts(sets: dict[str, list[int]]) -> dict[tuple[str, ...], tuple[int, int]]:
    names = list(sets)
    out = {}
    universe = set().union(*map(set, sets.values()))
    for k in range(2, len(names) + 1):
        for combo in combinations(names, k):
            inter = set.intersection(*(set(sets[n]) for n in combo))
            others = [n for n in names if n not in combo]
            excl = {e for e in inter if not any(e in sets[o] for o in others)}
            out[combo] = (len(inter), len(excl))
    assert universe is not None
    return out


# -- accuracy ----------------------------------------------------------------------------
def test_two_sets_equal_scipy_hypergeom_sf():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(150):
        N = int(rng.integers(2, 2500))
        n1, n2 = (int(v) for v in rng.integers(1, N + 1, size=2))
        dist = IntersectionDistribution(N)
        lo, hi = max(0, n1 + n2 - N), min(n1, n2)
        for O in {lo, hi, (lo + hi) // 2, int(rng.integers(lo, hi + 1))}:
            ref = hypergeom.sf(O - 1, N, n1, n2)
            if ref < 1e-300:
                continue
            got = math.exp(dist.log_sf((n1, n2), O))
            assert got == pytest.approx(ref, rel=1e-12, abs=0), (N, n1, n2, O)
            checked += 1
    assert checked > 300


def test_two_set_metric_pvalue_matches_scipy():
    rng = np.random.default_rng(1)
    a = rng.choice(768, 100, replace=False)
    b = np.concatenate([a[:40], rng.choice(np.setdiff1d(np.arange(768), a), 60, replace=False)])
    res = il.get_metric("superexact")({"A": a.tolist(), "B": b.tolist()}, background=768)
    (row,) = res.details["intersections"]
    assert row["observed"] == 40
    ref = hypergeom.sf(39, 768, 100, 100)
    assert row["pvalue"] == pytest.approx(ref, rel=1e-12)
    assert res.pvalue == pytest.approx(ref, rel=1e-12)
    assert res.value == pytest.approx(40 / (100 * 100 / 768), rel=1e-12)


@pytest.mark.parametrize(
    ("N", "sizes", "observed"),
    [
        (30, (5, 7, 9), 1),
        (30, (5, 7, 9), 3),
        (50, (20, 10, 15), 2),
        (100, (40, 50, 60), 20),
        (40, (10, 12, 14, 16), 1),
        (40, (10, 12, 14, 16), 4),
        (60, (30, 30, 30, 30), 10),
        (768, (100, 100, 100), 5),
        (200, (60, 70, 80, 90), 30),
    ],
)
def test_three_and_four_sets_equal_exact_fraction_chain(N, sizes, observed):
    exact = exact_sf(N, sizes, observed)
    got = IntersectionDistribution(N).log_sf(sizes, observed)
    assert math.exp(got) == pytest.approx(float(exact), rel=1e-10)
    assert got == pytest.approx(log_fraction(exact), rel=1e-12, abs=1e-12)


def test_whole_pmf_equals_exact_chain():
    N, sizes = 45, (12, 15, 20, 25)
    exact = exact_distribution(N, sizes)
    lp = IntersectionDistribution(N).log_pmf(sizes)
    assert lp.shape == (13,)
    for x in range(13):
        if x in exact:
            assert math.exp(lp[x]) == pytest.approx(float(exact[x]), rel=1e-10)
        else:
            assert lp[x] == -math.inf
    assert np.exp(lp).sum() == pytest.approx(1.0, rel=1e-13)


def test_log_pvalue_finite_far_below_double_range():
    N, sizes = 3000, (1500, 1500)
    got = IntersectionDistribution(N).log_sf(sizes, 1500)  # p = 1 / C(3000, 1500)
    ref = -math.log(math.comb(3000, 1500))
    assert ref < -2000  # far below 1e-308
    assert got == pytest.approx(ref, rel=1e-12)
    # through the metric: pvalue underflows, log_pvalue does not
    ids = list(range(1500))
    res = SuperExact()({"a": ids, "b": ids, "c": ids}, background=3000)
    full = res.details["intersections"][-1]
    assert full["pvalue"] == 0.0
    assert math.isfinite(full["log_pvalue"]) and full["log_pvalue"] < -4000
    exact3 = exact_sf(60, (30, 30, 30), 30)
    assert IntersectionDistribution(60).log_sf((30, 30, 30), 30) == pytest.approx(
        log_fraction(exact3), rel=1e-12
    )


def test_seed_expected_overlap_13_02():
    rng = np.random.default_rng(3)
    sets = {k: rng.choice(768, 100, replace=False).tolist() for k in ("it", "es")}
    res = SuperExact()(sets, background=768)
    assert res.details["intersections"][0]["expected"] == pytest.approx(13.0208, abs=5e-5)
    assert IntersectionDistribution(768).expected((100, 100)) == pytest.approx(
        768 * (100 / 768) ** 2
    )


def test_observed_zero_gives_p_one():
    res = SuperExact()({"a": [0, 1, 2], "b": [3, 4, 5]}, background=10)
    (row,) = res.details["intersections"]
    assert row["observed"] == 0
    assert row["pvalue"] == 1.0 and row["log_pvalue"] == 0.0
    assert row["fold_enrichment"] == 0.0
    assert res.pvalue == 1.0


def test_full_overlap_and_identical_sets():
    res = SuperExact()({"a": [1, 2, 3], "b": [1, 2, 3]}, background=10)
    ref = hypergeom.sf(2, 10, 3, 3)  # = 1 / C(10, 3)
    assert res.pvalue == pytest.approx(ref, rel=1e-12)
    assert res.pvalue == pytest.approx(1 / 120, rel=1e-12)


def test_hypergeom_rows_are_distributions():
    T = np.exp(hypergeom_log_rows(50, np.arange(0, 21), 17, 20))
    np.testing.assert_allclose(T.sum(axis=1), 1.0, rtol=1e-13)
    for a in (0, 5, 20):
        ref = hypergeom.pmf(np.arange(21), 50, a, 17)
        np.testing.assert_allclose(T[a], ref, rtol=1e-11, atol=1e-300)


# -- counting --------------------------------------------------------------------------
def test_counts_match_brute_force():
    rng = np.random.default_rng(5)
    N = 60
    sets = {
        name: sorted(rng.choice(N, int(rng.integers(5, 30)), replace=False).tolist())
        for name in ("en", "de", "fr", "it", "zh")
    }
    res = SuperExact()(sets, background=N)
    ref = brute_force_counts(sets)
    rows = res.details["intersections"]
    assert len(rows) == 2**5 - 1 - 5
    assert [r["sets"] for r in rows] == list(ref)  # degree, then lexicographic order
    for row in rows:
        obs, excl = ref[row["sets"]]
        assert row["observed"] == obs
        assert row["exclusive"] == excl
        assert row["degree"] == len(row["sets"])
        sizes = tuple(len(sets[n]) for n in row["sets"])
        exact = exact_sf(N, sizes, obs) if obs > 0 else Fraction(1)
        assert row["pvalue"] == pytest.approx(float(exact), rel=1e-10)
        assert row["expected"] == pytest.approx(N * math.prod(s / N for s in sizes))
    # pairwise matrix agrees with the rows
    pw = res.details["pairwise"]
    names = list(sets)
    for row in rows:
        if row["degree"] == 2:
            i, j = (names.index(n) for n in row["sets"])
            assert pw["observed"][i][j] == row["observed"]
            assert pw["fold_enrichment"][j][i] == pytest.approx(row["fold_enrichment"])


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_property_counts_and_symmetry(data):
    N = data.draw(st.integers(5, 40))
    m = data.draw(st.integers(2, 5))
    sets = {
        f"s{i}": data.draw(
            st.lists(st.integers(0, N - 1), min_size=1, max_size=N, unique=True)
        )
        for i in range(m)
    }
    res = SuperExact()(sets, background=N)
    ref = brute_force_counts(sets)
    for row in res.details["intersections"]:
        assert (row["observed"], row["exclusive"]) == ref[row["sets"]]
        assert 0.0 <= row["pvalue"] <= 1.0
        assert row["log_pvalue"] <= 0.0
    # permuting the order of the sets permutes the rows only
    rev = dict(reversed(list(sets.items())))
    res2 = SuperExact()(rev, background=N)
    by_set = {frozenset(r["sets"]): r for r in res2.details["intersections"]}
    for row in res.details["intersections"]:
        other = by_set[frozenset(row["sets"])]
        assert other["observed"] == row["observed"]
        assert other["pvalue"] == pytest.approx(row["pvalue"], rel=1e-12, abs=1e-300)
    assert res2.value == pytest.approx(res.value)


def test_thirteen_sets_all_intersections():
    rng = np.random.default_rng(7)
    sets = {f"L{i}": rng.choice(768, 100, replace=False).tolist() for i in range(13)}
    res = SuperExact()(sets, background=768)
    rows = res.details["intersections"]
    assert len(rows) == 2**13 - 1 - 13
    assert res.details["n_intersections"] == len(rows)
    # exclusive counts partition the union
    exclusive_total = sum(r["exclusive"] for r in rows)
    singles = sum(
        len(set(sets[n]) - set().union(*(set(sets[o]) for o in sets if o != n))) for n in sets
    )
    assert exclusive_total + singles == res.details["union"]


def test_options_max_degree_and_nonempty_only():
    rng = np.random.default_rng(8)
    sets = {f"L{i}": rng.choice(100, 20, replace=False).tolist() for i in range(6)}
    rows = SuperExact(max_degree=3)(sets, background=100).details["intersections"]
    assert {r["degree"] for r in rows} == {2, 3}
    assert len(rows) == 15 + 20
    nonempty = SuperExact(nonempty_only=True)(sets, background=100).details["intersections"]
    assert all(r["observed"] > 0 for r in nonempty)
    assert len(nonempty) < 2**6 - 7
    # the filtered paths keep the full report's order and values
    full = SuperExact()(sets, background=100).details["intersections"]
    assert nonempty == [r for r in full if r["observed"] > 0]
    assert rows == [r for r in full if r["degree"] <= 3]


def test_list_of_sets_and_background_param():
    res = SuperExact(background=20)([[1, 2, 3], [2, 3, 4]])
    assert res.details["names"] == ["S1", "S2"]
    assert res.details["intersections"][0]["observed"] == 2


# -- bad input -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sets", "background", "match"),
    [
        ({"a": [], "b": [1]}, 10, "empty"),
        ({"a": [1, 2], "b": [1, 10]}, 10, "outside the background"),
        ({"a": [1, -1], "b": [1]}, 10, "outside the background"),
        ({"a": [1, 2, 2], "b": [1]}, 10, "duplicate"),
        ({"a": [1, 2]}, 10, "at least 2 sets"),
        ({"a": [1.5, 2], "b": [1]}, 10, "non-integer"),
        ({"a": ["x"], "b": [1]}, 10, "non-integer"),
        ({"a": [1], "b": [1]}, 0, "positive integer"),
        ({"a": [1], "b": [1]}, None, "background"),
        ("abc", 10, "dict"),
        ({f"s{i}": [i] for i in range(21)}, 30, "at most 20"),
    ],
)
def test_bad_input(sets, background, match):
    with pytest.raises(InputError, match=match):
        SuperExact()(sets, background=background)


def test_id_beyond_int64_is_a_range_error_not_an_overflow():
    # 10**30 used to raise a raw OverflowError while converting to int64.
    with pytest.raises(InputError) as info:
        SuperExact()({"a": [1, 2], "big": [3, 10**30]}, background=768)
    message = str(info.value)
    assert "\n" not in message
    assert "set 'big'" in message and str(10**30) in message
    assert "[0, 768)" in message and "ids must be integers in [0, background)" in message


def test_registered_and_contract():
    metric = il.get_metric("superexact")
    assert isinstance(metric, SuperExact)
    testing = pytest.importorskip("interlingua.testing")
    testing.check_metric(metric)
    res = metric({"a": [1, 2, 3], "b": [2, 3, 4]}, background=10)
    import json

    json.dumps(res.to_dict())
