"""ConceptX text files: numeric and named cluster ids."""

import pytest

from interlingua.core.errors import FormatError
from interlingua.plugins.concepts.conceptx import read_conceptx


def test_numeric_ids_stay_ids_and_names_become_labels(tmp_path):
    numeric = tmp_path / "numeric.txt"
    numeric.write_text("cat|||0|||0|||1|||7\ndog|||1|||1|||1|||7\nrun|||2|||2|||0|||3\n")
    concepts = read_conceptx(numeric, language="en")
    assert sorted(concepts) == [3, 7] and concepts[7].words() == {"cat", "dog"}
    named = tmp_path / "named.txt"
    named.write_text("cat|||animals\ndog|||animals\nrun|||verbs\n")
    concepts = read_conceptx(named)
    assert concepts.by_label("animals").words() == {"cat", "dog"}
    assert sorted(concepts[cid].label for cid in concepts) == ["animals", "verbs"]


def test_malformed_lines_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("cat|||1\nno separator here\n")
    with pytest.raises(FormatError, match=r"bad.txt:2"):
        read_conceptx(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("cat||| \n")
    with pytest.raises(FormatError, match="empty cluster id"):
        read_conceptx(empty)
