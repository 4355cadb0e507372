"""Fault injection: every command that writes files refuses to clobber an existing
output without ``--overwrite``, never writes over one of its inputs (any spelling),
and leaves neither a partial nor a temporary file when a write fails."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from interlingua.cli import main
from interlingua.core.store import ActivationStore, SentenceRecord

JUNK = b"existing file, not to be clobbered\n"


# -- inputs, built once ------------------------------------------------------------------
def _parallel_store(path: Path) -> Path:
    """en/de parallel sentences whose words cluster in 4 concepts (layer 1)."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 6)) * 10
    records, rows = [], []
    for p in range(30):
        cs, ks = rng.integers(0, 4, 4), rng.integers(0, 3, 4)
        for lang in ("en", "de"):
            records.append(SentenceRecord([f"{lang[0]}{c}_{k}" for c, k in zip(cs, ks)], lang,
                                          pair_id=p))
            rows += [centers[c] + rng.normal(size=6) * 0.3 for c in cs]
    n = len(records)
    with ActivationStore.create(path, model="toy", extractor="test") as st:
        st.append(records, {str(k): {"words": np.array(rows) + k,
                                     "sentences": rng.normal(size=(n, 6))} for k in (0, 1)})
        st.finalize()
    return path


def _wic_store(root: Path) -> tuple[Path, list[str]]:
    """Word-in-context store (3 languages x 12 rated words) and its norms options."""
    rng = np.random.default_rng(1)
    records, rows, norms = [], {"0": [], "1": []}, []
    for lang in ("en", "de", "it"):
        words = [f"{lang}w{i}" for i in range(12)]
        ratings = {w: float(rng.uniform(1, 9)) for w in words}
        csv = root / f"norms-{lang}.csv"
        csv.write_text("word,valence\n" + "".join(f"{w},{v:.3f}\n" for w, v in ratings.items()))
        norms += ["--norms", f"{lang}={csv}"]
        for w in words:
            for _ in range(2):
                records.append(SentenceRecord(["a", w, "b"], lang, target=1))
                for layer in ("0", "1"):
                    acts = rng.normal(size=(3, 8))
                    acts[1, [1, 4]] += (ratings[w] - 5) if layer == "1" else 0
                    rows[layer].append(acts)
    path = root / "wic.h5"
    with ActivationStore.create(path, model="toy", extractor="test") as st:
        st.append(records, {k: {"words": np.concatenate(v).astype(np.float32),
                                "sentences": rng.normal(size=(len(records), 8))}
                            for k, v in rows.items()})
        st.finalize()
    return path, norms


@pytest.fixture(scope="module")
def ins(tmp_path_factory) -> dict:
    """Every input, built once (the tests check that none is ever modified)."""
    from interlingua.core.neurox_io import export_neurox_hdf5

    root = tmp_path_factory.mktemp("inputs")
    store = _parallel_store(root / "acts.h5")
    concepts = root / "acts.concepts.h5"
    for extra in ([], ["--mixed"]):
        assert main(["concepts", str(store), "-k", "4", "--min-freq", "1", "--max-freq", "0",
                     "--layers", "1", *extra]) == 0
    (root / "dict.tsv").write_text("".join(f"e{c}_{k}\td{c}_{k}\t0.9\n"
                                           for c in range(4) for k in range(3)))
    rng = np.random.default_rng(2)
    np.save(root / "x.npy", rng.normal(size=(12, 3)))
    np.save(root / "y.npy", rng.normal(size=(12, 3)))
    (root / "sets.json").write_text(json.dumps({"a": [1, 2, 3], "b": [2, 3, 4], "c": [3, 5]}))
    with ActivationStore.open(store) as st:
        export_neurox_hdf5(st, root / "neurox.hdf5")
    wic, norms = _wic_store(root)
    assert main(["probe", str(wic), *norms, "--target", "valence", "--top-k", "2",
                 "-o", str(root / "probe.json"), "--no-plot"]) == 0
    (root / "corpus.txt").write_text("a small corpus\n")
    return {"S": store, "C": concepts, "D": root / "dict.tsv", "X": root / "x.npy",
            "Y": root / "y.npy", "SETS": root / "sets.json", "N": root / "neurox.hdf5",
            "W": wic, "norms": norms, "P": root / "probe.json", "T": root / "corpus.txt"}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if ".tmp" in p.name or p.name.endswith((".partial", ".writing")))


# -- the commands --------------------------------------------------------------------------
@dataclass
class Case:
    """One output of one command: ``args`` with ``{out}`` for the option value,
    ``target`` the file checked (relative to the test directory; default ``out``),
    ``inputs`` (keys of ``ins``) that must survive, ``breaks`` how to fail mid-write."""

    id: str
    args: list[str]
    out: str
    inputs: list[str]
    breaks: str = "text"
    target: str | None = None
    collide: bool = True
    extra: list[str] = field(default_factory=list)


