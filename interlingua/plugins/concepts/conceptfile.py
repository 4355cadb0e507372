"""The concept file: latent concepts of an activation store, kept beside it.

Concepts are written to a companion HDF5 file (default ``<store>.concepts.h5`` next to
the activation store), never into the activation store itself. Layout (format
``interlingua-concepts-h5``, version 1)::

    /                                 attrs: format, format_version, store, store_created
    /runs/<layer>/<language|_mixed>   attrs: layer, language, discoverer, discoverer_params,
                                             filter, n_clusters, inertia, created
        rows        int64 (n)  word rows of the store that were clustered
        labels      int64 (n)  concept id of each row
        words       utf-8 (n)  the word of each row
        languages   utf-8 (n)  its language
        sentence    int64 (n)  sentence index in the store
        token       int64 (n)  word position inside that sentence
        occurrence  int64 (n)  0-based occurrence number of the word (store order)
        centers     float32 (K, d) cluster centroids (when the discoverer has them)

``/`` in layer names (``encoder/0``) is written as ``:`` in the group name. A run is
written under a temporary name and renamed into place, so an interrupted write never
leaves a half-written run under its final name.

One run in memory is a :class:`LayerConcepts`. The ConceptX text format (import and
export) lives in :mod:`interlingua.plugins.concepts.conceptx`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.concepts import Concepts
from interlingua.core.errors import InputError, StoreError
from interlingua.core.result import to_jsonable

FORMAT = "interlingua-concepts-h5"
FORMAT_VERSION = 1
#: The language key of a run on mixed languages (COLAP).
MIXED = "_mixed"


@dataclass
class LayerConcepts:
    """Concepts of one layer for one language (or for mixed languages).

    ``rows`` index the word level of the activation store; all per-occurrence arrays
    are aligned with it.
    """

    layer: str
    language: str | None  # None = mixed languages
    rows: np.ndarray
    labels: np.ndarray
    words: np.ndarray
    languages: np.ndarray
    sentence: np.ndarray
    token: np.ndarray
    occurrence: np.ndarray
    centers: np.ndarray | None = None
    n_clusters: int = 0
    discoverer: str = ""
    discoverer_params: dict[str, Any] = field(default_factory=dict)
    filter: dict[str, Any] = field(default_factory=dict)
    inertia: float | None = None
    created: str = ""

    @property
    def key(self) -> str:
        """The run's language, or :data:`MIXED`."""
        return self.language if self.language is not None else MIXED

    @property
    def concepts(self) -> Concepts:
        """The run as :class:`~interlingua.core.concepts.Concepts` (with languages)."""
        return Concepts.from_labels(self.words, self.labels, self.languages)

    def export_conceptx(self, path: str | os.PathLike) -> Path:
        """Write the run as ConceptX text (:func:`~.conceptx.export_conceptx`)."""
        from interlingua.plugins.concepts.conceptx import export_conceptx

        return export_conceptx(self, path)

    def __repr__(self) -> str:
        return (f"LayerConcepts(layer={self.layer!r}, language={self.key!r}, "
                f"{self.rows.size} occurrences, {np.unique(self.labels).size} concepts)")


def default_concepts_path(store_path: str | os.PathLike) -> Path:
    """``acts.h5`` -> ``acts.concepts.h5`` (beside the store)."""
    path = Path(store_path)
    return path.with_name(path.stem + ".concepts.h5")


def resolve_concept_file(path: str | os.PathLike) -> Path:
    """A concept file, or the companion concept file of an activation store.

    Raises
    ------
    InputError
        When ``path`` is missing, is a store without a concept file yet, or is
        neither a concept file nor a store.
    """
    import h5py

    from interlingua.core.h5files import open_hdf5

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if h5py.is_hdf5(str(path)):
        with open_hdf5(path, fix="write it again (`interlingua concepts`)") as f:
            fmt = f.attrs.get("format")
        if fmt == FORMAT:
            return path
        if fmt == "interlingua-activations":
            companion = default_concepts_path(path)
            if not companion.is_file():
                raise InputError(
                    f"{path} is an activation store and has no concept file "
                    f"{companion.name} yet; run `interlingua concepts {path}` first"
                )
            return companion
    raise InputError(f"{path} is neither a concept file nor an activation store")


def _group_name(layer: str, key: str) -> str:
    return f"runs/{layer.replace('/', ':')}/{key}"


def _open_concept_file(path: Path, mode: str) -> Any:
    import h5py

    from interlingua.core.h5files import open_hdf5

    if mode == "r" and not path.is_file():
        raise StoreError(f"{path}: no such concept file")
    if path.exists():
        if not h5py.is_hdf5(str(path)):
            raise StoreError(f"{path} is not an HDF5 file (not an interlingua concept file)")
        f = open_hdf5(path, "r" if mode == "r" else "a",
                      fix="write it again (`interlingua concepts`)")
        fmt = f.attrs.get("format")
        if fmt != FORMAT:
            f.close()
            hint = (" — it is an activation store; concepts are kept in a companion file, "
                    f"by default {default_concepts_path(path).name}"
                    if fmt == "interlingua-activations" else "")
            raise StoreError(f"{path} is not an {FORMAT} file (format {fmt!r}){hint}")
        return f
    path.parent.mkdir(parents=True, exist_ok=True)
    f = h5py.File(path, "w")
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    return f


