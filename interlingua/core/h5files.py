"""Opening HDF5 files that users hand in (concept files, NeuroX files).

Activation stores have their own checks in :mod:`interlingua.core.store`; this helper
gives other HDF5 inputs the same one-line error for truncated or corrupt files instead
of h5py's raw ``OSError``. h5py is imported lazily (``import interlingua.core`` stays
light).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from interlingua.core.errors import StoreError


def open_hdf5(path: str | os.PathLike, mode: str = "r", *, fix: str = "") -> Any:
    """Open an existing HDF5 file with h5py, or fail with one readable line.

    Parameters
    ----------
    path : path-like
        The file (callers check first that it exists and is HDF5, e.g. with
        ``h5py.is_hdf5``, which accepts truncated files).
    mode : {"r", "r+", "a"}
        h5py file mode.
    fix : str, optional
        What to do about a broken file, appended to the message, e.g.
        ``"run `interlingua concepts` again"``.

    Returns
    -------
    h5py.File
        The open file.

    Raises
    ------
    StoreError
        ``"FILE: not a readable HDF5 file (truncated or corrupt)"`` when h5py cannot
        open it (or a message about permissions or file locking when that is why).
    """
    import h5py

    path = Path(path)
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        access = os.R_OK if mode == "r" else os.R_OK | os.W_OK
        if not os.access(path, access):
            raise StoreError(f"{path}: permission denied") from None
        if "unable to lock file" in str(exc).lower():
            raise StoreError(
                f"{path}: locked by another process (HDF5 file locking); close the other "
                "program first"
            ) from None
        hint = f"; {fix}" if fix else ""
        raise StoreError(f"{path}: not a readable HDF5 file (truncated or corrupt){hint}") from None


__all__ = ["open_hdf5"]
