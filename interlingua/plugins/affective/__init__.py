"""Affective family: semantic units shared across languages (seed 003).

Metrics ``affective-probe`` (elastic-net probes, neuron ranking; §4.3) and
``superexact`` (the super exact test of multi-set intersections), norm loaders
(labMT, Warriner), neuron-set overlap and MPO (eq. 2), the mixed model, the
unseen-language single-neuron test. Commands: ``probe``, ``superexact``, ``overlap``.
"""
