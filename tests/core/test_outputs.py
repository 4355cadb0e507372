"""``interlingua.core.outputs``: refusals, input protection, atomic writes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from interlingua.core.errors import InterlinguaError, OutputError
from interlingua.core.outputs import (
    atomic_output,
    atomic_write_text,
    check_output_dir,
    check_outputs,
    same_file,
    temporary_name,
)


def leftovers(directory: Path) -> list[str]:
    """Temporary files of atomic_output left in ``directory`` (recursively)."""
    return sorted(p.name for p in directory.rglob("*") if ".tmp" in p.name)


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "data" / "input.txt"
    path.parent.mkdir()
    path.write_bytes(b"precious input\n")
    return path


def spellings(src: Path, tmp_path: Path) -> dict[str, Path]:
    """The input under other names: symlink, '..' detour, hard link."""
    (src.parent / "sub").mkdir(exist_ok=True)
    link = tmp_path / "link.txt"
    link.symlink_to(src)
    dir_link = tmp_path / "dirlink"
    dir_link.symlink_to(src.parent, target_is_directory=True)
    hard = tmp_path / "hard.txt"
    os.link(src, hard)
    return {"same": src, "symlink": link, "dotdot": src.parent / "sub" / ".." / src.name,
            "via-dir-symlink": dir_link / src.name, "hardlink": hard,
            "relative": Path(os.path.relpath(src))}


def test_same_file_spellings(src, tmp_path):
    for name, path in spellings(src, tmp_path).items():
        assert same_file(path, src), name
    other = tmp_path / "other.txt"
    other.write_bytes(src.read_bytes())
    assert not same_file(other, src)
    assert not same_file(tmp_path / "missing-a", tmp_path / "missing-b")
    assert same_file(tmp_path / "missing", tmp_path / "x" / ".." / "missing")


@pytest.mark.parametrize("overwrite", [False, True])
def test_input_refused_under_every_spelling(src, tmp_path, overwrite):
    for name, path in spellings(src, tmp_path).items():
        with pytest.raises(OutputError, match="same file as the input") as info:
            check_outputs([path], [tmp_path / "unrelated", src], overwrite=overwrite)
        assert str(path) in str(info.value) and str(src) in str(info.value), name
        assert "\n" not in str(info.value)
        with pytest.raises(OutputError, match="same file as the input"):
            with atomic_output(path, inputs=[src], overwrite=overwrite) as tmp:
                tmp.write_bytes(b"clobbered")
    assert src.read_bytes() == b"precious input\n"
    assert leftovers(tmp_path) == []


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "out.json"
    out.write_text("old")
    with pytest.raises(OutputError, match=r"already exists; pass .*--overwrite") as info:
        check_outputs([out])
    assert isinstance(info.value, InterlinguaError) and "\n" not in str(info.value)
    with pytest.raises(OutputError, match="--overwrite"):
        atomic_write_text(out, "new")
    assert out.read_text() == "old"
    assert check_outputs([out, None], [None], overwrite=True) == [out]
    atomic_write_text(out, "new", overwrite=True)
    assert out.read_text() == "new"
    assert leftovers(tmp_path) == []


def test_other_refusals(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        check_outputs([tmp_path / "d"], overwrite=True)
    with pytest.raises(OutputError, match="same output file"):
        check_outputs([tmp_path / "a.json", tmp_path / "d" / ".." / "a.json"])
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="not a directory"):
        check_outputs([tmp_path / "f" / "out.json"])
    with pytest.raises(OutputError, match="exists and is not a directory"):
        check_output_dir(tmp_path / "f")
    with pytest.raises(OutputError, match="same file as the input"):
        check_output_dir(tmp_path / "f", [tmp_path / "f"])
    assert check_output_dir(tmp_path / "new" / "dir") == tmp_path / "new" / "dir"
    assert not (tmp_path / "new").exists()  # a check creates nothing


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_mid_write_leaves_nothing(tmp_path, exc):
    new, old = tmp_path / "new.txt", tmp_path / "old.txt"
    old.write_bytes(b"old content")
    for path in (new, old):
        with pytest.raises(type(exc)):
            with atomic_output(path, overwrite=True) as tmp:
                with open(tmp, "wb") as fh:
                    fh.write(b"half of the new con")
                    raise exc
    assert not new.exists() and old.read_bytes() == b"old content"
    assert leftovers(tmp_path) == []


def test_temporary_file_beside_destination_with_its_suffix(tmp_path):
    seen = []
    with atomic_output(tmp_path / "sub" / "fig.png") as tmp:
        seen.append(tmp)
        assert not tmp.exists() and tmp.parent == tmp_path / "sub"
        assert tmp.suffix == ".png" and tmp.name.startswith(".fig.png.")
        tmp.write_bytes(b"png")
    assert (tmp_path / "sub" / "fig.png").read_bytes() == b"png" and not seen[0].exists()
    assert temporary_name(tmp_path / "a.npy") != temporary_name(tmp_path / "a.npy")


def test_nothing_written_is_an_error(tmp_path):
    with pytest.raises(OutputError, match="nothing was written"):
        with atomic_output(tmp_path / "x.txt"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_no_clobber_when_a_file_appears_meanwhile(tmp_path, monkeypatch):
    out = tmp_path / "race.txt"
    with pytest.raises(OutputError, match="already exists"):
        with atomic_output(out) as tmp:
            tmp.write_text("mine")
            out.write_text("theirs")  # another process wins the race
    assert out.read_text() == "theirs" and leftovers(tmp_path) == []

    def no_links(*args, **kwargs):
        raise PermissionError("hard links not supported here")

    monkeypatch.setattr(os, "link", no_links)
    atomic_write_text(tmp_path / "fallback.txt", "ok")
    assert (tmp_path / "fallback.txt").read_text() == "ok"
    with pytest.raises(OutputError, match="already exists"):
        with atomic_output(tmp_path / "fallback.txt") as tmp:
            tmp.write_text("again")
    assert (tmp_path / "fallback.txt").read_text() == "ok" and leftovers(tmp_path) == []


def test_symlinked_output_is_written_through(tmp_path):
    target = tmp_path / "runs" / "3.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    atomic_write_text(link, "new", overwrite=True)
    assert link.is_symlink() and target.read_text() == "new"


def test_permissions_of_replaced_file_are_kept(tmp_path):
    out = tmp_path / "shared.txt"
    out.write_text("old")
    out.chmod(0o640)
    atomic_write_text(out, "new", overwrite=True)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_update_starts_from_a_copy(tmp_path):
    path = tmp_path / "runs.h5"
    with h5py.File(path, "w") as f:
        f["a"] = np.arange(3)
    with pytest.raises(RuntimeError):
        with atomic_output(path, update=True) as tmp, h5py.File(tmp, "a") as f:
            assert "a" in f
            f["b"] = np.arange(2)
            raise RuntimeError("interrupted")
    with h5py.File(path, "r") as f:
        assert list(f) == ["a"]
    with atomic_output(path, update=True) as tmp, h5py.File(tmp, "a") as f:
        f["b"] = np.arange(2)
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["a", "b"]
    assert leftovers(tmp_path) == []


def test_formats_through_the_temporary_path(tmp_path):
    from interlingua.core.plotting import pyplot, save_figure

    with atomic_output(tmp_path / "m.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.eye(2))
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy"), np.eye(2))
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    save_figure(fig, tmp_path / "fig.png")
    save_figure(fig, tmp_path / "fig")  # no suffix: PNG, no ".png" appended
    save_figure(fig, tmp_path / "fig.svg")
    plt.close(fig)
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "fig").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "fig.svg").read_bytes()[:400]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig", "fig.png", "fig.svg", "m.npy"]


def test_module_imports_nothing_heavy():
    code = ("import sys; import interlingua.core.outputs; "
            "print(sorted(m for m in ('torch', 'h5py', 'matplotlib', 'sklearn') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
