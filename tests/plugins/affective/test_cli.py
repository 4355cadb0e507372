"""``interlingua probe | superexact | overlap`` end to end on a toy word-in-context store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interlingua.cli import main
from interlingua.core.store import ActivationStore, SentenceRecord

LANGS = ("en", "de", "it")
SHARED = [1, 4, 9]


def build(tmp_path, model="toy", seed=0, strength=4.0, langs=LANGS):
    """A store with 3 languages × 20 words × 3 contexts; norms CSV per language."""
    rng = np.random.default_rng(seed)
    path = tmp_path / f"{model}.h5"
    st = ActivationStore.create(path, model=model, extractor="test")
    records, rows = [], {"0": [], "1": []}
    norm_files = {}
    for li, lang in enumerate(langs):
        words = [f"{lang}w{i}" for i in range(20)]
        ratings = {w: float(rng.uniform(1, 9)) for w in words}
        lines = ["word,valence,arousal"] + [
            f"{w},{v:.3f},{rng.uniform(1, 9):.3f}" for w, v in ratings.items()
        ]
        norm_files[lang] = tmp_path / f"{model}-{lang}.csv"
        norm_files[lang].write_text("\n".join(lines) + "\n", encoding="utf-8")
        for w in words:
            for _ in range(3):
                records.append(SentenceRecord(["a", w, "b"], lang, target=1))
                for layer in ("0", "1"):
                    acts = rng.normal(size=(3, 16))
                    if layer == "1":
                        acts[1, SHARED] += strength * (1 + 0.3 * li) * (ratings[w] - 5) / 4
                    rows[layer].append(acts)
    layers = {
        k: {"words": np.concatenate(v).astype(np.float32),
            "sentences": rng.normal(size=(len(records), 16)).astype(np.float32)}
        for k, v in rows.items()
    }
    st.append(records, layers)
    st.finalize()
    return path, norm_files


def norm_args(files):
    args = []
    for lang, p in files.items():
        args += ["--norms", f"{lang}={p}"]
    return args


def test_probe_command_table_json_png(tmp_path, capsys):
    store, files = build(tmp_path)
    out = tmp_path / "res"
    code = main(["probe", str(store), *norm_args(files), "--target", "valence",
                 "--top-k", "3", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "best layer (highest mean r): 1" in captured.out
    data = json.loads((out / "probe.json").read_text())
    assert data["kind"] == "layerwise-probe" and data["best_layer"] == "1"
    assert data["languages"] == sorted(LANGS)
    for lang in LANGS:
        assert sorted(data["top_sets"]["sets"][lang]) == SHARED
        assert len(data["weights"][lang]["1"]) == 16
    assert (out / "probe.csv").read_text().startswith("language,layer,r,n_rows")
    assert (out / "probe.png").stat().st_size > 1000
    assert "interlingua overlap" in captured.out


def test_probe_missing_words_error_then_drop(tmp_path, capsys):
    store, files = build(tmp_path)
    text = files["de"].read_text().splitlines()
    files["de"].write_text("\n".join(text[:-2]) + "\n", encoding="utf-8")  # drop 2 words
    code = main(["probe", str(store), *norm_args(files), "--target", "valence",
                 "--no-plot", "-o", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 1
    assert "de: 2 target word(s) have no 'valence' rating (6 rows)" in err
    code = main(["probe", str(store), *norm_args(files), "--target", "valence",
                 "--missing", "drop", "--no-plot", "-o", str(tmp_path / "y")])
    captured = capsys.readouterr()
    assert code == 0
    assert "de: 2 target word(s)" in captured.err and "dropped" in captured.err
    data = json.loads((tmp_path / "y" / "probe.json").read_text())
    assert data["missing"] == {"de": ["dew18", "dew19"]}
    assert data["n_rows"]["de"] == 54


def test_probe_bad_options(tmp_path, capsys):
    store, files = build(tmp_path)
    assert main(["probe", str(store), *norm_args(files), "--target", "dominance"]) == 1
    assert "no column 'dominance'" in capsys.readouterr().err
    assert main(["probe", str(store), *norm_args(files), "--target", "valence",
                 "-p", "lambda=1"]) == 1
    assert "unknown parameter 'lambda'" in capsys.readouterr().err


def test_superexact_command(tmp_path, capsys):
    rng = np.random.default_rng(0)
    sets = {f"L{i}": sorted(rng.choice(768, 100, replace=False).tolist()) for i in range(5)}
    sets["L4"][:30] = sets["L0"][:30]
    sets["L4"] = sorted(set(sets["L4"]))
    path = tmp_path / "sets.json"
    path.write_text(json.dumps(sets))
    out = tmp_path / "se"
    code = main(["superexact", str(path), "--background", "768", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "pairwise intersections" in captured.out and "L0 ∩ L4" in captured.out
    data = json.loads((out / "superexact.json").read_text())
    rows = data["details"]["intersections"]
    assert len(rows) == 2**5 - 1 - 5
    assert rows[0]["expected"] == pytest.approx(13.0208, abs=1e-4)
    assert (out / "superexact.csv").exists() and (out / "superexact.png").exists()
    # background inside the file; missing background is a clear error
    path2 = tmp_path / "sets2.json"
    path2.write_text(json.dumps({"sets": {"a": [1, 2], "b": [2, 3]}, "background": 10}))
    assert main(["superexact", str(path2), "--no-plot", "-o", str(tmp_path / "o2")]) == 0
    capsys.readouterr()
    assert main(["superexact", str(path), "--no-plot"]) == 1
    assert "--background" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"a": [1, 1], "b": [2]}))
    assert main(["superexact", str(bad), "--background", "5"]) == 1
    assert "duplicate" in capsys.readouterr().err
    bad.write_text("[1, 2]")
    assert main(["superexact", str(bad), "--background", "5"]) == 1
    assert "expected a JSON object" in capsys.readouterr().err


def test_overlap_command_with_mixed_model(tmp_path, capsys):
    files = []
    for model, strength in (("mA", 4.0), ("mB", 2.5)):
        store, norms = build(tmp_path, model=model, seed=len(files), strength=strength)
        for target in ("valence", "arousal"):
            out = tmp_path / f"{model}-{target}"
            assert main(["probe", str(store), *norm_args(norms), "--target", target,
                         "--no-plot", "-o", str(out)]) == 0
            files.append(out / "probe.json")
    capsys.readouterr()
    out = tmp_path / "ov"
    code = main(["overlap", *map(str, files), "--top-k", "4", "--layer", "1", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "mean pairwise overlap" in captured.out
    data = json.loads((out / "overlap.json").read_text())
    assert len(data["runs"]) == 4 and len(data["records"]) == 12
    assert {r["model"] for r in data["records"]} == {"mA", "mB"}
    assert "mixed_model" in data or "mixed_model_note" in data
    if "mixed_model" in data:
        assert "mixed model" in captured.out
    assert len(list(out.glob("overlap-*.png"))) == 4
    assert main(["overlap", str(files[0]), "--layer", "1", "--layer", "0",
                 "-o", str(tmp_path / "ov3")]) == 1
    assert "one per probe file" in capsys.readouterr().err


def test_overlap_unseen_language(tmp_path, capsys):
    store, norms = build(tmp_path)
    out = tmp_path / "p"
    assert main(["probe", str(store), *norm_args(norms), "--target", "valence",
                 "--no-plot", "-o", str(out)]) == 0
    fi_store, fi_norms = build(tmp_path, model="fi", seed=5, langs=("fi",))
    capsys.readouterr()
    code = main(["overlap", str(out / "probe.json"), "--top-k", "3", "--layer", "1",
                 "--unseen", str(fi_store), "--unseen-norms", str(fi_norms["fi"]),
                 "--random-neurons", "5", "--no-plot", "-o", str(tmp_path / "ov")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "unseen language 'fi'" in captured.out
    data = json.loads((tmp_path / "ov" / "overlap.json").read_text())
    (unseen,) = data["unseen"]
    tested = {row["neuron"] for row in unseen["neurons"]}
    assert tested == set(SHARED)
    assert all(row["p"] < 1e-3 for row in unseen["neurons"])
    assert unseen["baseline"]["n"] == 5
    assert not tested & set(unseen["baseline"]["neurons"])
    assert main(["overlap", str(out / "probe.json"), "--unseen", str(fi_store),
                 "-o", str(tmp_path / "ov2")]) == 1
    assert "--unseen-norms" in capsys.readouterr().err
    assert not (tmp_path / "ov2").exists()  # checked before any work is done
