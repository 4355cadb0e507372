"""Layer-wise latent-concept discovery (seed 000 §2.1, §3.2).

Per layer, the representations of word occurrences are clustered (K = 600) after a
frequency filter (:mod:`.frequency`); a concept is the set of word types whose
occurrences fall into one cluster. CALIGN (§2.2) compares concepts discovered
*independently per language* (:func:`discover_concepts` default); COLAP (§2.3) looks at
concepts discovered on *mixed* multilingual data (``mixed=True``). Runs are saved to a
companion concept file (:mod:`.conceptfile`) and scored layer by layer by
:mod:`.layer_metrics`.

This module is also the family's one-stop import path (and the target of the old
``interlingua.analysis.concepts``): it re-exports the concept file, the ConceptX format
(:mod:`.conceptx`), the frequency filter and the CALIGN/COLAP drivers.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError, StoreError
from interlingua.core.progress import Progress, as_progress
from interlingua.plugins.concepts.conceptfile import (
    FORMAT,
    FORMAT_VERSION,
    MIXED,
    LayerConcepts,
    default_concepts_path,
    list_runs,
    load_concepts,
    resolve_concept_file,
    save_concepts,
)
from interlingua.plugins.concepts.conceptx import export_conceptx, read_conceptx
from interlingua.plugins.concepts.frequency import FrequencyFilter, occurrence_numbers
from interlingua.plugins.concepts.layer_metrics import (
    MetricLayers,
    calign_layers,
    calign_layerwise,
    colap_layers,
    colap_layerwise,
)


def check_languages(store: Any, languages: Sequence[str]) -> None:
    """Refuse languages the store has no sentences in, before any work.

    Raises
    ------
    InputError
        Naming the first unknown language, the closest known one and all of them.
    """
    from interlingua.core.suggest import did_you_mean

    have = list(store.languages)
    for lang in languages:
        if lang not in have:
            raise InputError(
                f"no sentences in language {lang!r} in {Path(store.path).name}"
                f"{did_you_mean(lang, have)}; languages: {', '.join(have) or 'none'}"
            )


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

    Returns
    -------
    LayerConcepts
        The run (not saved; see :func:`~.conceptfile.save_concepts`).
    """
    freq_filter = freq_filter or FrequencyFilter()
    if language is not None:
        check_languages(store, [language])
        cand = store.word_rows(language)
    else:
        langs = list(languages) if languages else store.languages
        check_languages(store, langs)
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
    progress: Progress | None = None,
) -> list[LayerConcepts]:
    """Discover concepts for several layers: per language, or on mixed data.

    Parameters
    ----------
    store : ActivationStore
        Open store.
    layers : sequence of str, optional
        Layers (default: all layers of the store).
    discoverer, n_clusters, random_state, rows, freq_filter
        As for :func:`discover_layer`.
    languages : sequence of str, optional
        Languages (default: all languages of the store).
    mixed : bool
        One run per layer over all ``languages`` together (COLAP) instead of one run
        per language (CALIGN).
    output : path-like, optional
        Concept file: each run is saved as soon as it is done (an existing run of the
        same layer and language is refused, before any clustering, unless
        ``overwrite``).
    callback : callable, optional
        Called with each finished run.
    progress : Progress, optional
        Progress protocol (:mod:`interlingua.core.progress`): one ``clustering`` task,
        advanced once per run. Default: silent.

    Returns
    -------
    list of LayerConcepts
        In layer order, then language order.
    """
    layers = list(layers) if layers else list(store.layers)
    langs = list(languages) if languages else list(store.languages)
    keys: list[str | None] = [None] if mixed else list(langs)
    check_languages(store, langs)
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
    with as_progress(progress).task("clustering", total=len(layers) * len(keys)) as task:
        for layer in layers:
            for lang in keys:
                run = discover_layer(
                    store, str(layer), discoverer=discoverer, language=lang,
                    languages=langs if mixed else None, freq_filter=freq_filter,
                    n_clusters=n_clusters, random_state=random_state, rows=rows,
                )
                if output is not None:
                    save_concepts(output, run, store=store, overwrite=overwrite)
                if callback is not None:
                    callback(run)
                task.advance()
                out.append(run)
    return out


__all__ = [
    "FORMAT", "FORMAT_VERSION", "MIXED", "FrequencyFilter", "LayerConcepts", "MetricLayers",
    "calign_layers", "calign_layerwise", "check_languages", "colap_layers", "colap_layerwise",
    "default_concepts_path", "discover_concepts", "discover_layer", "export_conceptx",
    "list_runs", "load_concepts", "occurrence_numbers", "read_conceptx",
    "resolve_concept_file", "save_concepts",
]
