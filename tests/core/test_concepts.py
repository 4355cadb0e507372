import json

import numpy as np
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


# -- labels of any hashable kind (named clusters) --------------------------------------
def test_integer_labels_are_the_concept_ids():
    concepts = Concepts.from_labels(["a", "b", "c"], np.array([7, 3, 7]))
    assert list(concepts) == [3, 7] and concepts.label_names is None
    assert concepts[7].label == 7 and concepts[7].id == 7
    assert concepts.by_label(3).types == {"b"}
    assert concepts.labels.dtype == np.int64 and concepts.labels.tolist() == [7, 3, 7]


def test_string_labels_are_numbered_in_sorted_order():
    words = ["cat", "gato", "house", "dog", "casa"]
    labels = ["animals", "animals", "buildings", "animals", "buildings"]
    concepts = Concepts.from_labels(words, labels, ["en", "es", "en", "en", "es"])
    assert list(concepts) == [0, 1] and concepts.label_names == ["animals", "buildings"]
    assert concepts[0].label == "animals" and concepts[0].types == {"cat", "gato", "dog"}
    assert concepts.by_label("buildings").id == 1
    # the ids do not depend on the order of the occurrences
    reverse = Concepts.from_labels(words[::-1], labels[::-1])
    assert reverse.by_label("animals").id == 0 and reverse[1].label == "buildings"
    with pytest.raises(KeyError, match="no concept labelled 'plants'"):
        concepts.by_label("plants")


def test_named_labels_survive_subsets_dicts_and_files(tmp_path):
    concepts = Concepts.from_labels(["x", "y", "z"], ["c2", "c1", "c2"], ["en", "de", "de"])
    en = concepts.for_language("en")
    assert list(en) == [1] and en[1].label == "c2"  # ids kept although "c1" is gone
    data = en.to_dict()
    assert data["labels"] == [1] and data["label_names"] == ["c1", "c2"]
    assert concepts[0].to_dict() == {"id": 0, "label": "c1", "n_types": 1,
                                     "n_occurrences": 1, "counts": [["y", "de", 1]]}
    en.save(tmp_path / "en.json")
    again = Concepts.read(tmp_path / "en.json")
    assert list(again) == [1] and again[1].label == "c2" and again.label_names == ["c1", "c2"]


def test_tuple_labels_round_trip(tmp_path):
    concepts = Concepts.from_labels(["a", "b"], [("L3", 1), ("L3", 0)])
    assert concepts[0].label == ("L3", 0)
    concepts.save(tmp_path / "c.json")
    assert Concepts.read(tmp_path / "c.json").by_label(("L3", 1)).types == {"a"}


def test_numpy_string_labels_and_cluster_name_files():
    concepts = Concepts.from_labels(["a", "b"], np.array(["k1", "k0"]))
    assert concepts.label_names == ["k0", "k1"] and concepts[1].label == "k1"


@pytest.mark.parametrize(("labels", "message"), [
    ([0, "c1"], "mix integer cluster ids and names"),
    (["c1", 2], "mix integer cluster ids and names"),
    ([["a"], ["b"]], "unhashable list"),
    ([{"a": 1}, {"b": 2}], "unhashable dict"),
    ([None, "a"], "integer cluster ids or cluster names"),
    (["a", 1.5], "integer cluster ids or cluster names"),
    ([("a",), "b"], "cannot be sorted"),
])
def test_bad_labels_are_one_line_input_errors(labels, message):
    with pytest.raises(InputError, match=message) as info:
        Concepts.from_labels(["w1", "w2"], labels)
    assert "\n" not in str(info.value)


def test_unsaveable_names_and_bad_label_names(tmp_path):
    class Name:
        def __lt__(self, other):
            return id(self) < id(other)

    with pytest.raises(InputError, match="cannot be saved as JSON"):
        Concepts.from_labels(["a"], [Name()]).save(tmp_path / "x.json")
    bad = {"format": "interlingua-concepts", "words": ["a"], "labels": [3],
           "languages": None, "label_names": ["only"]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(FormatError, match="ids of the 1 label_names"):
        Concepts.read(tmp_path / "bad.json")
