"""interlingua — how much of a multilingual language model is shared across languages.

Quick tour::

    import interlingua as il

    il.list_plugins("metric")
    cka = il.get_metric("cka", debiased=True)
    result = cka(X, Y)            # MetricResult(value=..., details=...)

    store = il.ActivationStore.open("acts.h5")
    X = store.layer("6")[:1000]
"""

from __future__ import annotations

from typing import Any

from interlingua import _compat
from interlingua._version import __version__
from interlingua.core import (
    Accumulator,
    Aligner,
    Concept,
    ConceptDiscoverer,
    Concepts,
    Dictionary,
    Extractor,
    InputError,
    InterlinguaError,
    Metric,
    MetricResult,
    Param,
    PluginError,
    StoreError,
    UnknownPluginError,
)
from interlingua.registry import (
    get_aligner,
    get_discoverer,
    get_extractor,
    get_metric,
    get_plugin,
    hookimpl,
    list_plugins,
)


def __getattr__(name: str) -> Any:
    # The store pulls in h5py; import it only when asked for.
    if name in ("ActivationStore", "Layer", "SentenceRecord"):
        from interlingua import core

        return getattr(core, name)
    raise AttributeError(f"module 'interlingua' has no attribute {name!r}")


__all__ = [
    "Accumulator",
    "ActivationStore",
    "Aligner",
    "Concept",
    "ConceptDiscoverer",
    "Concepts",
    "Dictionary",
    "Extractor",
    "InputError",
    "InterlinguaError",
    "Layer",
    "Metric",
    "MetricResult",
    "Param",
    "PluginError",
    "SentenceRecord",
    "StoreError",
    "UnknownPluginError",
    "__version__",
    "get_aligner",
    "get_discoverer",
    "get_extractor",
    "get_metric",
    "get_plugin",
    "hookimpl",
    "list_plugins",
]

_compat.install()
