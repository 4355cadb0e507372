"""Dictionary readers (Moses lex in both forms, MUSE, TSV), N-best order, errors."""

import pytest

import interlingua as il
from interlingua.core.dictionary import Dictionary
from interlingua.core.errors import FormatError, InputError


def write(tmp_path, text, name="dict.txt", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_moses_three_column_nbest_by_probability_ties_in_file_order(tmp_path):
    path = write(tmp_path, "haus house 0.2\nhaus home 0.5\nhaus building 0.2\n"
                           "haus household 0.2\nhund dog 1.0\n")
    d = Dictionary.read(path)
    assert d.translations("haus") == ["home", "house", "building", "household"]
    assert d.translations("haus", 2) == ["home", "house"]
    assert d.first("haus", 2) == ["house", "home"]
    assert d.nbest(1) == {"haus": ["home"], "hund": ["dog"]}
    assert d.nbest(1, by="order") == {"haus": ["house"], "hund": ["dog"]}
    assert d.probability("haus", "home") == 0.5
    assert len(d) == 2 and d.n_pairs == 5


def test_moses_arrow_form_with_and_without_count(tmp_path):
    path = write(tmp_path, "das -> the: Probability = 0.6, Count = 120\n"
                           "das -> that: Probability = 0.3, Count = 60\n"
                           "uhr -> 10:30: Probability = 1, Count = 1\n"
                           "ja -> yes: Probability = 0.9\n")
    d = Dictionary.read(path)
    assert d.translations("das") == ["the", "that"]
    assert d.translations("uhr") == ["10:30"]
    assert d.probability("ja", "yes") == 0.9
    assert Dictionary.read(path, "moses-arrow").n_pairs == 4


def test_muse_and_tsv(tmp_path):
    muse = write(tmp_path, "casa house\ncasa home\nperro dog\n", "muse.txt")
    d = Dictionary.read(muse)
    assert d.translations("casa") == ["house", "home"]  # equal probabilities: file order
    tsv = write(tmp_path, "New York\tNueva York\t0.7\nNew York\tNY\t0.9\ncat\tgato\n",
                "d.tsv")
    d = Dictionary.read(tsv)
    assert d.translations("New York") == ["NY", "Nueva York"]
    assert d.probability("cat", "gato") == 1.0


def test_swap_reads_moses_lex_f2e_convention(tmp_path):
    # Moses lex.f2e lines are "e f p(e|f)": the conditioning (source) word is column 2.
    path = write(tmp_path, "house haus 0.4\nhome haus 0.6\nhaus house 0.9\n")
    d = Dictionary.read(path, "moses", swap=True)
    assert d.translations("haus") == ["home", "house"]
    assert d.translations("house") == ["haus"]


def test_duplicate_pair_keeps_first_position_and_highest_probability(tmp_path):
    path = write(tmp_path, "a x 0.1\na y 0.5\na x 0.7\n")
    d = Dictionary.read(path)
    assert d.first("a", 2) == ["x", "y"]
    assert d.probability("a", "x") == 0.7
    assert d.translations("a") == ["x", "y"]


def test_blank_lines_and_bom_are_fine(tmp_path):
    path = write(tmp_path, "\ufeffa x 0.5\n\n   \nb y 0.5\n")
    d = Dictionary.read(path)
    assert d.sources == ["a", "b"]


@pytest.mark.parametrize(("text", "fmt", "line", "what"), [
    ("a x 0.5\nb y\nc z 0.1\n", "auto", 2, "3 fields"),
    ("a x 0.5\nb y zero\n", "auto", 2, "not a number"),
    ("a x 0.5\nb y -1\n", "auto", 2, ">= 0"),
    ("a x 0.5\nb y nan\n", "auto", 2, "finite"),
    ("a x\nb y z w\n", "auto", 2, "2 fields"),
    ("a -> x: Probability = 0.5\nb -> y Probability = 0.5\n", "auto", 2, "Probability"),
    ("a\tx\t0.5\nb\n", "auto", 2, "TAB"),
    ("one two three four\n", "auto", 1, "cannot tell"),
    ("a x 0.5\n", "muse", 1, "2 fields"),
])
def test_malformed_lines_name_file_and_line(tmp_path, text, fmt, line, what):
    path = write(tmp_path, text)
    with pytest.raises(FormatError, match=what) as err:
        Dictionary.read(path, fmt)
    assert f"{path}:{line}:" in str(err.value)


def test_non_utf8_is_a_clear_error(tmp_path):
    path = write(tmp_path, b"a x 0.5\n" + "b ü 0.5\n".encode("latin-1"))
    with pytest.raises(FormatError, match=r"dict\.txt:2: not valid UTF-8"):
        Dictionary.read(path)


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(FormatError, match="no dictionary entries"):
        Dictionary.read(write(tmp_path, "\n\n"))
    with pytest.raises(FormatError, match="no such file"):
        Dictionary.read(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="unknown dictionary format"):
        Dictionary.read(write(tmp_path, "a b\n"), "xml")


@pytest.mark.parametrize("fmt", ["tsv", "moses", "muse"])
def test_write_read_round_trip(tmp_path, fmt):
    d = Dictionary.from_pairs([("a", "x", 0.25), ("a", "y", 0.75), ("b", "z", 1.0)])
    path = tmp_path / f"d.{fmt}"
    d.write(path, fmt)
    back = Dictionary.read(path, fmt)
    assert back.nbest(5, by="order") == d.nbest(5, by="order")
    if fmt != "muse":
        assert back.translations("a") == ["y", "x"]


def test_from_pairs_and_inverse():
    d = il.Dictionary.from_pairs([("a", "x"), ("b", "x", 0.5)])
    assert d.inverse().translations("x") == ["a", "b"]
    with pytest.raises(InputError, match="pair 0"):
        Dictionary.from_pairs([("a",)])
    with pytest.raises(InputError, match="empty word"):
        Dictionary.from_pairs([("", "x")])
    with pytest.raises(InputError):
        d.nbest(3, by="random")
