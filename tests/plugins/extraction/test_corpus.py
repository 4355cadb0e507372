"""Corpus readers: formats, pair ids, word-in-context flags, errors with file:line."""

from __future__ import annotations

import json

import pytest

from interlingua.core.errors import FormatError, InputError
from interlingua.plugins.extraction.corpus import (
    Corpus,
    CorpusSentence,
    as_corpus,
    read_corpus,
    span_to_word,
)


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_plain_text_with_language_and_empty_line_policy(tmp_path):
    path = write(tmp_path, "c.txt", "Hello  world !\n\n   \nПривет мир\n")
    c = read_corpus(path, lang="en")
    assert len(c) == 2 and c.n_skipped == 2 and c.format == "text"
    assert c[0].words == ["Hello", "world", "!"] and c[0].text == "Hello  world !"
    assert c[0].pair_id == -1 and c[0].target == -1 and c.languages == ["en"]
    with pytest.raises(FormatError, match=r"c\.txt:2: empty line"):
        read_corpus(path, lang="en", empty="error")
    with pytest.raises(InputError, match="language"):
        read_corpus(path)


def test_pretokenized_splits_on_single_spaces_only(tmp_path):
    path = write(tmp_path, "t.txt", "New\u00a0York is big\n")
    c = read_corpus(path, format="tokens", lang="en")
    assert c[0].words == ["New\u00a0York", "is", "big"]
    bad = write(tmp_path, "bad.txt", "ok line\ntwo  spaces\n")
    with pytest.raises(FormatError, match=r"bad\.txt:2: empty token"):
        read_corpus(bad, format="tokens", lang="en")


def test_tsv_columns_are_languages_and_rows_are_pairs(tmp_path):
    path = write(tmp_path, "p.tsv", "en\tes\tar\nthe dog\tel perro\tالكلب\n"
                                    "a cat\t\tقطة\n\nbirds fly\tlos pájaros\tطيور\n")
    c = read_corpus(path)
    assert c.format == "tsv"
    assert [(s.lang, s.pair_id) for s in c] == [
        ("en", 0), ("es", 0), ("ar", 0), ("en", 1), ("ar", 1), ("en", 2), ("es", 2), ("ar", 2)]
    assert c.n_skipped == 2  # one empty cell, one empty line
    with pytest.raises(FormatError, match=r"p\.tsv:3: empty cell \(es\)"):
        read_corpus(path, empty="error")
    ragged = write(tmp_path, "r.tsv", "en\tes\nthe dog\n")
    with pytest.raises(FormatError, match=r"r\.tsv:2: 1 columns, but the header has 2"):
        read_corpus(ragged)
    dup = write(tmp_path, "d.tsv", "en\ten\na\tb\n")
    with pytest.raises(FormatError, match="repeated language"):
        read_corpus(dup)


def test_csv_quoting_and_multiline_cells(tmp_path):
    path = write(tmp_path, "p.csv", 'en,de\n"Hello, world","Hallo, Welt"\n"two\nlines",zwei\n')
    c = read_corpus(path)
    assert [s.words for s in c] == [["Hello,", "world"], ["Hallo,", "Welt"], ["two", "lines"],
                                    ["zwei"]]
    assert [s.pair_id for s in c] == [0, 0, 1, 1]


def test_jsonl_fields_targets_and_flags(tmp_path):
    lines = [
        {"text": "the lazy dog", "lang": "en", "pair_id": 7, "word_index": 1},
        {"words": ["el", "perro"], "lang": "es", "pair_id": 7, "target_word": "perro"},
        {"text": "naïve café", "char_span": [6, 9]},
        {"text": "Hello world", "lang": "en", "target": "Hallo Welt", "target_lang": "de"},
    ]
    path = write(tmp_path, "c.jsonl", "\n".join(json.dumps(x, ensure_ascii=False)
                                               for x in lines) + "\n")
    c = read_corpus(path, lang="fr")
    assert [s.lang for s in c] == ["en", "es", "fr", "en", "de"]
    assert [s.target for s in c] == [1, 1, 1, -1, -1]
    assert c[3].pair_id == c[4].pair_id == 3 and c[4].source == ["Hello", "world"]
    assert c[3].source is None and c[4].words == ["Hallo", "Welt"]


