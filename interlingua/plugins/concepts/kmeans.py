"""K-means concept discovery: ``kmeans`` and ``minibatch-kmeans`` (seed 000 §2.1, §3.2).

Seed 000 clusters the contextual representations of word occurrences of one layer
with K-means, K = 600 (footnote 3: Hawasly et al. 2024 showed K-means to be a viable
alternative to ConceptX's agglomerative clustering; footnote 4: K between 600 and
1400 gives consistent patterns).

* ``kmeans`` is exact k-means (Lloyd iterations on all points in memory; float32 input
  stays float32, so 1M x 768 occurrences need ~3 GB). Greedy k-means++ seeds it on a
  seeded random sample of ``init_size`` rows (default min(n, 100 K)).

  - float64 input: scikit-learn's ``kmeans_plusplus`` on the sample and
    :class:`sklearn.cluster.KMeans` from there, so for float64 input with
    n <= init_size the result is exactly scikit-learn's
    ``KMeans(n_init=n_init, random_state=random_state)``.
  - float32 input (always the case for ``fit_store``):
    :func:`~interlingua.plugins.concepts.kmeans_seeding.greedy_kmeans_plusplus`, the
    same algorithm and random stream with float32 distance products and float64
    potentials (2.7x faster than scikit-learn's float64 seeding at K = 600 on
    60 K x 768, see ``benchmarks/concepts.py --seeding``); its centres are those of
    ``kmeans_plusplus`` on a float64 copy of the sample (how float32 input was seeded
    until issue 15, see CHANGELOG) unless float32 rounding changes a draw, after which
    the two sequences differ (equal quality, not equal labels). Then, with
    ``algorithm="lloyd"`` (the default),
    :func:`~interlingua.plugins.concepts.kmeans_lloyd.kmeans_lloyd`: Lloyd iterations
    pruned by Hamerly's (2010) triangle-inequality bounds, which give scikit-learn's
    ``KMeans(algorithm="lloyd", init=centres, n_init=1)`` result (same assignments
    every iteration up to float32 rounding ties, same stopping rule, same final
    E-step and empty-cluster relocation; centre sums and inertia in float64) while
    computing the distances of only the points whose bounds fail (at 1M x 768,
    K = 600: 11 % of them over the run, 0.8 s per iteration against scikit-learn's
    5.1 s; ``benchmarks/concepts.py --lloyd``). It reads ``X`` without centring it in
    place or copying it.
    ``algorithm="elkan"`` runs scikit-learn's Elkan ``KMeans`` from the same centres.
* ``minibatch-kmeans`` wraps :class:`sklearn.cluster.MiniBatchKMeans`. ``fit(X)`` is
  scikit-learn's in-memory fit (float32 input is seeded like the streaming path);
  :meth:`MiniBatchKMeansDiscoverer.fit_store` streams a store layer block by block
  through ``partial_fit`` so the points never need to fit in memory.

Streaming algorithm (``fit_store``), fully determined by ``random_state``,
``batch_size`` and ``block_rows``: (1) draw ``init_size`` rows uniformly without
replacement and seed the centres with k-means++ on them (best of ``n_init`` tries by
inertia on that sample); (2) for each of ``stream_epochs`` passes, visit contiguous
blocks of ``block_rows`` rows in a seeded random order, shuffle each block and feed it
in mini-batches of ``batch_size`` rows to ``partial_fit`` (the init sample itself
is the very first mini-batch, because ``partial_fit`` needs >= K rows to start);
(3) assign every row to its nearest final centre. Step (3) does not depend on any
chunk size. Steps (1)-(2) are *not* the same mini-batch sequence as
scikit-learn's in-memory ``fit`` (which samples mini-batches with replacement from
all rows and stops early); results agree in quality, not label for label.
``block_rows`` is part of the algorithm (the shuffling granularity), not just an I/O
setting.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from interlingua.core.interfaces import ConceptDiscoverer, check_is_fitted
from interlingua.core.params import Param
from interlingua.plugins.concepts.clustering import (
    check_finite_block,
    check_n_clusters,
    check_points,
    layer_blocks,
    layer_size,
    load_layer,
    read_rows,
)
from interlingua.plugins.concepts.kmeans_lloyd import column_mean_variance, kmeans_lloyd
from interlingua.plugins.concepts.kmeans_seeding import greedy_kmeans_plusplus
from interlingua.registry import hookimpl


class _KMeansBase(ConceptDiscoverer):
    """Shared prediction / streaming helpers of both k-means discoverers."""

    min_rows: ClassVar[int] = 2

    def predict(self, X: Any) -> np.ndarray:
        """Nearest fitted centre of each row of ``X``."""
        check_is_fitted(self)
        X = check_points(X, min_rows=1)
        if X.shape[1] != self.cluster_centers_.shape[1]:
            from interlingua.core.errors import InputError

            raise InputError(
                f"X has {X.shape[1]} columns but the centres have {self.cluster_centers_.shape[1]}"
            )
        return self._estimator_.predict(X).astype(np.int64)

    def _assign_store(
        self, layer: Any, index: np.ndarray | None, rows: int
    ) -> tuple[np.ndarray, float]:
        """Labels and inertia (float64 sum of squared distances) over a store layer."""
        n = layer_size(layer, index)
        labels = np.empty(n, dtype=np.int64)
        inertia = 0.0
        centers = self.cluster_centers_
        c_sq = np.einsum("ij,ij->i", centers, centers, dtype=np.float64)
        for part in layer_blocks(n, rows, None):
            block = read_rows(layer, index, part)
            check_finite_block(block, f"layer rows {part.start}-{part.stop - 1}")
            # Sub-blocks bound the float64 temporaries (a few x 8192 x d x 8 bytes).
            for sub in range(0, block.shape[0], 8192):
                x = block[sub:sub + 8192]
                lab = self._estimator_.predict(x.astype(centers.dtype, copy=False))
                labels[part.start + sub:part.start + sub + x.shape[0]] = lab
                x64 = x.astype(np.float64)
                d2 = np.einsum("ij,ij->i", x64, x64)
                d2 -= 2 * np.einsum("ij,ij->i", x64, centers[lab].astype(np.float64))
                d2 += c_sq[lab]
                inertia += float(np.maximum(d2, 0.0).sum())
        return labels, inertia


class KMeansDiscoverer(_KMeansBase):
    """Exact k-means over word-occurrence representations (see the module docstring)."""

    name: ClassVar[str] = "kmeans"
    summary: ClassVar[str] = "K-means latent concepts (exact Lloyd k-means; seed 000 §3.2)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("n_clusters", 600, "number of concepts K (seed 000 uses 600)", int),
        Param("n_init", 1, "k-means++ restarts; the best inertia is kept (explicit)", int),
        Param("max_iter", 300, "maximum Lloyd iterations per restart", int),
        Param("tol", 1e-4, "relative centre-shift tolerance of convergence", float),
        Param("algorithm", "lloyd",
              "lloyd (float32: pruned exact Lloyd, float64: scikit-learn's) or elkan "
              "(scikit-learn's)", str, ("lloyd", "elkan")),
        Param("init_size", None,
              "rows of the seeded random sample k-means++ runs on (None = min(n, 100 K))",
              int),
        Param("random_state", 0, "seed (results are reproducible for a given seed)", int),
    )

    def _make(self, init: Any = "k-means++", n_init: int | None = None,
              copy_x: bool = True) -> Any:
        from sklearn.cluster import KMeans

        # copy_x=False is the memory-bound path (fit_store): also avoid the full-size
        # temporary of scikit-learn's tolerance computation.
        cls = KMeans if copy_x else _low_memory_kmeans()
        return cls(
            n_clusters=self.n_clusters,
            init=init,
            n_init=self.n_init if n_init is None else n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            algorithm=self.algorithm,
            random_state=self.random_state,
            copy_x=copy_x,
        )

    def _fit_array(self, X: np.ndarray, copy_x: bool) -> KMeansDiscoverer:
        from interlingua.core.errors import InputError

        if self.n_init < 1:
            raise InputError(f"n_init must be >= 1, got {self.n_init}")
        n = X.shape[0]
        size = self.init_size if self.init_size is not None else 100 * self.n_clusters
        if size >= n and X.dtype == np.float64:
            est = self._make(copy_x=copy_x).fit(X)  # exactly scikit-learn's KMeans
        else:
            if size < self.n_clusters:
                raise InputError(
                    f"init_size ({size}) must be >= n_clusters ({self.n_clusters})"
                )
            # k-means++ seeding costs O(n K log K d), and scikit-learn runs it through a
            # slow chunked float64 up-cast for float32 data (hours at 1M x 768, K = 600).
            # We seed on a random sample of init_size rows (all rows when
            # n <= init_size), then run Lloyd iterations on all points. All restarts
            # are seeded first: with copy_x=False, scikit-learn's KMeans (elkan, or
            # float64) centres X in place and its float32 round trip need not restore X
            # (or a sample that is X) bit for bit.
            rng = np.random.default_rng(self.random_state)
            sample = (X if size >= n
                      else X[np.sort(rng.choice(n, size=size, replace=False))])
            inits = [_kmeans_plusplus(sample, self.n_clusters, int(rng.integers(2**31 - 1)))
                     for _ in range(self.n_init)]
            del sample
            pruned = X.dtype == np.float32 and self.algorithm == "lloyd"
            est = None
            for centers in inits:
                if pruned:  # scikit-learn's Lloyd result, Hamerly-pruned (kmeans_lloyd)
                    cand = kmeans_lloyd(X, centers, max_iter=self.max_iter, tol=self.tol)
                else:
                    cand = self._make(init=centers, n_init=1, copy_x=copy_x).fit(X)
                if est is None or cand.inertia_ < est.inertia_:
                    est = cand
        self._estimator_ = est
        self.labels_ = est.labels_.astype(np.int64)
        self.cluster_centers_ = est.cluster_centers_
        self.inertia_ = float(est.inertia_)
        self.n_iter_ = int(est.n_iter_)
        return self

    def fit(self, X: Any) -> KMeansDiscoverer:
        """Cluster the rows of ``X`` (occurrences x neurons)."""
        X = check_points(X, self.n_clusters, min_rows=self.min_rows)
        return self._fit_array(X, copy_x=True)

    def fit_store(
        self, layer: Any, index: Any = None, *, rows: int = 65536
    ) -> KMeansDiscoverer:
        """Cluster (selected rows of) a store layer.

        Exact k-means needs all points at once: they are read chunk by chunk into one
        float32 array (n x d x 4 bytes). The pruned Lloyd iterations (the default
        ``algorithm="lloyd"``) only read it; scikit-learn's Elkan variant centres it in
        place (``copy_x=False``) instead of copying. Use ``minibatch-kmeans`` when even one
        copy is too big.
        """
        index = None if index is None else np.asarray(index, dtype=np.int64)
        check_n_clusters(self.n_clusters, layer_size(layer, index))
        X = load_layer(layer, index, rows)  # validated block by block
        return self._fit_array(X, copy_x=False)


class MiniBatchKMeansDiscoverer(_KMeansBase):
    """Mini-batch k-means (scikit-learn ``MiniBatchKMeans``), streamable from a store."""

    name: ClassVar[str] = "minibatch-kmeans"
    summary: ClassVar[str] = (
        "Mini-batch K-means latent concepts for millions of occurrences (streams a store)"
    )
    params: ClassVar[tuple[Param, ...]] = (
        Param("n_clusters", 600, "number of concepts K (seed 000 uses 600)", int),
        Param("batch_size", 4096, "rows per mini-batch (use well above K)", int),
        Param("n_init", 3, "k-means++ initialisations tried on the init sample (explicit)", int),
        Param("max_iter", 100, "in-memory fit: maximum passes over the data", int),
        Param("max_no_improvement", 10, "in-memory fit: early-stopping patience", int),
        Param("reassignment_ratio", 0.01, "reassign centres of clusters this small", float),
        Param("init_size", None, "rows sampled for initialisation (default 3 x batch_size)",
              int),
        Param("stream_epochs", 1, "streaming fit: passes over the store layer", int),
        Param("block_rows", 65536, "streaming fit: rows per shuffled block", int),
        Param("random_state", 0, "seed (results are reproducible for a given seed)", int),
    )

    def _check(self) -> None:
        from interlingua.core.errors import InputError

        for key in ("batch_size", "n_init", "max_iter", "stream_epochs", "block_rows"):
            if getattr(self, key) < 1:
                raise InputError(f"{key} must be >= 1, got {getattr(self, key)}")

    def _init_size(self, n: int) -> int:
        size = self.init_size if self.init_size is not None else 3 * self.batch_size
        return int(min(n, max(size, self.n_clusters)))

    def _make(self, init: Any = "k-means++", n_init: int | None = None,
              compute_labels: bool = True) -> Any:
        from sklearn.cluster import MiniBatchKMeans

        return MiniBatchKMeans(
            compute_labels=compute_labels,
            n_clusters=self.n_clusters,
            init=init,
            n_init=self.n_init if n_init is None else n_init,
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            max_no_improvement=self.max_no_improvement,
            reassignment_ratio=self.reassignment_ratio,
            init_size=self.init_size,
            random_state=self.random_state,
        )

    def fit(self, X: Any) -> MiniBatchKMeansDiscoverer:
        """In-memory mini-batch k-means on the rows of ``X``."""
        self._check()
        X = check_points(X, self.n_clusters, min_rows=self.min_rows)
        if X.dtype == np.float64:
            est = self._make().fit(X)  # exactly scikit-learn's MiniBatchKMeans
        else:
            # float32: seed in float64 on a sample (see _initial_centers), because
            # scikit-learn's k-means++ up-casts float32 data chunk by chunk (slow).
            init, _ = self._initial_centers(X, None, np.random.default_rng(self.random_state))
            est = self._make(init=init, n_init=1).fit(X)
        self._estimator_ = est
        self.labels_ = est.labels_.astype(np.int64)
        self.cluster_centers_ = est.cluster_centers_
        self.inertia_ = float(est.inertia_)
        self.n_iter_ = int(est.n_iter_)
        self.n_steps_ = int(est.n_steps_)
        return self

    def _initial_centers(self, layer: Any, index: np.ndarray | None,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.cluster import kmeans_plusplus

        n = layer_size(layer, index)
        size = self._init_size(n)
        # Sorted positions: the store reads sorted rows as contiguous spans.
        pos = np.sort(rng.choice(n, size=size, replace=False))
        rows = pos if index is None else index[pos]
        sample = np.asarray(layer[rows], dtype=np.float32)
        check_finite_block(sample, "initialisation sample")
        # float64 copy of the (small) sample: scikit-learn's k-means++ on float32
        # input goes through a slow chunked float64 up-cast.
        sample64 = sample.astype(np.float64)
        best, best_inertia = None, np.inf
        for _ in range(self.n_init):
            seed = int(rng.integers(2**31 - 1))
            centers, _ = kmeans_plusplus(sample64, self.n_clusters, random_state=seed)
            d2 = _min_sq_dist(sample64, centers)
            if d2 < best_inertia:
                best, best_inertia = centers, d2
        return best.astype(np.float32), sample

    def fit_store(
        self, layer: Any, index: Any = None, *, rows: int = 65536
    ) -> MiniBatchKMeansDiscoverer:
        """Streaming mini-batch k-means over (selected rows of) a store layer.

        Memory is O(``block_rows`` x d + K x d) plus one int64 label per row; see the
        module docstring for the exact algorithm. ``rows`` only sets the read size of
        the final assignment pass and does not change the result.
        """
        self._check()
        index = None if index is None else np.asarray(index, dtype=np.int64)
        n = layer_size(layer, index)
        check_n_clusters(self.n_clusters, n)
        rng = np.random.default_rng(self.random_state)
        init, sample = self._initial_centers(layer, index, rng)
        est = self._make(init=init, n_init=1, compute_labels=False)
        # partial_fit insists that its first batch has >= K rows: the init sample
        # (>= K rows by construction) serves as the first mini-batch.
        est.partial_fit(sample)
        del sample
        steps = 1
        for _ in range(self.stream_epochs):
            for part in layer_blocks(n, self.block_rows, rng):
                block = read_rows(layer, index, part)
                check_finite_block(block, f"layer rows {part.start}-{part.stop - 1}")
                order = rng.permutation(block.shape[0])
                for start in range(0, order.size, self.batch_size):
                    batch = block[order[start : start + self.batch_size]]
                    est.partial_fit(batch)
                    steps += 1
        self._estimator_ = est
        self.cluster_centers_ = est.cluster_centers_
        self.labels_, self.inertia_ = self._assign_store(layer, index, rows)
        self.n_steps_ = steps
        self.n_iter_ = self.stream_epochs
        return self


def _kmeans_plusplus(sample: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """Greedy k-means++ centres of ``sample``, in its dtype (see the module docstring).

    float64 keeps scikit-learn's own seeding (its exact-equality guarantee); float32
    takes the sgemm path, which is also what makes seeding 1M-row store layers cheap.
    """
    if sample.dtype == np.float32:
        return greedy_kmeans_plusplus(sample, n_clusters, seed)[0]
    from sklearn.cluster import kmeans_plusplus

    return kmeans_plusplus(sample, n_clusters, random_state=seed)[0]


def _mean_column_variance(X: np.ndarray, block: int = 8192) -> float:
    """``np.mean(np.var(X, axis=0))`` in float64, merging row blocks (Chan et al. 1979)
    instead of materialising ``X - mean`` (a full copy of X)."""
    return column_mean_variance(X, block)[1]


_LOW_MEMORY_KMEANS: list[type] = []


def _low_memory_kmeans() -> type:
    """``KMeans`` whose convergence tolerance is computed block-wise.

    scikit-learn sets ``_tol = mean(np.var(X, axis=0)) * tol``, and ``np.var``
    materialises ``X - mean``: a temporary copy of the whole data (3 GB at
    1M x 768 float32, which doubled the peak memory of full k-means). Same value,
    bounded memory; everything else is scikit-learn's.
    """
    if not _LOW_MEMORY_KMEANS:
        from sklearn.cluster import KMeans

        class LowMemoryKMeans(KMeans):
            def _check_params_vs_input(self, X: Any, *args: Any, **kwargs: Any) -> None:
                tol = self.tol
                self.tol = 0.0  # makes scikit-learn skip its np.var
                try:
                    super()._check_params_vs_input(X, *args, **kwargs)
                finally:
                    self.tol = tol
                self._tol = _mean_column_variance(X) * tol if tol else 0.0

        _LOW_MEMORY_KMEANS.append(LowMemoryKMeans)
    return _LOW_MEMORY_KMEANS[0]


def _min_sq_dist(X: np.ndarray, centers: np.ndarray) -> float:
    """Sum of squared distances of rows of X to their nearest centre (float64)."""
    from sklearn.metrics import pairwise_distances_argmin_min

    _, dist = pairwise_distances_argmin_min(X, centers)
    return float(np.square(dist, dtype=np.float64).sum())


@hookimpl
def register_discoverers(register):
    register(KMeansDiscoverer)
    register(MiniBatchKMeansDiscoverer)