def save_concepts(
    path: str | os.PathLike,
    run: LayerConcepts,
    *,
    store: Any = None,
    overwrite: bool = False,
) -> Path:
    """Write one run to a concept file (created if missing; the store is never touched).

    Parameters
    ----------
    path : path-like
        The concept file.
    run : LayerConcepts
        The run; it replaces a run of the same layer and language only with
        ``overwrite``.
    store : ActivationStore, optional
        The run's store (recorded in the file's attributes; never written).
    overwrite : bool
        Replace an existing run of the same layer and language.
    """
    import h5py

    path = Path(path)
    if store is not None and Path(store.path).resolve() == path.resolve():
        raise StoreError(
            f"refusing to write concepts into the activation store {path}; use a companion "
            f"file such as {default_concepts_path(path)}"
        )
    strs = h5py.string_dtype("utf-8")
    with _open_concept_file(path, "a") as f:
        if store is not None:
            f.attrs["store"] = str(Path(store.path).resolve())
            f.attrs["store_created"] = str(store.attrs.get("created", ""))
        name = _group_name(run.layer, run.key)
        if name in f and not overwrite:
            raise StoreError(
                f"{path} already holds concepts for layer {run.layer!r}, {run.key}; "
                "pass overwrite=True (--overwrite) to replace them"
            )
        tmp = f"{name}.partial"
        if tmp in f:
            del f[tmp]
        g = f.create_group(tmp)
        g.attrs["layer"] = run.layer
        g.attrs["language"] = run.key
        g.attrs["discoverer"] = run.discoverer
        g.attrs["discoverer_params"] = json.dumps(to_jsonable(run.discoverer_params))
        g.attrs["filter"] = json.dumps(to_jsonable(run.filter))
        g.attrs["n_clusters"] = int(run.n_clusters)
        g.attrs["inertia"] = float("nan") if run.inertia is None else float(run.inertia)
        g.attrs["created"] = run.created
        for key in ("rows", "labels", "sentence", "token", "occurrence"):
            g.create_dataset(key, data=np.asarray(getattr(run, key), dtype=np.int64))
        g.create_dataset("words", data=[str(w) for w in run.words], dtype=strs)
        g.create_dataset("languages", data=[str(x) for x in run.languages], dtype=strs)
        if run.centers is not None:
            g.create_dataset("centers", data=np.asarray(run.centers, dtype=np.float32))
        f.flush()
        if name in f:
            del f[name]
        f.move(tmp, name)
        f.flush()
    return path


def list_runs(path: str | os.PathLike) -> list[dict[str, Any]]:
    """One dict per stored run: layer, language, n_clusters, n_occurrences, discoverer
    (in layer order, then language)."""
    from interlingua.core.store import layer_sort_key

    out: list[dict[str, Any]] = []
    with _open_concept_file(Path(path), "r") as f:
        runs = f.get("runs")
        if runs is None:
            return out
        for layer_group in runs.values():
            for name, g in layer_group.items():
                if name.endswith(".partial"):
                    continue
                out.append({
                    "layer": str(g.attrs["layer"]),
                    "language": str(g.attrs["language"]),
                    "n_clusters": int(g.attrs["n_clusters"]),
                    "n_occurrences": int(g["rows"].shape[0]),
                    "discoverer": str(g.attrs["discoverer"]),
                })
    out.sort(key=lambda r: (layer_sort_key(r["layer"]), r["language"]))
    return out


def load_concepts(path: str | os.PathLike, layer: str, language: str | None = None
                  ) -> LayerConcepts:
    """Read one run (``language=None`` = the mixed-language run)."""
    key = language if language is not None else MIXED
    path = Path(path)
    with _open_concept_file(path, "r") as f:
        name = _group_name(str(layer), key)
        if name not in f:
            have = ", ".join(f"{r['layer']}@{r['language']}" for r in list_runs(path)) or "none"
            raise StoreError(
                f"{path} has no concepts for layer {layer!r}, {key} (runs: {have})"
            )
        g = f[name]
        inertia = float(g.attrs["inertia"])
        return LayerConcepts(
            layer=str(g.attrs["layer"]),
            language=None if key == MIXED else key,
            rows=g["rows"][()],
            labels=g["labels"][()],
            words=np.asarray(g["words"].asstr()[()], dtype=object),
            languages=np.asarray(g["languages"].asstr()[()], dtype=object),
            sentence=g["sentence"][()],
            token=g["token"][()],
            occurrence=g["occurrence"][()],
            centers=g["centers"][()] if "centers" in g else None,
            n_clusters=int(g.attrs["n_clusters"]),
            discoverer=str(g.attrs["discoverer"]),
            discoverer_params=json.loads(g.attrs["discoverer_params"]),
            filter=json.loads(g.attrs["filter"]),
            inertia=None if np.isnan(inertia) else inertia,
            created=str(g.attrs["created"]),
        )


__all__ = [
    "FORMAT", "FORMAT_VERSION", "MIXED", "LayerConcepts", "default_concepts_path",
    "list_runs", "load_concepts", "resolve_concept_file", "save_concepts",
]