CASES = [
    Case("export-neurox", ["export-neurox", "{S}", "-o", "{out}"], "n.hdf5", ["S"], "export"),
    Case("export-neurox-json", ["export-neurox", "{S}", "-o", "{out}"], "n.json", ["S"],
         "export"),
    Case("import-neurox", ["import-neurox", "{N}", "-o", "{out}", "--lang", "xx"], "b.h5",
         ["N"], "store"),
    Case("run-metric", ["run", "metric:cka", "{X}", "{Y}", "--out", "{out}"], "r.json",
         ["X", "Y"]),
    Case("run-discoverer", ["run", "discoverer:kmeans", "{X}", "-p", "n_clusters=2",
                            "--out", "{out}"], "d.json", ["X"]),
    Case("run-save-transformed", ["run", "aligner:procrustes", "{X}", "{Y}",
                                  "--save-transformed", "{out}"], "m.npy", ["X", "Y"], "npy"),
    Case("compare", ["compare", "{S}", "-m", "anc", "-o", "{out}"], "c.json", ["S"]),
    Case("compare-png", ["compare", "{S}", "-m", "anc", "-o", "{out}"], "c.json", ["S"],
         "png", target="c.png"),
    Case("compare-dir", ["compare", "{S}", "-m", "anc", "--no-plot", "-o", "{out}"], "cmp",
         ["S"], target="cmp/compare.csv", breaks="csv"),
    Case("calign", ["calign", "{C}", "-s", "en", "-t", "de", "-d", "{D}", "-o", "{out}"],
         "cal.json", ["C", "D"]),
    Case("calign-plot", ["calign", "{C}", "-s", "en", "-t", "de", "-d", "{D}",
                         "--plot", "{out}"], "cal.png", ["C", "D"], "png"),
    Case("colap", ["colap", "{S}", "-o", "{out}"], "col.json", ["C", "S"]),
    Case("colap-plot", ["colap", "{C}", "--plot", "{out}"], "col.png", ["C"], "png"),
    Case("induce-dictionary", ["induce-dictionary", "{S}", "-s", "en", "-t", "de",
                               "--backend", "ibm1", "-o", "{out}"], "lex.txt", ["S"]),
    Case("induce-dictionary-moses", ["induce-dictionary", "{S}", "-s", "en", "-t", "de",
                                     "--backend", "ibm1", "--format", "moses", "-o", "{out}"],
         "lex", ["S"], target="lex.e2f", collide=False),
    Case("probe", ["probe", "{W}", "{norms}", "--target", "valence", "-o", "{out}"],
         "p.json", ["W"]),
    Case("probe-png", ["probe", "{W}", "{norms}", "--target", "valence", "-o", "{out}"],
         "p.json", ["W"], "png", target="p.png"),
    Case("superexact", ["superexact", "{SETS}", "--background", "8", "-o", "{out}"],
         "s.json", ["SETS"]),
    Case("superexact-png", ["superexact", "{SETS}", "--background", "8", "-o", "{out}"],
         "s.json", ["SETS"], "png", target="s.png"),
    Case("overlap", ["overlap", "{P}", "-o", "{out}", "--no-plot"], "o.json", ["P"]),
    Case("overlap-png", ["overlap", "{P}", "-o", "{out}"], "o.json", ["P"], "png",
         target="overlap-toy-valence.png"),
    Case("concepts-conceptx", ["concepts", "{S}", "-k", "2", "--min-freq", "1", "--layers",
                               "1", "--mixed", "-o", "{tmp}/c.h5", "--export-conceptx",
                               "{out}"], "cx", ["S"], "conceptx",
         target="cx/clusters-1-_mixed.txt", collide=False),
]


def argv(case: Case, ins: dict, out: str | Path, tmp: Path, *extra: str) -> list[str]:
    args: list[str] = []
    for arg in case.args:
        if arg == "{norms}":
            args += ins["norms"]
            continue
        arg = arg.replace("{out}", str(out)).replace("{tmp}", str(tmp))
        for key, value in ins.items():
            if isinstance(value, Path):
                arg = arg.replace("{" + key + "}", str(value))
        args.append(arg)
    return [*args, *extra]


def target_of(case: Case, tmp: Path) -> Path:
    return tmp / (case.target or case.out)


