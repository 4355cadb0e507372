"""Input checks shared by all plugins: clear errors instead of deep numpy failures."""

from __future__ import annotations

from typing import Any

import numpy as np

from interlingua.core.errors import InputError

#: Values checked for NaN / inf at a time (the check's temporaries stay a few MB).
_FINITE_BLOCK = 1 << 22


def check_matrix(
    X: Any,
    name: str = "X",
    *,
    min_rows: int = 1,
    min_cols: int = 1,
    dtype: Any = np.float64,
    allow_nonfinite: bool = False,
) -> np.ndarray:
    """Return ``X`` as a 2-D float array, or raise :class:`InputError`.

    A 1-D input is refused (not silently reshaped) because rows vs. columns would be
    ambiguous. ``dtype`` is the dtype to convert to, ``None`` to keep the input's, or a
    tuple of accepted dtypes: input of one of them is returned as it is (no copy),
    anything else is converted to the first. NaN and inf are looked for in row blocks,
    so the check allocates no full-size temporary.
    """
    try:
        if isinstance(dtype, tuple):
            arr = np.asarray(X)
            if arr.dtype not in dtype:
                arr = arr.astype(dtype[0])
        else:
            arr = np.asarray(X, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: cannot be read as a numeric matrix ({exc})") from None
    if arr.ndim != 2:
        raise InputError(
            f"{name}: expected a 2-D array (rows = items, columns = neurons), "
            f"got shape {arr.shape}"
        )
    n, d = arr.shape
    if n < min_rows:
        raise InputError(f"{name}: needs at least {min_rows} rows, got {n}")
    if d < min_cols:
        raise InputError(f"{name}: needs at least {min_cols} columns, got {d}")
    if not allow_nonfinite:
        step = max(1, _FINITE_BLOCK // max(d, 1))
        bad_rows = [
            start + np.flatnonzero(~np.isfinite(arr[start:start + step]).all(axis=1))
            for start in range(0, n, step)
        ]
        rows = np.concatenate(bad_rows) if bad_rows else np.empty(0, dtype=np.intp)
        if rows.size:
            shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if rows.size > 5 else "")
            raise InputError(
                f"{name}: contains NaN or infinite values in {rows.size} row(s) ({shown})"
            )
    return arr


def check_vector(
    y: Any, name: str = "y", *, min_len: int = 1, allow_nonfinite: bool = False
) -> np.ndarray:
    """Return ``y`` as a 1-D float64 array, or raise :class:`InputError`."""
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: cannot be read as a numeric vector ({exc})") from None
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size < min_len:
        raise InputError(f"{name}: needs at least {min_len} values, got {arr.size}")
    if not allow_nonfinite and not np.isfinite(arr).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return arr


def check_paired(
    X: Any,
    Y: Any,
    *,
    min_rows: int = 2,
    same_dim: bool = False,
    dtype: Any = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate two row-aligned matrices (same number of rows; optionally same width);
    ``dtype`` as for :func:`check_matrix`."""
    X = check_matrix(X, "X", dtype=dtype)
    Y = check_matrix(Y, "Y", dtype=dtype)
    if X.shape[0] != Y.shape[0]:
        raise InputError(
            f"X and Y must have the same number of rows (paired items), "
            f"got {X.shape[0]} and {Y.shape[0]}"
        )
    if X.shape[0] < min_rows:
        raise InputError(f"needs at least {min_rows} paired rows, got {X.shape[0]}")
    if same_dim and X.shape[1] != Y.shape[1]:
        raise InputError(
            f"X and Y must have the same number of columns (neurons), "
            f"got {X.shape[1]} and {Y.shape[1]}"
        )
    return X, Y


def check_regression(X: Any, y: Any, *, min_rows: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Validate a design matrix ``X`` (rows = items) and a non-constant target ``y``
    of the same length (probes, single-neuron regressions)."""
    X = check_matrix(X, "X", min_rows=min_rows)
    y = check_vector(y, "y")
    if y.size != X.shape[0]:
        raise InputError(f"X has {X.shape[0]} rows but y has {y.size} values")
    if np.ptp(y) == 0:
        raise InputError("y is constant: there is nothing to predict")
    return X, y
