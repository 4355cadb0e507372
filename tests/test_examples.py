"""The paper scripts parse their options into the demo configuration they claim."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, argv, expected, steps", [
    ("del2022_anc_vs_cka", ["--quick", "--pooling", "mean-tokens", "--langs", "de,en"],
     {"sentence_pooling": "mean-tokens", "languages": ["de", "en"], "quick": True},
     ("similarity",)),
    ("wu2020_procrustes_cka", ["--min-count", "5", "--pairs", "800"],
     {"wt_min_count": 5, "pairs": 800, "quick": False}, ("similarity", "word_translation")),
    ("mousi2024_calign_colap", ["--quick", "--concepts", "60", "--model", "xlm-roberta-base"],
     {"n_concepts": 60, "models": ["xlm-roberta-base"]}, ("concepts",)),
    ("devarda2024_affective_neurons", ["--languages", "en,de", "--words", "50",
                                       "--corpus", "de=wiki.txt"],
     {"affective_languages": ["en", "de"], "affective_words": 50,
      "affective_corpora": {"de": "wiki.txt"}}, ("affective",)),
])
def test_scripts_configure_the_demo(monkeypatch, tmp_path, name, argv, expected, steps):
    module = _load(name)
    seen = {}

    def fake_run_demo(out, cfg, *, console, steps):
        seen.update(out=out, cfg=cfg, steps=steps)
        return {"figures": {"anc": "anc.png"}}

    monkeypatch.setattr(module, "run_demo", fake_run_demo)
    module.main([*argv, "--out", str(tmp_path)])
    assert seen["steps"] == steps and seen["out"] == str(tmp_path)
    for key, value in expected.items():
        assert getattr(seen["cfg"], key) == value, key
