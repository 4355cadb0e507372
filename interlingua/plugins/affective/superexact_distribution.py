"""Exact null distribution of the size of a multi-set intersection (Wang et al. 2015),
the core of the super exact test (DESIGN.md, "Super exact test"; seed 003 §4.3.4).

For ``m`` sets drawn independently and uniformly at random from ``N`` elements with
sizes ``n_1 <= ... <= n_m``, the intersection size is a Markov chain::

    I_1 = n_1,    I_{k+1} | I_k = a  ~  Hypergeometric(N, a, n_{k+1}),    X = I_m

:class:`IntersectionDistribution` propagates the whole distribution of ``I_k`` in log
space (so tail probabilities far below 1e-308 keep a finite natural logarithm), caching
distributions by the multiset of set sizes and building them from their prefixes;
:func:`hypergeom_log_rows` gives the transition rows with near machine-precision tails.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from interlingua.core.errors import InputError

#: Transition matrices up to this many entries are cached; larger ones are streamed.
_MAX_CACHED_ENTRIES = 1 << 21


def _logsumexp(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """``log(sum(exp(x)))`` along ``axis``; all ``-inf`` slices give ``-inf``.

    A lean version of :func:`scipy.special.logsumexp` (same max-shift algorithm):
    the chain calls it thousands of times on small arrays, where scipy's
    array-API dispatch overhead dominates.
    """
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out.reshape(()) if axis is None else np.squeeze(out, axis=axis)


def hypergeom_log_rows(N: int, successes: np.ndarray, n: int, kmax: int) -> np.ndarray:
    """Log pmf rows of the overlap of an ``a``-subset and an independent ``n``-subset.

    Row ``r`` is ``log P(x)`` for ``x = 0..kmax`` with ``a = successes[r]``, where
    ``P(x) = C(a, x) C(N - a, n - x) / C(N, n)``; ``-inf`` outside the support.

    Notes
    -----
    Differences of large log-factorials lose ~1e-12 relative accuracy to
    cancellation. Instead each row is built outwards from its mode with the exact
    term ratio ``P(x+1)/P(x) = (a-x)(n-x) / ((x+1)(N-a-n+x+1))`` (small logs, summed
    from the mode so partial sums stay small) and normalised with one ``logsumexp``,
    which keeps relative errors of tail probabilities near machine precision.
    """
    a = np.asarray(successes, dtype=np.int64)[:, None]
    x = np.arange(kmax + 1, dtype=np.int64)[None, :]
    lo = np.maximum(0, n - (N - a))
    hi = np.minimum(a, n)
    mode = np.clip(((n + 1) * (a + 1)) // (N + 2), lo, hi)
    step = (x >= lo) & (x < hi)  # ratio P(x+1)/P(x) defined
    num = ((a - x) * (n - x)).astype(np.float64)
    den = ((x + 1) * (N - a - n + x + 1)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(step, np.log(np.where(step, num / den, 1.0)), 0.0)
    # Forward from the mode: w[x] = sum_{j=mode}^{x-1} log ratio_j for x > mode.
    fwd = np.cumsum(np.where(x >= mode, ratio, 0.0), axis=1)
    # Backward: w[x] = -sum_{j=x}^{mode-1} log ratio_j for x < mode.
    back = np.where(x < mode, ratio, 0.0)
    back = np.cumsum(back[:, ::-1], axis=1)[:, ::-1]
    w = np.zeros(np.broadcast_shapes(a.shape, x.shape))
    shifted = np.concatenate([np.zeros((w.shape[0], 1)), fwd[:, :-1]], axis=1)
    w = np.where(x > mode, shifted, w)
    w = np.where(x < mode, -back, w)
    w = np.where((x >= lo) & (x <= hi), w, -np.inf)
    return w - _logsumexp(w, axis=1)[:, None]


class IntersectionDistribution:
    """Exact null distributions of multi-set intersection sizes for one background.

    Parameters
    ----------
    background : int
        Number of elements ``N`` the sets are drawn from.

    Notes
    -----
    ``log_pmf(sizes)`` costs one chain step of ``O(n_min^2)`` per size tuple not seen
    before (prefixes are cached), so equal-sized sets share almost all work.
    """

    def __init__(self, background: int) -> None:
        self.N = int(background)
        self._pmf: dict[tuple[int, ...], np.ndarray] = {}
        self._trans: dict[tuple[int, int, int, int], np.ndarray] = {}
        self._sf: dict[tuple[tuple[int, ...], int], float] = {}

    def _transition(self, lo: int, hi: int, kmax: int, n: int) -> np.ndarray:
        """log P(I_{k+1} = b | I_k = a) for a in lo..hi (rows), b in 0..kmax (columns)."""
        key = (lo, hi, kmax, n)
        T = self._trans.get(key)
        if T is None:
            T = hypergeom_log_rows(self.N, np.arange(lo, hi + 1), n, kmax)
            self._trans[key] = T
        return T

    def _step(self, dist: np.ndarray, lo: int, hi: int, kmax: int, n: int) -> np.ndarray:
        """One chain step: new[b] = log sum_a exp(dist[a] + log T[a, b])."""
        width = kmax + 1
        if (hi - lo + 1) * width <= _MAX_CACHED_ENTRIES:
            T = self._transition(lo, hi, kmax, n)
            return _logsumexp(dist[lo : hi + 1, None] + T, axis=0)
        # Large sets: stream blocks of rows so memory stays bounded (O(n_min^2) time).
        rows = max(1, _MAX_CACHED_ENTRIES // width)
        acc = np.full(width, -np.inf)
        for a0 in range(lo, hi + 1, rows):
            a1 = min(hi + 1, a0 + rows)
            T = hypergeom_log_rows(self.N, np.arange(a0, a1), n, kmax)
            acc = np.logaddexp(acc, _logsumexp(dist[a0:a1, None] + T, axis=0))
        return acc

    def log_pmf(self, sizes: Iterable[int]) -> np.ndarray:
        """Log pmf of the intersection size over ``0..min(sizes)``.

        Parameters
        ----------
        sizes : iterable of int
            Set sizes (any order; sorted internally).
        """
        key = tuple(sorted(int(s) for s in sizes))
        if not key:
            raise InputError("log_pmf needs at least one set size")
        if key[0] < 0 or key[-1] > self.N:
            raise InputError(f"set sizes must be in [0, {self.N}], got {list(key)}")
        # Find the longest cached prefix, then walk forward one set at a time.
        start = len(key)
        while start > 1 and key[:start] not in self._pmf:
            start -= 1
        if start == 1 and key[:1] not in self._pmf:
            first = np.full(key[0] + 1, -np.inf)
            first[key[0]] = 0.0  # I_1 = n_1 with probability one
            self._pmf[key[:1]] = first
        dist = self._pmf[key[:start]]
        for k in range(start, len(key)):
            # Only states the chain can be in need a row (one row after the first set);
            # the support of I_k is a contiguous range.
            support = np.flatnonzero(np.isfinite(dist))
            lo, hi = int(support[0]), int(support[-1])
            dist = self._step(dist, lo, hi, key[0], key[k])
            self._pmf[key[: k + 1]] = dist
        return dist

    def log_sf(self, sizes: Iterable[int], observed: int) -> float:
        """Natural log of ``P(X >= observed)``; exactly 0 for ``observed <= 0``."""
        key = tuple(sorted(int(s) for s in sizes))
        observed = int(observed)
        if observed <= 0:
            return 0.0
        if observed > key[0]:
            return -math.inf
        cached = self._sf.get((key, observed))
        if cached is None:
            lp = self.log_pmf(key)
            # Rounding can push a sum of probabilities a hair above 1.
            cached = min(float(_logsumexp(lp[observed:])), 0.0)
            self._sf[(key, observed)] = cached
        return cached

    def expected(self, sizes: Iterable[int]) -> float:
        """Expected intersection size ``N * prod(n_i / N)``."""
        logs = [math.log(s / self.N) if s > 0 else -math.inf for s in sizes]
        return math.exp(math.log(self.N) + sum(logs)) if self.N > 0 else 0.0


__all__ = ["IntersectionDistribution", "hypergeom_log_rows"]