@pytest.mark.parametrize("line, message", [
    ("{bad json", "invalid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"txt": "a"}', "did you mean 'text'"),
    ('{"lang": "en"}', "missing 'text'"),
    ('{"text": "a b", "word_index": 5}', "outside the sentence"),
    ('{"text": "a b", "char_span": [0, 3]}', "covers 2 words"),
    ('{"text": "a a", "target_word": "a"}', "occurs 2 times"),
    ('{"text": "a", "pair_id": "x"}', "pair_id must be an integer"),
    ('{"text": "a", "lang": "e n"}', "invalid language code"),
    ('{"words": ["a b"]}', "contain no spaces"),
])
def test_jsonl_errors_name_the_line(tmp_path, line, message):
    path = write(tmp_path, "bad.jsonl", '{"text": "fine"}\n' + line + "\n")
    with pytest.raises(FormatError, match=message) as info:
        read_corpus(path, lang="en")
    assert "bad.jsonl:2" in str(info.value)


def test_word_in_context_format(tmp_path):
    path = write(tmp_path, "w.tsv", "The happy dog barks\t1\n"
                                    "Le chien est content\tcontent\tfr\n"
                                    "naïve café au lait\t6:10\n")
    c = read_corpus(path, format="wic", lang="en")
    assert [(s.lang, s.target, s.words[s.target]) for s in c] == [
        ("en", 1, "happy"), ("fr", 3, "content"), ("en", 1, "café")]
    bad = write(tmp_path, "b.tsv", "one two\t2\n")
    with pytest.raises(FormatError, match=r"b\.tsv:1: word_index 2 outside"):
        read_corpus(bad, format="wic", lang="en")
    assert span_to_word("ab  cd", 4, 5, "x") == 1
    with pytest.raises(FormatError, match="no word"):
        span_to_word("ab  cd", 2, 4, "x")


def test_utf8_only_with_line_number(tmp_path):
    path = write(tmp_path, "latin1.txt", "good line\ncaf\u00e9\n", encoding="latin-1")
    with pytest.raises(FormatError, match=r"latin1\.txt:2: not valid UTF-8"):
        read_corpus(path, lang="fr")
    bom = write(tmp_path, "bom.txt", "\ufeffHello\n")
    assert read_corpus(bom, lang="en")[0].words == ["Hello"]


def test_format_detection_and_arguments(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        read_corpus(tmp_path / "missing.txt", lang="en")
    path = write(tmp_path, "x.txt", "a\n")
    with pytest.raises(InputError, match="unknown corpus format"):
        read_corpus(path, format="xml", lang="en")
    with pytest.raises(InputError, match="empty must be"):
        read_corpus(path, lang="en", empty="keep")
    with pytest.raises(FormatError, match="no sentences"):
        read_corpus(write(tmp_path, "e.txt", "\n\n"), lang="en")


def test_in_memory_corpora():
    c = Corpus.from_sentences(["hello world", ["pre", "split"]], lang="en")
    assert [s.words for s in c] == [["hello", "world"], ["pre", "split"]]
    assert as_corpus(c) is c
    c2 = as_corpus([CorpusSentence(words=["a"], lang="xx", target=0)])
    assert c2[0].to_record().target == 0
    with pytest.raises(InputError, match="language"):
        Corpus.from_sentences(["no language"])


@pytest.mark.parametrize(("name", "data", "where"), [
    ("c.txt", b"fine\nbad\x00line\n", "c.txt:2"),
    ("c.tsv", b"en\tde\nok\tgut\nok\tx\x00y\n", "c.tsv:3 (column de)"),
    ("c.jsonl", b'{"text": "ok"}\n{"text": "a\\u0000b"}\n', "c.jsonl:2"),
    ("c.wic", b"a b\t0\nnul\x00 here\t1\n", "c.wic:2"),
])
def test_nul_byte_is_rejected_with_file_and_line(tmp_path, name, data, where):
    path = tmp_path / name
    path.write_bytes(data)
    fmt = "wic" if name.endswith(".wic") else "auto"
    with pytest.raises(FormatError) as info:
        read_corpus(path, lang="en", format=fmt)
    assert str(info.value).startswith(f"{tmp_path / where}: contains a NUL byte")
    with pytest.raises(FormatError, match="sentence 1: contains a NUL byte"):
        Corpus.from_sentences(["ok", "a\x00b"], lang="en")


@pytest.mark.parametrize("line", ["\u200b", "\u200b \u200c\u200d", "\ufeff\u2060", "\x01"])
def test_line_of_invisible_characters_names_file_and_line(tmp_path, line):
    path = write(tmp_path, "z.txt", f"visible\n{line}\n")
    with pytest.raises(FormatError) as info:
        read_corpus(path, lang="en")
    message = str(info.value)
    assert message.startswith(f"{path}:2: no words after normalisation: the line holds only "
                              "invisible characters (U+")
    assert message.endswith("; delete the line or fix its text")
    # a zero-width character inside a visible word is fine
    ok = read_corpus(write(tmp_path, "ok.txt", "zero\u200bwidth word\n"), lang="en")
    assert ok[0].words == ["zero\u200bwidth", "word"]


def test_sentences_carry_their_origin(tmp_path):
    c = read_corpus(write(tmp_path, "p.tsv", "en\tde\n\nhi\thallo\n"))
    assert [s.origin for s in c] == [f"{tmp_path / 'p.tsv'}:3 (column en)",
                                     f"{tmp_path / 'p.tsv'}:3 (column de)"]
    j = read_corpus(write(tmp_path, "s.jsonl", '{"text": "a", "target": "b", "lang": "en"}\n'))
    assert [s.origin for s in j] == [f"{tmp_path / 's.jsonl'}:1",
                                     f"{tmp_path / 's.jsonl'}:1 (target)"]
    # origin is bookkeeping: equal sentences compare equal wherever they were read
    assert CorpusSentence(["a"], "en", origin="x:1") == CorpusSentence(["a"], "en")
