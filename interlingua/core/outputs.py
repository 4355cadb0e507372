"""Safe output files: no silent clobbering, never over an input, atomic replacement.

Every file an ``interlingua`` command writes goes through this module:

* :func:`check_outputs` is the pre-flight a command runs *before* any expensive work:
  an output that is one of the command's inputs is refused (always, even with
  overwrite), an existing output is refused unless ``overwrite``, and so are outputs
  named twice or that cannot be files. A refusal costs nothing and touches nothing.
* :func:`atomic_output` is the write itself: the caller writes a temporary file in the
  destination's directory (same suffix, so matplotlib infers the format), which is
  fsynced and renamed over the destination only when the block succeeds. An
  interrupted or failed write leaves neither a half-written destination nor the
  temporary file behind.
* :func:`atomic_write_text` is the text-file shortcut.

"Same file" means: equal after following symlinks and normalising ``..``
(:func:`os.path.realpath`), or :func:`os.path.samefile` when both exist (hard links,
bind mounts, case-insensitive file systems). Outputs that are symlinks are written
through: the link's target is replaced and the link stays.

Only the standard library is imported here.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from interlingua.core.errors import OutputError

PathLike = str | os.PathLike

#: The end of every "already exists" refusal.
OVERWRITE_HINT = "pass overwrite=True (--overwrite) to replace it"


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` name the same file.

    Parameters
    ----------
    a, b : path-like
        Paths that need not exist.

    Returns
    -------
    bool
        True if they are equal once symlinks are followed and ``..`` is resolved, or
        if both exist and :func:`os.path.samefile` says so (hard links).
    """
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _input_of(path: PathLike, inputs: Iterable[PathLike]) -> Path | None:
    for inp in inputs:
        if inp is not None and same_file(path, inp):
            return Path(inp)
    return None


def _refuse_input(path: PathLike, inputs: Iterable[PathLike]) -> None:
    inp = _input_of(path, inputs)
    if inp is not None:
        raise OutputError(
            f"refusing to write {path}: it is the same file as the input {inp}"
        )


def _check_parents(path: Path) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"cannot write {path}: {parent} is not a directory")
            return


def check_output_dir(directory: PathLike, inputs: Iterable[PathLike] = ()) -> Path:
    """Check a directory that outputs will be written into (it may not exist yet).

    Parameters
    ----------
    directory : path-like
        The output directory.
    inputs : iterable of path-like
        The command's inputs; the directory must not be one of them.

    Returns
    -------
    Path
        ``directory``.

    Raises
    ------
    OutputError
        If it is one of the inputs, or exists and is not a directory.
    """
    directory = Path(directory)
    _refuse_input(directory, list(inputs))
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"{directory} exists and is not a directory; give a directory "
                          "(or a .json file name)")
    _check_parents(directory)
    return directory


def check_outputs(
    outputs: Iterable[PathLike | None],
    inputs: Iterable[PathLike | None] = (),
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Pre-flight check of the files a command is about to write.

    Call it before any expensive work, so that a refused output costs nothing and
    leaves every file untouched.

    Parameters
    ----------
    outputs : iterable of path-like or None
        The files to be written (``None`` entries are skipped).
    inputs : iterable of path-like or None
        The command's inputs (files or directories; ``None`` entries are skipped).
    overwrite : bool
        Allow replacing existing outputs. Inputs are never replaced.

    Returns
    -------
    list of Path
        The outputs, in order.

    Raises
    ------
    OutputError
        If an output is one of the inputs (with or without ``overwrite``), is named
        twice, is a directory, lies under a non-directory, or exists and
        ``overwrite`` is false. The message is one line naming the path(s).
    """
    ins = [p for p in inputs if p is not None]
    outs = [Path(p) for p in outputs if p is not None]
    for i, out in enumerate(outs):
        _refuse_input(out, ins)
        for earlier in outs[:i]:
            if same_file(out, earlier):
                raise OutputError(f"{out} and {earlier} are the same output file; "
                                  "give different names")
        if out.is_dir():
            raise OutputError(f"{out} is a directory; give a file name")
        _check_parents(out)
        if not overwrite and os.path.lexists(out):
            raise OutputError(f"{out} already exists; {OVERWRITE_HINT}")
    return outs


def _fsync_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:  # read-only file: fsync through a read handle (POSIX)
        fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _commit(tmp: Path, dest: Path, shown: Path, overwrite: bool) -> None:
    """Rename ``tmp`` to ``dest``; without ``overwrite`` never replace a file that
    appeared meanwhile (hard link = atomic no-clobber rename)."""
    if overwrite:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise OutputError(f"{shown} already exists; {OVERWRITE_HINT}") from None
    except OSError:  # no hard links on this file system
        if os.path.lexists(dest):
            raise OutputError(f"{shown} already exists; {OVERWRITE_HINT}") from None
        os.replace(tmp, dest)
    else:
        os.unlink(tmp)


def temporary_name(dest: PathLike) -> Path:
    """A fresh hidden name beside ``dest`` with the same suffix (``.x.png.1a2b3c4d.tmp.png``)."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp{dest.suffix}")


