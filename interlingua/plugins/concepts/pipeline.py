"""Layer-wise latent-concept discovery, concept files, and CALIGN / COLAP drivers.

Seed 000 §2.1/§3.2: per layer, the representations of word occurrences are clustered
(K = 600) after a frequency filter; a concept is the set of word types whose
occurrences fall into one cluster. CALIGN (§2.2) compares concepts discovered
*independently per language*; COLAP (§2.3) looks at concepts discovered on *mixed*
multilingual data.

Storage: concepts are written to a companion HDF5 file (default
``<store>.concepts.h5`` next to the activation store), never into the activation
store itself. Layout (format ``interlingua-concepts-h5``, version 1)::

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

ConceptX interoperability: :func:`export_conceptx` writes
``word|||occurrence|||sentence|||token|||cluster`` lines (one per clustered
occurrence, grouped by cluster) that ConceptX tooling and the seed-000 authors'
scripts read; :func:`read_conceptx` reads such files back as
:class:`~interlingua.core.concepts.Concepts`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.concepts import Concepts
from interlingua.core.dictionary import Dictionary
from interlingua.core.errors import FormatError, InputError, StoreError
from interlingua.core.result import MetricResult, to_jsonable

FORMAT = "interlingua-concepts-h5"
FORMAT_VERSION = 1
MIXED = "_mixed"


# -- frequency filter ----------------------------------------------------------------
@dataclass(frozen=True)
class FrequencyFilter:
    """Which word occurrences enter the clustering (ConceptX's frequency filter).

    Attributes
    ----------
    min_freq : int
        Keep word types with at least this many occurrences.
    max_freq : int or None
        Keep at most this many occurrences of each type (``None`` = all).
    del_freq : int or None
        Drop types with *more* than this many occurrences (very frequent function
        words); ``None`` = drop none.
    sample : {"random", "first"}
        Which occurrences survive the cap: a seeded uniform sample, or the first
        ``max_freq`` in store order (ConceptX's behaviour).
    seed : int
        Seed of the ``random`` sample.

    Notes
    -----
    Defaults follow Dalvi et al. (2022) as used by seed 000 §3.2 (types seen at least
    5 times, at most 10 occurrences each). Types are ``(word, language)`` pairs, so the
    same string in two languages is counted separately.
    """

    min_freq: int = 5
    max_freq: int | None = 10
    del_freq: int | None = None
    sample: str = "random"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.min_freq < 1:
            raise InputError(f"min_freq must be >= 1, got {self.min_freq}")
        if self.max_freq is not None and self.max_freq < 1:
            raise InputError(f"max_freq must be >= 1 or None, got {self.max_freq}")
        if self.del_freq is not None and self.del_freq < self.min_freq:
            raise InputError(
                f"del_freq ({self.del_freq}) must be >= min_freq ({self.min_freq})"
            )
        if self.sample not in ("random", "first"):
            raise InputError(f"sample must be 'random' or 'first', got {self.sample!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def select(self, words: Sequence[str], languages: Sequence[str] | None = None) -> np.ndarray:
        """Positions (sorted) of the occurrences that pass the filter.

        Parameters
        ----------
        words : sequence of str
            Word of each candidate occurrence, in store order.
        languages : sequence of str, optional
            Language of each occurrence (types are ``(word, language)``).
        """
        n = len(words)
        if languages is not None and len(languages) != n:
            raise InputError(f"{len(languages)} languages for {n} words")
        if n == 0:
            return np.empty(0, dtype=np.int64)
        keys = words if languages is None else list(zip(languages, words))
        inv = _factorize(keys)
        counts = np.bincount(inv)
        keep_type = counts >= self.min_freq
        if self.del_freq is not None:
            keep_type &= counts <= self.del_freq
        if self.max_freq is None:
            return np.flatnonzero(keep_type[inv]).astype(np.int64)
        if self.sample == "random":
            priority = np.random.default_rng(self.seed).random(n)
        else:
            priority = np.arange(n, dtype=np.float64)
        order = np.lexsort((priority, inv))  # by type, then priority
        sorted_inv = inv[order]
        rank = np.arange(n) - np.searchsorted(sorted_inv, sorted_inv, side="left")
        chosen = order[(rank < self.max_freq) & keep_type[sorted_inv]]
        return np.sort(chosen).astype(np.int64)


def _factorize(keys: Iterable[Any]) -> np.ndarray:
    """Integer code of each key, in order of first appearance (deterministic)."""
    index: dict[Any, int] = {}
    return np.fromiter((index.setdefault(k, len(index)) for k in keys), dtype=np.int64)


def occurrence_numbers(words: Sequence[str], languages: Sequence[str] | None = None) -> np.ndarray:
    """0-based running count of each ``(word, language)`` type, in the given order."""
    keys = words if languages is None else list(zip(languages, words))
    inv = _factorize(keys)
    order = np.argsort(inv, kind="stable")
    sorted_inv = inv[order]
    rank = np.arange(inv.size) - np.searchsorted(sorted_inv, sorted_inv, side="left")
    out = np.empty(inv.size, dtype=np.int64)
    out[order] = rank
    return out


# -- one clustering run ------------------------------------------------------------
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
        return self.language if self.language is not None else MIXED

    @property
    def concepts(self) -> Concepts:
        """The run as :class:`~interlingua.core.concepts.Concepts` (with languages)."""
        return Concepts.from_labels(self.words, self.labels, self.languages)

    def export_conceptx(self, path: str | os.PathLike) -> Path:
        return export_conceptx(self, path)

    def __repr__(self) -> str:
        return (f"LayerConcepts(layer={self.layer!r}, language={self.key!r}, "
                f"{self.rows.size} occurrences, {np.unique(self.labels).size} concepts)")


def _fresh_discoverer(discoverer: Any, **overrides: Any) -> Any:
    """A new, unfitted discoverer (from a registry name or a template instance).

    ``overrides`` that are ``None`` or not declared by the discoverer are ignored
    (e.g. ``random_state`` for the deterministic agglomerative clustering).
    """
    from interlingua.core.interfaces import ConceptDiscoverer

    if isinstance(discoverer, str):
        from interlingua.registry import get_registry

        factory = get_registry().info("discoverer", discoverer).factory
        template = None
    elif isinstance(discoverer, ConceptDiscoverer):
        factory, template = type(discoverer), discoverer
    else:
        raise InputError(
            f"discoverer must be a registered name or a ConceptDiscoverer, got {discoverer!r}"
        )
    declared = {p.name for p in getattr(factory, "params", ())}
    params = dict(template.get_params()) if template is not None else {}
    params.update({k: v for k, v in overrides.items() if v is not None and k in declared})
    return factory(**params)


def discover_layer(
    store: Any,
    layer: str,
    *,
    discoverer: Any = "kmeans",
    language: str | None = None,
    languages: Sequence[str] | None = None,
    freq_filter: FrequencyFilter | None = None,
    n_clusters: int | None = None,
    random_state: int | None = None,
    rows: int = 65536,
) -> LayerConcepts:
    """Discover the concepts of one layer.

    Parameters
    ----------
    store : ActivationStore
        Open store (word-level rows are clustered).
    layer : str
        Layer name.
    discoverer : str or ConceptDiscoverer
        Registry name (``kmeans``, ``minibatch-kmeans``, ``agglomerative``) or an
        instance used as a template (a fresh copy is fitted).
    language : str, optional
        Cluster this language only (CALIGN setting). ``None`` = mixed data of
        ``languages`` (all store languages by default; COLAP setting).
    languages : sequence of str, optional
        Languages of a mixed run.
    freq_filter : FrequencyFilter, optional
        Defaults to ``FrequencyFilter()``.
    n_clusters, random_state : int, optional
        Override the discoverer's K and seed.
    rows : int
        Rows per read from the store.
    """
    freq_filter = freq_filter or FrequencyFilter()
    if language is not None:
        cand = store.word_rows(language)
    else:
        langs = list(languages) if languages else store.languages
        for lang in langs:
            store.sentence_rows(lang)  # clear error for unknown languages
        sent_rows = np.flatnonzero(np.isin(store.sentences.lang, np.asarray(langs, dtype=object)))
        cand = store.word_rows(sentence_rows=sent_rows)
    if cand.size == 0:
        raise InputError(f"no words to cluster in layer {layer!r} for {language or 'mixed'}")
    wtable, stable = store.words, store.sentences
    cand_words = wtable.text[cand]
    cand_sent = wtable.sentence[cand]
    cand_langs = stable.lang[cand_sent]
    occurrence = occurrence_numbers(cand_words, None if language else cand_langs)
    keep = freq_filter.select(cand_words, None if language else cand_langs)
    if keep.size == 0:
        raise InputError(
            f"the frequency filter kept no occurrences in layer {layer!r} "
            f"({language or 'mixed'}): {freq_filter.to_dict()}; lower min_freq"
        )
    sel = cand[keep]
    model = _fresh_discoverer(discoverer, n_clusters=n_clusters, random_state=random_state)
    lay = store.layer(layer, "words")
    if hasattr(model, "fit_store"):
        model.fit_store(lay, sel, rows=rows)
    else:
        model.fit(lay[sel])
    labels = np.asarray(model.labels_, dtype=np.int64)
    centers = getattr(model, "cluster_centers_", None)
    inertia = getattr(model, "inertia_", None)
    return LayerConcepts(
        layer=str(layer),
        language=language,
        rows=sel,
        labels=labels,
        words=cand_words[keep],
        languages=cand_langs[keep],
        sentence=cand_sent[keep],
        token=sel - stable.word_offsets[cand_sent[keep]],
        occurrence=occurrence[keep],
        centers=None if centers is None else np.asarray(centers, dtype=np.float32),
        n_clusters=int(getattr(model, "n_clusters", np.unique(labels).size)),
        discoverer=model.name,
        discoverer_params=model.get_params(),
        filter=freq_filter.to_dict(),
        inertia=None if inertia is None else float(inertia),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )


def discover_concepts(
    store: Any,
    layers: Sequence[str] | None = None,
    *,
    discoverer: Any = "kmeans",
    languages: Sequence[str] | None = None,
    mixed: bool = False,
    freq_filter: FrequencyFilter | None = None,
    n_clusters: int | None = None,
    random_state: int | None = None,
    rows: int = 65536,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
    callback: Callable[[LayerConcepts], None] | None = None,
) -> list[LayerConcepts]:
    """Discover concepts for several layers: per language, or on mixed data.

    With ``output`` each run is saved to that concept file as soon as it is done (an
    existing run of the same layer and language is refused unless ``overwrite``).
    ``callback`` is called after each run (progress reporting).
    """
    layers = list(layers) if layers else list(store.layers)
    langs = list(languages) if languages else list(store.languages)
    if output is not None and not overwrite:
        existing = {(r["layer"], r["language"]) for r in list_runs(output)} \
            if Path(output).exists() else set()
        for layer in layers:
            for key in ([MIXED] if mixed else langs):
                if (str(layer), key) in existing:
                    raise StoreError(
                        f"{output} already holds concepts for layer {layer!r}, {key}; "
                        "pass overwrite=True (--overwrite) to replace them"
                    )
    out = []
    for layer in layers:
        for lang in ([None] if mixed else langs):
            run = discover_layer(
                store, str(layer), discoverer=discoverer, language=lang,
                languages=langs if mixed else None, freq_filter=freq_filter,
                n_clusters=n_clusters, random_state=random_state, rows=rows,
            )
            if output is not None:
                save_concepts(output, run, store=store, overwrite=overwrite)
            if callback is not None:
                callback(run)
            out.append(run)
    return out


# -- concept files -------------------------------------------------------------------
def default_concepts_path(store_path: str | os.PathLike) -> Path:
    """``acts.h5`` -> ``acts.concepts.h5`` (beside the store)."""
    path = Path(store_path)
    return path.with_name(path.stem + ".concepts.h5")


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
    """Write one run to a concept file (created if missing; the store is never touched)."""
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
    """One dict per stored run: layer, language, n_clusters, n_occurrences, discoverer."""
    from interlingua.core.store import layer_sort_key

    out = []
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


# -- ConceptX text format --------------------------------------------------------------
def export_conceptx(run: LayerConcepts, path: str | os.PathLike) -> Path:
    """Write ``word|||occurrence|||sentence|||token|||cluster`` lines, grouped by cluster.

    ``occurrence`` is the 0-based occurrence number of the word among the clustered
    run's candidate occurrences (store order), ``sentence`` the store's sentence index,
    ``token`` the word's position in its sentence.
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
        try:
            label = int(cluster.strip())
        except ValueError:
            raise FormatError(
                f"{path}:{number}: cluster id {cluster.strip()!r} is not an integer"
            ) from None
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
    return Concepts.from_labels(words, labels, [language] * len(words) if language else None)


# -- layer-wise drivers -----------------------------------------------------------------
@dataclass
class LayerwiseResult:
    """One :class:`~interlingua.core.result.MetricResult` per layer."""

    metric: str
    results: dict[str, MetricResult]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def layers(self) -> list[str]:
        return list(self.results)

    @property
    def values(self) -> list[float]:
        return [r.value for r in self.results.values()]

    def to_dict(self, *, full: bool = True) -> dict[str, Any]:
        layers = {}
        for layer, res in self.results.items():
            d = res.to_dict()
            if not full:
                d["details"] = {k: v for k, v in d["details"].items()
                                if k not in ("pairs", "shares")}
                d.pop("per_unit", None)
            layers[layer] = d
        return {"metric": self.metric, **to_jsonable(self.meta), "layers": layers}

    def rows(self) -> list[dict[str, Any]]:
        """Flat per-layer rows for CSV."""
        out = []
        for layer, res in self.results.items():
            row: dict[str, Any] = {"layer": layer, self.metric: res.value}
            for key, val in res.details.items():
                if isinstance(val, (int, float, str)) and not isinstance(val, bool):
                    row[key] = val
            if self.metric == "colap":
                for pair, entry in res.details.get("pairs", {}).items():
                    row[f"pair_{pair}"] = entry["percent"]
            out.append(row)
        return out


def _layers_of(path: Path, key: str, layers: Sequence[str] | None) -> list[str]:
    available = [r["layer"] for r in list_runs(path) if r["language"] == key]
    if layers:
        missing = [str(x) for x in layers if str(x) not in available]
        if missing:
            raise StoreError(
                f"{path} has no concepts for {key} in layer(s) {', '.join(missing)}; "
                f"available: {', '.join(available) or 'none'}"
            )
        return [str(x) for x in layers]
    if not available:
        raise StoreError(f"{path} holds no concepts for {key}")
    return available


def calign_layers(
    concepts_path: str | os.PathLike,
    source: str,
    target: str,
    dictionary: Any,
    layers: Sequence[str] | None = None,
    *,
    target_layers: Sequence[str] | None = None,
    **params: Any,
) -> LayerwiseResult:
    """CALIGN per layer between the per-language runs ``source`` and ``target``.

    ``target_layers`` pairs each source layer with another target layer (e.g. the
    decoder of a seq2seq model, seed 000 Figs 21-23); by default the same layer.
    ``params`` go to the ``calign`` metric (theta, nbest, min_types, max_size_diff,
    variant).
    """
    from interlingua.registry import get_metric

    path = Path(concepts_path)
    metric = get_metric("calign", **params)
    if isinstance(dictionary, Dictionary):
        # Rank the N-best lists once for all layers (the metric accepts ranked lists).
        by = "order" if metric.variant == "reference" else "probability"
        dictionary = dictionary.nbest(metric.nbest, by=by)
    src_layers = _layers_of(path, source, layers)
    tgt_layers = [str(x) for x in target_layers] if target_layers else src_layers
    if len(tgt_layers) != len(src_layers):
        raise InputError("target_layers must have one entry per source layer")
    _layers_of(path, target, tgt_layers)
    results = {}
    for s_layer, t_layer in zip(src_layers, tgt_layers):
        src = load_concepts(path, s_layer, source).concepts
        tgt = load_concepts(path, t_layer, target).concepts
        label = s_layer if s_layer == t_layer else f"{s_layer}->{t_layer}"
        results[label] = metric(src, tgt, dictionary)
    return LayerwiseResult("calign", results,
                           {"source": source, "target": target, "params": metric.get_params()})


def colap_layers(
    concepts_path: str | os.PathLike,
    layers: Sequence[str] | None = None,
    *,
    languages: Sequence[str] | None = None,
    **params: Any,
) -> LayerwiseResult:
    """COLAP per layer of the mixed-language runs.

    ``languages`` restricts the concepts to occurrences of these languages before
    computing the shares (default: all languages of the run).
    """
    from interlingua.registry import get_metric

    path = Path(concepts_path)
    metric = get_metric("colap", **params)
    results = {}
    for layer in _layers_of(path, MIXED, layers):
        run = load_concepts(path, layer, None)
        if languages:
            mask = np.isin(run.languages, np.asarray(list(languages), dtype=object))
            if not mask.any():
                raise InputError(f"layer {layer}: none of the languages {list(languages)}")
            concepts = Concepts.from_labels(run.words[mask], run.labels[mask],
                                            run.languages[mask])
        else:
            concepts = run.concepts
        results[layer] = metric(concepts)
    return LayerwiseResult("colap", results,
                           {"languages": list(languages) if languages else None,
                            "params": metric.get_params()})
