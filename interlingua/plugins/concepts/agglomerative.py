"""Agglomerative (Ward) concept discovery — the original ConceptX method (seed 000 §2.1).

Dalvi et al. (2022) / ConceptX discover latent concepts with agglomerative
hierarchical clustering (Ward linkage) of word-occurrence representations. Without a
connectivity constraint it needs the condensed pairwise-distance matrix
(n(n-1)/2 float64 values, held twice at the peak): ~3.2 GB at 20,000 points and
~80 GB at 100,000. The seed paper switched to K-means for that reason (footnote 3).
This discoverer refuses inputs above ``max_points`` with a message pointing to
``kmeans`` / ``minibatch-kmeans`` instead of exhausting the machine's memory.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import ConceptDiscoverer
from interlingua.core.params import Param
from interlingua.plugins.concepts.clustering import (
    centroids,
    check_n_clusters,
    check_points,
    layer_size,
    load_layer,
)
from interlingua.registry import hookimpl


def distance_matrix_bytes(n: int) -> int:
    """Peak bytes of Ward clustering of n points: scikit-learn/scipy hold two condensed
    float64 distance arrays of n(n-1)/2 entries (measured: 3.4 GB at n = 20,000)."""
    return 2 * (n * (n - 1) // 2) * 8


class AgglomerativeDiscoverer(ConceptDiscoverer):
    """Hierarchical clustering (Ward linkage by default), refusing inputs too big for memory."""

    name: ClassVar[str] = "agglomerative"
    summary: ClassVar[str] = (
        "Agglomerative (Ward) latent concepts as in ConceptX; O(n^2) memory, capped by max_points"
    )
    params: ClassVar[tuple[Param, ...]] = (
        Param("n_clusters", 600, "number of concepts K", int),
        Param("linkage", "ward", "linkage criterion", str,
              ("ward", "average", "complete", "single")),
        Param("max_points", 20000,
              "refuse more points than this (peak memory ~ n^2 x 8 bytes)", int),
    )

    def _check_size(self, n: int) -> None:
        if n > self.max_points:
            need = distance_matrix_bytes(n) / 1e9
            raise InputError(
                f"agglomerative clustering of {n} points needs about {need:.1f} GB for the "
                f"pairwise distances (O(n^2)); the limit is max_points={self.max_points}. "
                "Use the 'kmeans' or 'minibatch-kmeans' discoverer instead "
                "(e.g. --method kmeans), cap occurrences per word with the frequency "
                "filter (max_freq), or raise max_points if the memory is really there."
            )

    def fit(self, X: Any) -> AgglomerativeDiscoverer:
        """Cluster the rows of ``X``; deterministic (no seed needed)."""
        shape = getattr(X, "shape", None)
        if shape:
            # Refuse before converting: the conversion itself could be large.
            self._check_size(int(shape[0]))
        X = check_points(X, self.n_clusters, min_rows=self.min_rows)
        self._check_size(X.shape[0])
        from sklearn.cluster import AgglomerativeClustering

        est = AgglomerativeClustering(n_clusters=self.n_clusters, linkage=self.linkage)
        est.fit(X)
        self.labels_ = est.labels_.astype(np.int64)
        self.cluster_centers_ = centroids(X, self.labels_, self.n_clusters)
        self.n_leaves_ = int(est.n_leaves_)
        return self

    def fit_store(
        self, layer: Any, index: Any = None, *, rows: int = 65536
    ) -> AgglomerativeDiscoverer:
        """Cluster (selected rows of) a store layer; the size is checked before reading."""
        index = None if index is None else np.asarray(index, dtype=np.int64)
        n = layer_size(layer, index)
        self._check_size(n)
        check_n_clusters(self.n_clusters, n)
        return self.fit(load_layer(layer, index, rows))


@hookimpl
def register_discoverers(register):
    register(AgglomerativeDiscoverer)
