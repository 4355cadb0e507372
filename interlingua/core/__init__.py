"""Core interfaces, data types and the HDF5 activation store.

Nothing here knows a plugin, and nothing here imports torch, transformers,
scikit-learn or statsmodels. ``h5py`` is imported only when the store is used.
"""

from __future__ import annotations

from typing import Any

from interlingua.core.concepts import Concept, Concepts
from interlingua.core.dictionary import Dictionary
from interlingua.core.errors import (
    DuplicatePluginError,
    FormatError,
    InputError,
    InterlinguaError,
    NotFittedError,
    OutputError,
    PluginError,
    StoreError,
    UnknownPluginError,
)
from interlingua.core.interfaces import (
    INPUT_KINDS,
    INVARIANCES,
    Accumulator,
    Aligner,
    ConceptDiscoverer,
    Extractor,
    Metric,
    Plugin,
    check_is_fitted,
)
from interlingua.core.params import Configurable, Param
from interlingua.core.result import MetricResult, to_jsonable
from interlingua.core.validation import check_matrix, check_paired, check_vector

_LAZY = {"ActivationStore": "store", "Layer": "store", "SentenceRecord": "store"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "INPUT_KINDS",
    "INVARIANCES",
    "Accumulator",
    "ActivationStore",
    "Aligner",
    "Concept",
    "ConceptDiscoverer",
    "Concepts",
    "Configurable",
    "Dictionary",
    "DuplicatePluginError",
    "Extractor",
    "FormatError",
    "InputError",
    "InterlinguaError",
    "Layer",
    "Metric",
    "MetricResult",
    "NotFittedError",
    "OutputError",
    "Param",
    "Plugin",
    "PluginError",
    "SentenceRecord",
    "StoreError",
    "UnknownPluginError",
    "check_is_fitted",
    "check_matrix",
    "check_paired",
    "check_vector",
    "to_jsonable",
]
