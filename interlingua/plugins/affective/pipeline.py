"""Affective probing across layers and languages, neuron overlap and its statistics
(seed 003 §4–§7): the family's pipeline, one module per step, re-exported here.

* :mod:`.probing` — :func:`probe_layers` / :func:`probe_store`: one ``affective-probe``
  per (language, layer);
* :mod:`.probe_result` — :class:`LayerwiseProbe`, their layer-wise result (the Pearson
  r curves of seed 003 Fig. 3, the weights, the best layer(s), the top-k sets);
* :mod:`.overlap` — :func:`mean_pairwise_overlap` (MPO, seed 003 eq. 2),
  :func:`shared_neurons`, :func:`overlap_analysis`;
* :mod:`.mixed_model` — :func:`mixed_model`: performance ~ MPO with a random intercept
  for language and uncorrelated random intercepts and slopes for model and variable;
* :mod:`.unseen_language` — :func:`unseen_language_test` /
  :func:`unseen_language_from_store`: seed 003 §6.

``interlingua.plugins.affective.pipeline`` (and the deprecated
``interlingua.analysis.affective``) keep exporting every name.
"""

from __future__ import annotations

from interlingua.plugins.affective.mixed_model import MixedModelResult, mixed_model
from interlingua.plugins.affective.overlap import (
    mean_pairwise_overlap,
    overlap_analysis,
    shared_neurons,
)
from interlingua.plugins.affective.probe_result import LayerwiseProbe
from interlingua.plugins.affective.probing import probe_layers, probe_store
from interlingua.plugins.affective.unseen_language import (
    UnseenLanguageResult,
    unseen_language_from_store,
    unseen_language_test,
)

__all__ = [
    "LayerwiseProbe",
    "MixedModelResult",
    "UnseenLanguageResult",
    "mean_pairwise_overlap",
    "mixed_model",
    "overlap_analysis",
    "probe_layers",
    "probe_store",
    "shared_neurons",
    "unseen_language_from_store",
    "unseen_language_test",
]