@contextmanager
def atomic_output(
    path: PathLike,
    *,
    inputs: Iterable[PathLike | None] = (),
    overwrite: bool = False,
    update: bool = False,
) -> Iterator[Path]:
    """Write ``path`` through a temporary file renamed into place on success.

    Parameters
    ----------
    path : path-like
        The destination. Missing parent directories are created. A symlink is
        written through (its target is replaced).
    inputs : iterable of path-like
        The caller's inputs; ``path`` must not be one of them (checked even with
        ``overwrite``).
    overwrite : bool
        Allow replacing an existing ``path``.
    update : bool
        Start the temporary file as a copy of the existing ``path`` (an in-place
        update, e.g. adding runs to an HDF5 file, made all-or-nothing). Implies
        that an existing ``path`` may be replaced.

    Yields
    ------
    Path
        The temporary path to write (it does not exist yet unless ``update``). It
        is in the destination's directory and ends with the destination's suffix.

    Raises
    ------
    OutputError
        As :func:`check_outputs`, or if the block wrote nothing.

    Notes
    -----
    On success the temporary file is fsynced, renamed over the destination with
    :func:`os.replace` (atomic on POSIX and Windows) and the directory is fsynced.
    On any exception (including ``KeyboardInterrupt``) the temporary file is
    removed and the destination is left as it was.

    Examples
    --------
    >>> with atomic_output("fig.png", overwrite=True) as tmp:  # doctest: +SKIP
    ...     fig.savefig(tmp)
    """
    shown = Path(path)
    may_replace = overwrite or update
    check_outputs([shown], inputs, overwrite=may_replace)
    dest = Path(os.path.realpath(shown))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(dest)
    try:
        if update and dest.is_file():
            shutil.copy2(dest, tmp)
        yield tmp
        if not tmp.is_file():
            raise OutputError(f"nothing was written to {shown}")
        if dest.is_file() and not update:
            shutil.copymode(dest, tmp)  # keep the permissions of the replaced file
        _fsync_file(tmp)
        _commit(tmp, dest, shown, may_replace)
        _fsync_dir(dest.parent)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(
    path: PathLike,
    text: str,
    *,
    inputs: Iterable[PathLike | None] = (),
    overwrite: bool = False,
    encoding: str = "utf-8",
    newline: str | None = None,
) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_output`).

    Parameters
    ----------
    path : path-like
        Destination.
    text : str
        Content.
    inputs, overwrite
        As for :func:`atomic_output`.
    encoding, newline
        As for :func:`open`.

    Returns
    -------
    Path
        ``path``.
    """
    with atomic_output(path, inputs=inputs, overwrite=overwrite) as tmp:
        with open(tmp, "w", encoding=encoding, newline=newline) as fh:
            fh.write(text)
    return Path(path)


__all__ = [
    "OVERWRITE_HINT",
    "atomic_output",
    "atomic_write_text",
    "check_output_dir",
    "check_outputs",
    "same_file",
    "temporary_name",
]
