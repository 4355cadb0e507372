"""Concepts family: latent concepts and their cross-lingual alignment (seed 000).

Discoverers ``kmeans``, ``minibatch-kmeans``, ``agglomerative``; metrics ``calign``
(§2.2) and ``colap`` (§2.3); dictionary induction (eflomal or IBM-1); the concept file
(``STORE.concepts.h5``, ConceptX import/export) and the layer-wise drivers. Commands:
``concepts``, ``calign``, ``colap``, ``induce-dictionary``.
"""
