"""Output policies that differ per command: the concept file collects runs, the demo
owns its directory, extract/run refuse before reading, outputs never collide."""

from __future__ import annotations

import pytest

from interlingua.cli import cli, main

from .test_outputs_guard import JUNK, _parallel_store, _wic_store, digest, leftovers, refused

WRITERS = sorted(set(cli.list_commands(None)) - {"plugins", "info"})


@pytest.mark.parametrize("command", WRITERS)
def test_every_writing_command_has_overwrite(command, capsys):
    assert main([command, "--help"]) == 0
    assert "-f, --overwrite" in capsys.readouterr().out


def test_concept_file_is_a_container_and_never_the_store(tmp_path, capsys, monkeypatch):
    from interlingua.plugins.concepts import pipeline as analysis
    from interlingua.plugins.concepts.pipeline import list_runs

    store = _parallel_store(tmp_path / "acts.h5")
    kept = digest(store)
    base = ["concepts", str(store), "-k", "2", "--min-freq", "1", "--layers", "1"]
    for extra in ((), ("-f",)):
        refused(capsys, main([*base, "-o", str(store), *extra]), "same file as the input")
    companion = tmp_path / "acts.concepts.h5"
    companion.symlink_to(store)  # the default companion must never be the store itself
    refused(capsys, main([*base, "-f"]), "same file as the input")
    companion.unlink()
    other = tmp_path / "other.h5"
    other.write_bytes(JUNK)
    refused(capsys, main([*base, "-o", str(other), "-f"]), "not a concept file")
    assert other.read_bytes() == JUNK and digest(store) == kept

    assert main(base) == 0
    assert main([*base, "--mixed"]) == 0  # adding runs needs no --overwrite
    runs = {(r["layer"], r["language"]) for r in list_runs(companion)}
    assert runs == {("1", "de"), ("1", "en"), ("1", "_mixed")}
    before = digest(companion)
    capsys.readouterr()  # progress of the runs above
    refused(capsys, main(base), "already holds concepts for 1@de, 1@en", "--overwrite")
    assert digest(companion) == before

    calls = []
    real = analysis.discover_layer

    def fail_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis, "discover_layer", fail_second)
    assert main([*base, "-f"]) == 1  # the first run was saved, the second failed
    assert digest(companion) == before and leftovers(tmp_path) == []
    monkeypatch.undo()
    assert main([*base, "-f"]) == 0
    runs = {(r["layer"], r["language"]) for r in list_runs(companion)}
    assert ("1", "_mixed") in runs and digest(store) == kept  # other runs are kept


def test_demo_owns_its_directory(tmp_path, capsys):
    from interlingua.plugins.demo.cli import MARKER, is_demo_dir, prepare_demo_dir

    data = tmp_path / "pairs.tsv"
    data.write_text("en\tes\nhello\thola\n")
    demo = ["demo", "--quick", "--data", str(data), "-o"]
    afile = tmp_path / "file.txt"
    afile.write_bytes(JUNK)
    refused(capsys, main([*demo, str(afile)]), "not a directory")
    refused(capsys, main([*demo, str(data), "-f"]), "same file as the input")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_bytes(JUNK)
    refused(capsys, main([*demo, str(foreign)]), "not written by `interlingua demo`",
            "--overwrite")
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    inside = tmp_path / "report"
    inside.mkdir()
    (inside / MARKER).write_text("")
    (inside / "results.json").write_bytes(JUNK)
    refused(capsys, main(["demo", "--data", str(inside / "results.json"), "-o", str(inside)]),
            "same file as the input")
    assert (inside / "results.json").read_bytes() == JUNK and afile.read_bytes() == JUNK

    prepare_demo_dir(tmp_path / "new", [data])  # missing or empty: fine, and marked
    assert is_demo_dir(tmp_path / "new")
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for name in ("results.json", "report.md"):
        (legacy / name).write_text("{}")
    prepare_demo_dir(legacy, [data])
    prepare_demo_dir(foreign, [data], overwrite=True)
    assert is_demo_dir(foreign) and (foreign / "notes.txt").read_bytes() == JUNK


def test_extract_and_run_refuse_before_reading(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one sentence\n")
    store = tmp_path / "s.h5"
    store.write_bytes(JUNK)
    # A model that does not exist: the refusal comes before anything is loaded.
    extract = ["extract", "no/such-model", str(corpus), "--lang", "en", "-o"]
    refused(capsys, main([*extract, str(store)]), "already exists", "--overwrite")
    refused(capsys, main([*extract, str(corpus), "-f"]), "same file as the input")
    refused(capsys, main(["run", "extractor:hf", str(corpus), "--out", str(corpus), "-f"]),
            "same file as the input")
    refused(capsys, main(["run", "extractor:hf", str(corpus), "--out", str(store)]),
            "already exists")
    refused(capsys, main(["run", "aligner:procrustes", "x.npy", "y.npy", "--out", "m.npy",
                          "--save-transformed", "./m.npy"]), "same output file")
    assert store.read_bytes() == JUNK and corpus.read_text() == "one sentence\n"


def test_overlap_repeated_labels_get_distinct_heat_maps(tmp_path):
    wic, norms = _wic_store(tmp_path)
    probe = tmp_path / "probe.json"
    assert main(["probe", str(wic), *norms, "--target", "valence", "--top-k", "2",
                 "-o", str(probe), "--no-plot"]) == 0
    assert main(["overlap", str(probe), str(probe), "--top-k", "2", "-o",
                 str(tmp_path / "ov" / "o.json")]) == 0
    assert sorted(p.name for p in (tmp_path / "ov").glob("*.png")) == [
        "overlap-toy-valence-2.png", "overlap-toy-valence.png"]
