"""Exact, mergeable float64 sufficient statistics of paired rows (private helper).

Every streaming paired metric (ANC, linear / debiased CKA, CCA / SVCCA / PWCCA,
Procrustes) is a function of a few moments of the two row-aligned matrices
``X`` (n×p) and ``Y`` (n×q):

* ``n``, the column sums, the scatter matrices ``XᵀX``, ``YᵀY``, ``XᵀY`` (full, or
  only their diagonals for ANC);
* for the debiased (unbiased-HSIC) CKA of Song et al. (2007) also the fourth-order
  terms ``Σ a_i b_i``, ``Σ a_i²``, ``Σ b_i²`` where ``a_i = ‖x_i − x̄‖²`` and
  ``b_i = ‖y_i − ȳ‖²`` are squared norms of rows centred by the *global* means;
* for ANC the column minima / maxima (exact detection of constant neurons).

The sums are kept around a fixed *shift* (the mean of the first chunk seen), i.e. we
accumulate statistics of ``u = x − s`` and ``v = y − t``. With the shift close to the
mean, the final centring ``Σuuᵀ − n ūūᵀ`` cancels little, so the streaming result
agrees with a two-pass in-memory computation to ~1e-12 relative. Merging two
accumulators first moves the other one's sums to this one's shift (exact polynomial
identities, :meth:`Moments._moved`) and then adds; this is the raw-moment
counterpart of Chan et al.'s (1979) pairwise update and is associative up to
rounding, so any map-reduce tree gives the same numbers.

Squared row norms are translated with ``‖u − δ‖² = ‖u‖² − 2uᵀδ + ‖δ‖²``; expanding the
products of two such terms is why ``Σ α u``, ``Σ α v``, ``Σ β u``, ``Σ β v`` (α = ‖u‖²,
β = ‖v‖²) are kept as well.

Memory: :meth:`Moments.update` folds a chunk in row blocks of at most
:data:`BLOCK_ELEMENTS` values per input, so it never holds more than one converted,
shifted block (~16 MB in float64) whatever the chunk size; an in-memory metric call on
a whole matrix costs the moments plus that block, not a float64 copy of the input.
With ``products="input"`` a float32 block is shifted and multiplied in float32 (one
rounding of ``x − s`` to float32, then single-precision dot products over at most one
block of rows) and only the block sums are accumulated in float64 (single-precision
BLAS; no float64 block at all), within 1e-6 of the float64 products for the one metric
that requests it, in-memory linear (biased) CKA
(tests/plugins/similarity/test_metric_memory.py). Every other block (float64 input,
``products="float64"``) is converted and multiplied in float64.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Accumulator
from interlingua.core.result import MetricResult
from interlingua.core.validation import check_paired

__all__ = ["BLOCK_ELEMENTS", "Centered", "Moments", "MomentsAccumulator",
           "merge_requirements", "share_moments"]

#: Values per input of one block that :meth:`Moments.update` converts at a time (its
#: temporaries stay ~16 MB in float64 whatever the chunk size).
BLOCK_ELEMENTS = 1 << 21


@dataclass
class Centered:
    """Moments about the global means (what the metric formulas use).

    ``cxx``, ``cyy``, ``cxy`` are *scatter* matrices (sums, not divided by n); in
    ``cross="diag"`` mode they are the diagonals only. ``ab``, ``aa``, ``bb`` are
    ``Σ a_i b_i``, ``Σ a_i²``, ``Σ b_i²`` with ``a_i = ‖x_i − x̄‖²`` (``None`` unless
    fourth-order moments were requested).
    """

    n: int
    mean_x: np.ndarray
    mean_y: np.ndarray
    cxx: np.ndarray
    cyy: np.ndarray
    cxy: np.ndarray
    diag: bool
    ab: float | None = None
    aa: float | None = None
    bb: float | None = None
    min_x: np.ndarray | None = None
    max_x: np.ndarray | None = None
    min_y: np.ndarray | None = None
    max_y: np.ndarray | None = None

    @property
    def var_x(self) -> np.ndarray:
        """Per-column scatter of X (Σ (x − x̄)²)."""
        return self.cxx if self.diag else np.diagonal(self.cxx).copy()

    @property
    def var_y(self) -> np.ndarray:
        return self.cyy if self.diag else np.diagonal(self.cyy).copy()

    @property
    def cov_xy_diag(self) -> np.ndarray:
        return self.cxy if self.diag else np.diagonal(self.cxy).copy()


class Moments:
    """Mergeable float64 moments of paired chunks ``(x, y)``.

    Parameters
    ----------
    cross : {"full", "diag"}
        ``"full"`` keeps ``XᵀX``, ``YᵀY``, ``XᵀY``; ``"diag"`` keeps only per-column
        sums of squares and per-column cross products (needs p == q, O(d) memory).
    fourth : bool
        Also keep the fourth-order terms needed by debiased CKA (needs ``full``).
    extrema : bool
        Also keep per-column minima and maxima (exact constant-column detection).
    products : {"float64", "input"}
        ``"input"`` multiplies float32 blocks in float32 (block sums accumulated in
        float64); ``"float64"`` converts every block to float64 first.
    """

    def __init__(self, cross: str = "full", fourth: bool = False, extrema: bool = False,
                 products: str = "float64"):
        if cross not in ("full", "diag"):
            raise ValueError(f"cross must be 'full' or 'diag', got {cross!r}")
        if fourth and cross != "full":
            raise ValueError("fourth-order moments need cross='full'")
        if products not in ("float64", "input"):
            raise ValueError(f"products must be 'float64' or 'input', got {products!r}")
        self.cross = cross
        self.fourth = fourth
        self.extrema = extrema
        self.products = products
        self.n = 0
        self.p: int | None = None
        self.q: int | None = None

    # -- accumulation ------------------------------------------------------------------
    def _init(self, x: np.ndarray, y: np.ndarray) -> None:
        p, q = x.shape[1], y.shape[1]
        if self.cross == "diag" and p != q:
            raise InputError(
                f"X and Y must have the same number of columns (neurons), got {p} and {q}"
            )
        self.p, self.q = p, q
        # Shift = mean of the first chunk: later centring then cancels little. The
        # float64 reduction is buffered (no full-size copy of a float32 chunk).
        self.shift_x = x.mean(axis=0, dtype=np.float64)
        self.shift_y = y.mean(axis=0, dtype=np.float64)
        if self._single(x, y):
            # A float32-representable shift lets float32 blocks be shifted in float32.
            self.shift_x = self.shift_x.astype(np.float32).astype(np.float64)
            self.shift_y = self.shift_y.astype(np.float32).astype(np.float64)
        self.su = np.zeros(p)
        self.sv = np.zeros(q)
        if self.cross == "full":
            self.suu = np.zeros((p, p))
            self.svv = np.zeros((q, q))
            self.suv = np.zeros((p, q))
        else:
            self.suu = np.zeros(p)
            self.svv = np.zeros(q)
            self.suv = np.zeros(p)
        if self.fourth:
            self.aa = 0.0
            self.bb = 0.0
            self.ab = 0.0
            self.au = np.zeros(p)
            self.av = np.zeros(q)
            self.bu = np.zeros(p)
            self.bv = np.zeros(q)
        if self.extrema:
            self.min_x = np.full(p, np.inf)
            self.max_x = np.full(p, -np.inf)
            self.min_y = np.full(q, np.inf)
            self.max_y = np.full(q, -np.inf)

    def _check_shapes(self, x: np.ndarray, y: np.ndarray) -> None:
        if x.shape[1] != self.p or y.shape[1] != self.q:
            raise InputError(
                f"chunk has {x.shape[1]} and {y.shape[1]} columns but earlier chunks had "
                f"{self.p} and {self.q}"
            )

    def _single(self, x: np.ndarray, y: np.ndarray) -> bool:
        """Whether a block of ``x``, ``y`` is multiplied in float32."""
        return self.products == "input" and x.dtype == np.float32 and y.dtype == np.float32

    def update(self, x: np.ndarray, y: np.ndarray) -> Moments:
        """Fold in one row-aligned chunk (any numeric dtype; accumulated in float64),
        in row blocks of at most :data:`BLOCK_ELEMENTS` values per input."""
        if x.shape[0] != y.shape[0]:
            raise InputError(
                f"chunk has {x.shape[0]} rows of X but {y.shape[0]} rows of Y"
            )
        if x.shape[0] == 0:
            return self
        if self.p is None:
            self._init(x, y)
        self._check_shapes(x, y)
        rows = max(1, BLOCK_ELEMENTS // max(self.p, self.q, 1))
        for start in range(0, x.shape[0], rows):
            self._fold(x[start:start + rows], y[start:start + rows])
        if self.extrema:
            np.minimum(self.min_x, x.min(axis=0), out=self.min_x)
            np.maximum(self.max_x, x.max(axis=0), out=self.max_x)
            np.minimum(self.min_y, y.min(axis=0), out=self.min_y)
            np.maximum(self.max_y, y.max(axis=0), out=self.max_y)
        return self

    def _shifted(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One block minus the shifts: float32 when it is multiplied in float32 (and
        the shifts are float32 numbers, as :meth:`_init` makes them then), else a
        float64 copy shifted in place."""
        if self._single(x, y):
            sx, sy = self.shift_x.astype(np.float32), self.shift_y.astype(np.float32)
            if np.array_equal(sx, self.shift_x) and np.array_equal(sy, self.shift_y):
                return x - sx, y - sy
        u = np.array(x, dtype=np.float64, copy=True)
        u -= self.shift_x
        v = np.array(y, dtype=np.float64, copy=True)
        v -= self.shift_y
        return u, v

    def _fold(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add the sums of one block (products in the block's dtype, sums in float64)."""
        u, v = self._shifted(x, y)
        self.n += u.shape[0]
        self.su += u.sum(axis=0, dtype=np.float64)
        self.sv += v.sum(axis=0, dtype=np.float64)
        if self.cross == "full":
            self.suu += u.T @ u
            self.svv += v.T @ v
            self.suv += u.T @ v
        else:
            self.suu += np.einsum("ij,ij->j", u, u)
            self.svv += np.einsum("ij,ij->j", v, v)
            self.suv += np.einsum("ij,ij->j", u, v)
        if self.fourth:
            alpha = np.einsum("ij,ij->i", u, u)
            beta = np.einsum("ij,ij->i", v, v)
            self.aa += float(alpha @ alpha)
            self.bb += float(beta @ beta)
            self.ab += float(alpha @ beta)
            self.au += alpha @ u
            self.av += alpha @ v
            self.bu += beta @ u
            self.bv += beta @ v

    # -- shifting and merging ----------------------------------------------------------
    def _moved(self, new_x: np.ndarray, new_y: np.ndarray) -> dict[str, Any]:
        """The sums this accumulator would hold had it used shifts ``new_x``, ``new_y``.

        With ``u' = u − δ`` (δ = new − old shift) every sum is a polynomial in the old
        sums and δ; the identities are spelled out term by term below.
        """
        n = self.n
        d = new_x - self.shift_x  # δ
        e = new_y - self.shift_y  # ε
        su, sv = self.su, self.sv
        out: dict[str, Any] = {"su": su - n * d, "sv": sv - n * e}
        if self.cross == "full":
            out["suu"] = self.suu - np.outer(su, d) - np.outer(d, su) + n * np.outer(d, d)
            out["svv"] = self.svv - np.outer(sv, e) - np.outer(e, sv) + n * np.outer(e, e)
            out["suv"] = self.suv - np.outer(su, e) - np.outer(d, sv) + n * np.outer(d, e)
        else:
            out["suu"] = self.suu - 2 * su * d + n * d * d
            out["svv"] = self.svv - 2 * sv * e + n * e * e
            out["suv"] = self.suv - su * e - d * sv + n * d * e
        if self.fourth:
            dd, ee = float(d @ d), float(e @ e)
            sud, sve = float(su @ d), float(sv @ e)
            a1 = float(np.trace(self.suu))  # Σ α
            b1 = float(np.trace(self.svv))  # Σ β
            suu_d = self.suu @ d
            svv_e = self.svv @ e
            suv_e = self.suv @ e
            suvt_d = self.suv.T @ d
            # Σ α' = Σ (α − 2uᵀδ + ‖δ‖²), likewise β'.
            # Σ α'u' with u' = u − δ:
            out["au"] = self.au - a1 * d - 2 * suu_d + 2 * sud * d + dd * su - n * dd * d
            out["av"] = self.av - a1 * e - 2 * suvt_d + 2 * sud * e + dd * sv - n * dd * e
            out["bu"] = self.bu - b1 * d - 2 * suv_e + 2 * sve * d + ee * su - n * ee * d
            out["bv"] = self.bv - b1 * e - 2 * svv_e + 2 * sve * e + ee * sv - n * ee * e
            out["aa"] = (
                self.aa + 4 * float(d @ suu_d) + n * dd * dd - 4 * float(self.au @ d)
                + 2 * dd * a1 - 4 * dd * sud
            )
            out["bb"] = (
                self.bb + 4 * float(e @ svv_e) + n * ee * ee - 4 * float(self.bv @ e)
                + 2 * ee * b1 - 4 * ee * sve
            )
            out["ab"] = (
                self.ab - 2 * float(self.av @ e) + ee * a1 - 2 * float(self.bu @ d)
                + 4 * float(d @ suv_e) - 2 * ee * sud + dd * b1 - 2 * dd * sve + n * dd * ee
            )
        return out

    _SUMS = ("su", "sv", "suu", "svv", "suv")
    _FOURTH = ("au", "av", "bu", "bv", "aa", "bb", "ab")

    def merge(self, other: Moments) -> Moments:
        """Fold in the moments of other rows (possibly computed elsewhere)."""
        if not isinstance(other, Moments):
            raise TypeError(f"cannot merge {type(other).__name__} into Moments")
        if (other.cross, other.fourth, other.extrema) != (self.cross, self.fourth, self.extrema):
            raise ValueError("cannot merge moments with different configurations")
        if other.n == 0:
            return self
        if self.n == 0:
            products = self.products
            self.__dict__.update(copy.deepcopy(other.__dict__))
            self.products = products
            return self
        if (other.p, other.q) != (self.p, self.q):
            raise InputError(
                f"cannot merge moments of {other.p}×{other.q} columns into {self.p}×{self.q}"
            )
        moved = other._moved(self.shift_x, self.shift_y)
        for key in self._SUMS + (self._FOURTH if self.fourth else ()):
            setattr(self, key, getattr(self, key) + moved[key])
        self.n += other.n
        if self.extrema:
            np.minimum(self.min_x, other.min_x, out=self.min_x)
            np.maximum(self.max_x, other.max_x, out=self.max_x)
            np.minimum(self.min_y, other.min_y, out=self.min_y)
            np.maximum(self.max_y, other.max_y, out=self.max_y)
        return self

    # -- final statistics ----------------------------------------------------------------
    def centered(self) -> Centered:
        """Moments about the global means (``n`` must be positive)."""
        if self.n == 0:
            raise InputError("no rows were seen")
        mean_u = self.su / self.n
        mean_v = self.sv / self.n
        moved = self._moved(self.shift_x + mean_u, self.shift_y + mean_v)
        if self.cross == "full":
            # Symmetrise away rounding so eigen-solvers see exactly symmetric input.
            cxx = (moved["suu"] + moved["suu"].T) / 2
            cyy = (moved["svv"] + moved["svv"].T) / 2
        else:
            cxx, cyy = moved["suu"], moved["svv"]
        out = Centered(
            n=self.n,
            mean_x=self.shift_x + mean_u,
            mean_y=self.shift_y + mean_v,
            cxx=cxx,
            cyy=cyy,
            cxy=moved["suv"],
            diag=self.cross == "diag",
        )
        if self.fourth:
            out.ab, out.aa, out.bb = moved["ab"], moved["aa"], moved["bb"]
        if self.extrema:
            out.min_x, out.max_x = self.min_x.copy(), self.max_x.copy()
            out.min_y, out.max_y = self.min_y.copy(), self.max_y.copy()
        return out


def merge_requirements(*reqs: dict[str, Any]) -> dict[str, Any]:
    """The smallest :class:`Moments` configuration satisfying all ``reqs``."""
    full = any(r.get("cross", "full") == "full" for r in reqs)
    # float32 products only if every sharing metric tolerates them.
    single = bool(reqs) and all(r.get("products", "float64") == "input" for r in reqs)
    return {
        "cross": "full" if full else "diag",
        "fourth": any(r.get("fourth", False) for r in reqs),
        "extrema": any(r.get("extrema", False) for r in reqs),
        "products": "input" if single else "float64",
    }


class MomentsAccumulator(Accumulator):
    """Streaming accumulator of a metric computed from :class:`Moments`.

    ``requires`` is the moments configuration the metric needs; ``finish`` maps the
    accumulated moments to the metric's :class:`MetricResult`. Several metrics can
    share one pass over the data through :func:`share_moments` (what
    ``compare_layers`` does), or by building one :class:`Moments` satisfying
    :func:`merge_requirements` and calling :meth:`result_from` of each.
    """

    def __init__(
        self,
        requires: dict[str, Any],
        finish: Callable[[Moments], MetricResult],
        *,
        same_dim: bool = False,
    ) -> None:
        self.requires = dict(requires)
        self.finish = finish
        self.same_dim = same_dim
        self.moments = Moments(**self.requires)
        #: False for the followers of :func:`share_moments`: they read the moments
        #: their leader folds the chunks into.
        self.leads = True

    def update(self, x: np.ndarray, y: np.ndarray) -> MomentsAccumulator:
        x, y = check_paired(x, y, min_rows=1, same_dim=self.same_dim, dtype=None)
        if self.leads:
            self.moments.update(x, y)
        return self

    def merge(self, other: Accumulator) -> MomentsAccumulator:
        if not isinstance(other, MomentsAccumulator):
            raise TypeError(f"cannot merge {type(other).__name__} into MomentsAccumulator")
        if self.leads != other.leads:
            raise ValueError("cannot merge a shared-moments follower with a leader")
        if self.leads:
            self.moments.merge(other.moments)
        return self

    def result(self) -> MetricResult:
        return self.finish(self.moments)

    def result_from(self, moments: Moments) -> MetricResult:
        """The metric computed from shared moments (a superset configuration)."""
        return self.finish(moments)


def share_moments(accumulators: Iterable[Any]) -> int:
    """Let the :class:`MomentsAccumulator` s among ``accumulators`` share one pass.

    An optimisation behind the public ``update`` / ``merge`` / ``result`` interface:
    the first of them (the *leader*) folds each chunk into one :class:`Moments`
    configured for all (:func:`merge_requirements`); the others (*followers*) hold the
    same object, so their ``update`` and ``merge`` only validate, and their
    ``result`` reads the shared moments. Feed every accumulator the same chunks and
    merge them pairwise with accumulators shared the same way (a pickled group keeps
    the sharing). Other accumulators are left alone.

    Parameters
    ----------
    accumulators : iterable
        Fresh accumulators (no rows seen yet), e.g. one per metric of a comparison.

    Returns
    -------
    int
        How many accumulators now share one :class:`Moments` (0 when fewer than two
        could).
    """
    group = [acc for acc in accumulators if isinstance(acc, MomentsAccumulator)]
    if len(group) < 2:
        return 0
    if any(acc.moments.n or not acc.leads for acc in group):
        raise ValueError("share_moments needs fresh accumulators")
    shared = Moments(**merge_requirements(*(acc.requires for acc in group)))
    for i, acc in enumerate(group):
        acc.moments, acc.leads = shared, i == 0
    return len(group)
