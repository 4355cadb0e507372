"""The ConceptX text format of latent concepts (seed 000's tooling).

:func:`export_conceptx` writes ``word|||occurrence|||sentence|||token|||cluster`` lines
(one per clustered occurrence, grouped by cluster) that ConceptX tooling and the
seed-000 authors' scripts read; :func:`read_conceptx` reads such files back (also
ConceptX's 2-field ``word|||cluster`` form) as :class:`~interlingua.core.concepts.Concepts`.
Cluster ids may be numbers or names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.concepts import Concepts
from interlingua.core.errors import FormatError, InputError


def export_conceptx(run: Any, path: str | os.PathLike) -> Path:
    """Write ``word|||occurrence|||sentence|||token|||cluster`` lines, grouped by cluster.

    ``run`` is a :class:`~interlingua.plugins.concepts.conceptfile.LayerConcepts` (any
    object with its ``words``, ``labels``, ``rows``, ``occurrence``, ``sentence`` and
    ``token`` arrays).

    ``occurrence`` is the 0-based occurrence number of the word among the clustered
    run's candidate occurrences (store order), ``sentence`` the store's sentence index,
    ``token`` the word's position in its sentence. The file is written atomically.
    """
    from interlingua.core.outputs import atomic_output

    path = Path(path)
    order = np.lexsort((run.rows, run.labels))
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for i in order.tolist():
            word = str(run.words[i])
            if "\n" in word or "\r" in word:
                raise InputError(f"word {word!r} contains a line break; cannot write ConceptX")
            fh.write(f"{word}|||{run.occurrence[i]}|||{run.sentence[i]}|||"
                     f"{run.token[i]}|||{run.labels[i]}\n")
    return path


def read_conceptx(path: str | os.PathLike, language: str | None = None) -> Concepts:
    """Read a ConceptX cluster file (``word|||...|||cluster`` per line) as Concepts.

    Fields are split from the right, so words containing ``|||`` survive. Both the
    5-field form and ConceptX's 2-field ``word|||cluster`` form are accepted.
    """
    from interlingua.core.textio import iter_lines

    words, labels = [], []
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        head, sep, cluster = line.rpartition("|||")
        if not sep:
            raise FormatError(f"{path}:{number}: expected 'word|||...|||cluster', got {line!r}")
        label = cluster.strip()
        if not label:
            raise FormatError(f"{path}:{number}: empty cluster id")
        parts = head.rsplit("|||", 3)
        word = parts[0] if len(parts) == 4 else head
        if len(parts) not in (1, 4):
            raise FormatError(
                f"{path}:{number}: expected 2 or 5 '|||'-separated fields, got {line!r}"
            )
        if not word:
            raise FormatError(f"{path}:{number}: empty word")
        words.append(word)
        labels.append(label)
    if not words:
        raise FormatError(f"{path}: no cluster lines")
    # Numeric ids stay the concept ids; named clusters keep their names as labels.
    if all(label.lstrip("-").isdigit() for label in labels):
        labels = [int(label) for label in labels]
    return Concepts.from_labels(words, labels, [language] * len(words) if language else None)


__all__ = ["export_conceptx", "read_conceptx"]
