"""Exception hierarchy.

Every error a user can cause derives from :class:`InterlinguaError`; the CLI prints
those as one readable line. Errors about bad input also derive from ``ValueError`` so
that generic callers (and scikit-learn style code) can catch them the usual way.
"""

from __future__ import annotations


class InterlinguaError(Exception):
    """Base class of all errors raised on purpose by interlingua."""


class InputError(InterlinguaError, ValueError):
    """Input data has the wrong shape, type or content (NaN, too few rows, ...)."""


class StoreError(InterlinguaError):
    """An activation store is missing, corrupt, foreign, incomplete or misused."""


class OutputError(InterlinguaError):
    """An output path is refused: it exists (without overwrite), it is one of the
    command's inputs, or it cannot be a file (see :mod:`interlingua.core.outputs`)."""


class FormatError(InterlinguaError, ValueError):
    """A text file (dictionary, corpus, norms) is malformed; the message names the line."""


class PluginError(InterlinguaError):
    """A plugin could not be loaded, registered or instantiated."""


class UnknownPluginError(PluginError, LookupError):
    """No plugin of that kind and name is registered."""


class DuplicatePluginError(PluginError):
    """Two providers registered the same kind and name."""


class NotFittedError(InterlinguaError, AttributeError):
    """An aligner or discoverer was used before ``fit``."""
