"""Shared helpers of the concept discoverers (private: not scanned by the registry)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.validation import check_matrix


def check_points(X: Any, n_clusters: int | None = None, *, min_rows: int = 2) -> np.ndarray:
    """Validate the points to cluster.

    float32 input stays float32: clustering 1M x 768 occurrences in float64 would
    double the memory (6 GB instead of 3 GB) for no gain in the cluster assignment.
    Anything else becomes float64.
    """
    dtype = np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64
    X = check_matrix(X, "X", min_rows=min_rows, dtype=dtype)
    if n_clusters is not None:
        check_n_clusters(n_clusters, X.shape[0])
    return X


def check_n_clusters(n_clusters: int, n_rows: int) -> None:
    if n_clusters < 1:
        raise InputError(f"n_clusters must be >= 1, got {n_clusters}")
    if n_clusters > n_rows:
        raise InputError(
            f"n_clusters={n_clusters} is larger than the number of points ({n_rows}); "
            "lower -k / n_clusters or relax the frequency filter"
        )


def check_finite_block(block: np.ndarray, where: str) -> None:
    if not np.isfinite(block).all():
        raise InputError(f"{where}: contains NaN or infinite values")


def centroids(X: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Mean of the points of each cluster (float64 accumulation); empty clusters get NaN."""
    sums = np.zeros((n_clusters, X.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, X)
    counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def layer_blocks(n: int, block_rows: int, rng: np.random.Generator | None) -> Iterator[slice]:
    """Contiguous blocks ``[start, stop)`` of ``range(n)``, in seeded random order."""
    starts = np.arange(0, n, block_rows)
    if rng is not None:
        starts = rng.permutation(starts)
    for start in starts.tolist():
        yield slice(start, min(start + block_rows, n))


def read_rows(layer: Any, index: np.ndarray | None, part: slice) -> np.ndarray:
    """Rows ``part`` of a store layer (of ``index`` when given) as float32."""
    if index is None:
        return np.asarray(layer[part], dtype=np.float32)
    return np.asarray(layer[index[part]], dtype=np.float32)


def layer_size(layer: Any, index: np.ndarray | None) -> int:
    return len(index) if index is not None else int(layer.shape[0])


def load_layer(layer: Any, index: np.ndarray | None = None, rows: int = 65536) -> np.ndarray:
    """Read (selected rows of) a store layer into one preallocated float32 array.

    Reading into a preallocated block avoids holding the chunks and their
    concatenation at the same time (peak = one copy of the data + one chunk).
    """
    n = layer_size(layer, index)
    out = np.empty((n, int(layer.shape[1])), dtype=np.float32)
    for start in range(0, n, rows):
        part = slice(start, min(start + rows, n))
        block = read_rows(layer, index, part)
        check_finite_block(block, f"layer rows {part.start}-{part.stop - 1}")
        out[part] = block
    return out
