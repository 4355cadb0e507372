"""Similarity family: how alike two languages' representations are, layer by layer.

Metrics ``anc`` (seed 001 §5), ``cka`` (linear, RBF, debiased; seed 002 §5.2),
``cca``/``svcca``/``pwcca`` (seed 001 §3), ``procrustes`` (seed 002 §5.1),
``retrieval`` (cosine/CSLS) and ``mutual-knn`` (mutual k-nearest-neighbour alignment,
Huh et al. 2024), the ``procrustes``/``identity`` aligners, exact streaming
moments (mergeable accumulators), permutation tests and bootstrap CIs, word
translation, and the layer-wise driver behind ``interlingua compare``.
"""