def refused(capsys, code: int, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code != 0, err
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture
def snapshot(ins):
    def take() -> dict[str, str]:
        paths = {k: v for k, v in ins.items() if isinstance(v, Path)}
        return {k: digest(v) for k, v in paths.items()}
    return take


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_existing_output_refused_then_replaced_with_overwrite(case, ins, tmp_path, capsys,
                                                              snapshot):
    before = snapshot()
    target = target_of(case, tmp_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(JUNK)
    code = main(argv(case, ins, tmp_path / case.out, tmp_path))
    refused(capsys, code, "--overwrite", str(target.name))
    assert target.read_bytes() == JUNK
    assert main(argv(case, ins, tmp_path / case.out, tmp_path, "--overwrite")) == 0
    assert target.read_bytes() != JUNK and target.stat().st_size > 0
    assert snapshot() == before and leftovers(tmp_path) == []


@pytest.mark.parametrize("case", [c for c in CASES if c.collide], ids=lambda c: c.id)
def test_input_as_output_refused_under_any_name(case, ins, tmp_path, capsys, snapshot):
    before = snapshot()
    for key in case.inputs:
        src: Path = ins[key]
        (src.parent / "sub").mkdir(exist_ok=True)
        link = tmp_path / f"link-{key}{src.suffix}"
        link.symlink_to(src)
        hard = tmp_path / f"hard-{key}{src.suffix}"
        os.link(src, hard)
        for name in (src, link, src.parent / "sub" / ".." / src.name, hard):
            for extra in ((), ("--overwrite",)):
                code = main(argv(case, ins, name, tmp_path, *extra))
                refused(capsys, code, "same file as the input", str(name))
    assert snapshot() == before and leftovers(tmp_path) == []


def _break_writer(kind: str, monkeypatch) -> None:
    """Make the writer of ``kind`` fail after writing part of its output."""
    disk_full = OSError(28, "No space left on device")

    class HalfWriter:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, text):
            self.fh.write(text[: len(text) // 2 + 1])
            self.fh.flush()
            raise disk_full

    def breaking_open(*args, **kwargs):
        fh = open(*args, **kwargs)
        mode = args[1] if len(args) > 1 else kwargs.get("mode", "r")
        return HalfWriter(fh) if "w" in mode else fh

    if kind == "text":
        import interlingua.core.outputs as module
    elif kind == "csv":
        import interlingua.registry.commands as module
    elif kind == "conceptx":
        import interlingua.plugins.concepts.conceptx as module
    if kind in ("text", "csv", "conceptx"):
        monkeypatch.setattr(module, "open", breaking_open, raising=False)
    elif kind == "npy":
        def bad_save(fh, arr, **kwargs):
            fh.write(b"\x93NUMPY\x01\x00")
            raise disk_full
        monkeypatch.setattr(np, "save", bad_save)
    elif kind == "png":
        from matplotlib.figure import Figure

        def bad_savefig(self, fname, **kwargs):
            Path(fname).write_bytes(b"\x89PNG\r\n")
            raise disk_full
        monkeypatch.setattr(Figure, "savefig", bad_savefig)
    elif kind in ("export", "store"):
        import interlingua.core.neurox_io as nio

        name = "_iter_sentence_activations" if kind == "export" else "_batched"
        real = getattr(nio, name)

        def one_then_fail(*args, **kwargs):
            it = real(*args, **kwargs)
            yield next(it)
            raise disk_full
        if kind == "store":
            monkeypatch.setattr(nio, "_batched", lambda items, size: one_then_fail(items, 1))
        else:
            monkeypatch.setattr(nio, name, one_then_fail)
    else:  # pragma: no cover
        raise AssertionError(kind)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_failure_mid_write_leaves_old_file_and_no_temporary(case, ins, tmp_path, capsys,
                                                            monkeypatch, snapshot):
    before = snapshot()
    target = target_of(case, tmp_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(JUNK)
    _break_writer(case.breaks, monkeypatch)
    assert main(argv(case, ins, tmp_path / case.out, tmp_path, "--overwrite")) == 1
    assert "No space left" in capsys.readouterr().err
    assert target.read_bytes() == JUNK
    assert snapshot() == before and leftovers(tmp_path) == []


@pytest.mark.parametrize("case", [c for c in CASES if c.breaks != "store"],
                         ids=lambda c: c.id)
def test_crash_before_commit_leaves_no_output(case, ins, tmp_path, capsys, monkeypatch,
                                              snapshot):
    """The generic failure point of every atomic write: after the data, before the rename
    (import-neurox is committed by the store writer, tested above)."""
    import interlingua.core.outputs as outputs

    before = snapshot()

    def crash(path):
        assert Path(path).stat().st_size > 0
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(outputs, "_fsync_file", crash)
    assert main(argv(case, ins, tmp_path / case.out, tmp_path)) == 1
    assert "Input/output error" in capsys.readouterr().err
    assert not target_of(case, tmp_path).exists()
    assert snapshot() == before and leftovers(tmp_path) == []
