import pytest

from interlingua.core import Concepts, FormatError, InputError


def _concepts():
    words = ["cat", "dog", "cat", "gato", "perro", "gato", "house", "casa"]
    labels = [0, 0, 0, 0, 0, 1, 2, 2]
    langs = ["en", "en", "en", "es", "es", "es", "en", "es"]
    return Concepts.from_labels(words, labels, langs)


def test_grouping_counts_types_and_languages():
    concepts = _concepts()
    assert list(concepts) == [0, 1, 2] and len(concepts) == 3
    c0 = concepts[0]
    assert c0.counts == {("cat", "en"): 2, ("dog", "en"): 1, ("gato", "es"): 1,
                         ("perro", "es"): 1}
    assert c0.n_types == 4 and c0.n_occurrences == 5
    assert c0.words("es") == {"gato", "perro"} and c0.types == {"cat", "dog", "gato", "perro"}
    assert c0.language_counts == {"en": 3, "es": 2}
    assert c0.language_shares == {"en": 0.6, "es": 0.4}
    assert concepts.languages == ["en", "es"]
    es = concepts.for_language("es")
    assert list(es) == [0, 1, 2] and es[0].types == {"gato", "perro"}
    with pytest.raises(KeyError, match="no concept with id 7"):
        concepts[7]


def test_same_word_in_two_languages_is_two_types():
    concepts = Concepts.from_labels(["no", "no"], [0, 0], ["en", "es"])
    assert concepts[0].n_types == 2 and concepts[0].types == {"no"}


def test_save_and_read(tmp_path):
    path = tmp_path / "c.json"
    _concepts().save(path)
    again = Concepts.read(path)
    assert again[0].counts == _concepts()[0].counts
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(FormatError, match="not an interlingua-concepts file"):
        Concepts.read(tmp_path / "bad.json")


def test_bad_input():
    with pytest.raises(InputError, match="differ in length"):
        Concepts.from_labels(["a", "b"], [0])
    with pytest.raises(InputError, match="integer cluster ids"):
        Concepts.from_labels(["a"], [0.5])
    with pytest.raises(InputError, match="empty"):
        Concepts.from_labels([], [])
    with pytest.raises(InputError, match="languages has 1 entries"):
        Concepts.from_labels(["a", "b"], [0, 1], ["en"])
    with pytest.raises(InputError, match="no occurrences of language 'fr'"):
        _concepts().for_language("fr")
    with pytest.raises(InputError, match="carry no languages"):
        Concepts.from_labels(["a"], [0]).for_language("en")
