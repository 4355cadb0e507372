"""Layer-wise affective probing (seed 003 §4.3–§5, Fig. 3).

* :func:`probe_layers` — one ``affective-probe`` per (language, layer) array, reported
  through a :class:`~interlingua.core.progress.Progress`;
* :func:`probe_store` — the same on the flagged target words of a word-in-context
  activation store, with ratings looked up in norms (missing words raise or are dropped
  and reported, never silently).

Both return a :class:`~interlingua.plugins.affective.probe_result.LayerwiseProbe`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.progress import Progress, as_progress
from interlingua.core.result import MetricResult
from interlingua.core.suggest import did_you_mean
from interlingua.plugins.affective.probe import AffectiveProbe
from interlingua.plugins.affective.probe_result import LayerwiseProbe, probe_entry


def _make_probe(metric: Any, params: Mapping[str, Any] | None) -> Any:
    if metric is not None:
        if params:
            raise InputError("pass either a probe metric instance or params, not both")
        return metric
    return AffectiveProbe(**dict(params or {}))


def target_word_rows(st: Any, lang: str) -> np.ndarray:
    """Word rows of the flagged target words of ``lang`` in a store; an unknown
    language is refused with the store's message and a "did you mean"."""
    try:
        word_rows, _ = st.target_rows(lang)
    except InputError as exc:
        hint = did_you_mean(lang, st.languages)
        if not hint:
            raise
        raise InputError(f"{exc}{hint}") from None
    return word_rows


def probe_layers(
    data: Mapping[str, Mapping[str, Any]],
    targets: Mapping[str, Any],
    *,
    target: str = "rating",
    groups: Mapping[str, Any] | None = None,
    metric: Any = None,
    params: Mapping[str, Any] | None = None,
    progress: Progress | bool | None = None,
) -> LayerwiseProbe:
    """Probe every (language, layer) array (seed 003 §4.3: the layer-wise scan).

    Parameters
    ----------
    data : mapping
        ``data[lang][layer]`` = activation matrix (rows = word occurrences), or a
        callable returning it (lazy loading; called once).
    targets : mapping
        ``targets[lang]`` = rating per row.
    target : str
        Name of the variable, for reports.
    groups : mapping, optional
        ``groups[lang]`` = group label per row (e.g. the word) for a grouped split.
    metric : Metric, optional
        A configured ``affective-probe`` instance; or give ``params`` for a new one.
    params : mapping, optional
        Parameters of a new ``affective-probe``.
    progress : Progress, optional
        Where to report progress (default: nowhere). ``True`` / ``False`` still work
        (a rich bar on stderr / nothing).

    Returns
    -------
    LayerwiseProbe
        Test Pearson r, weights and details per language and layer.
    """
    probe = _make_probe(metric, params)
    languages = list(data)
    if not languages:
        raise InputError("no languages to probe")
    layers = [str(layer) for layer in data[languages[0]]]
    for lang in languages:
        if [str(layer) for layer in data[lang]] != layers:
            raise InputError(f"language {lang!r} has different layers than {languages[0]!r}")
        if lang not in targets:
            raise InputError(f"no ratings for language {lang!r}")
    results: dict[str, dict[str, MetricResult]] = {lang: {} for lang in languages}
    n_rows: dict[str, int] = {}
    description = f"probing {target}"
    total = len(languages) * len(layers)
    with as_progress(progress).task(description, total=total) as task:
        for layer_key, layer in zip(list(data[languages[0]]), layers):
            for lang in languages:
                X = data[lang][layer_key]
                if callable(X):
                    X = X()
                y = targets[lang]
                kw = {}
                if groups is not None and groups.get(lang) is not None:
                    kw["groups"] = groups[lang]
                results[lang][layer] = probe_entry(probe(X, y, **kw))
                n_rows[lang] = int(np.asarray(y).shape[0])
                task.update(description=f"{description}: layer {layer}, {lang}")
                task.advance()
    return LayerwiseProbe(layers, results, target=target, n_rows=n_rows,
                          params=probe.get_params())


def _rated_rows(
    st: Any, lang: str, norms: Any, norms_by_lang: Mapping[str, Any] | None, target: str,
    missing: str, casefold: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Word rows of ``lang``'s target words that have a rating: ``(rows, ratings,
    groups, missing words)``; raises on missing words unless ``missing="drop"``."""
    word_rows = target_word_rows(st, lang)
    if word_rows.size == 0:
        raise InputError(
            f"store has no flagged target words for language {lang!r}; extract a "
            "word-in-context corpus (SentenceRecord.target) first"
        )
    words = [str(w) for w in st.words.text[word_rows]]
    explicit = lang in (norms_by_lang or {})
    source = norms_by_lang[lang] if explicit else norms
    if source is None:
        raise InputError(f"no norms for language {lang!r}")
    # Norms assigned to this language explicitly are used whole; shared norms
    # with a language column are filtered by the store's language code.
    has_langs = getattr(source, "langs", None) is not None
    norm_lang = lang if has_langs and not explicit else None
    if norm_lang is not None and lang not in source.languages:
        raise InputError(
            f"norms {source.source or ''} have no entries for language {lang!r} "
            f"(languages: {', '.join(source.languages)})"
            + did_you_mean(lang, source.languages)
        )
    found = source.lookup(words, target, lang=norm_lang, casefold=casefold)
    if found.missing and missing == "error":
        shown = ", ".join(found.missing[:10])
        more = f" and {len(found.missing) - 10} more" if len(found.missing) > 10 else ""
        raise InputError(
            f"{lang}: {len(found.missing)} target word(s) have no {target!r} "
            f"rating ({found.n_missing_rows} rows): {shown}{more}; use "
            "missing='drop' (--missing drop) to drop them"
        )
    keep = found.found
    if keep.sum() < 10:
        raise InputError(f"{lang}: only {int(keep.sum())} rated rows; need at least 10")
    folded = np.array([w.casefold() if casefold else w for w in words], dtype=object)
    return word_rows[keep], found.values[keep], folded[keep], found.missing


def probe_store(
    store: Any,
    norms: Any,
    target: str,
    *,
    languages: Sequence[str] | None = None,
    layers: Sequence[str] | None = None,
    norms_by_lang: Mapping[str, Any] | None = None,
    missing: str = "error",
    group_by_word: bool = True,
    casefold: bool = True,
    metric: Any = None,
    params: Mapping[str, Any] | None = None,
    progress: Progress | bool | None = None,
) -> LayerwiseProbe:
    """Layer-wise probing of the flagged target words of a word-in-context store.

    Each sentence of the store with a ``target`` word contributes one row: the
    word's activation (mean over its subwords, as the extractor stored it; seed 003
    §4.2). Ratings come from ``norms`` (a
    :class:`~interlingua.plugins.affective.norms.Norms`; its language column, if any,
    is honoured) or per language from ``norms_by_lang``.

    Parameters
    ----------
    store : ActivationStore or path
    norms : Norms or None
        Norms for all languages (may be ``None`` when ``norms_by_lang`` covers them).
    target : str
        Rating column to predict.
    languages, layers : sequence of str, optional
        Subsets to probe (default: all in the store).
    norms_by_lang : mapping, optional
        Norms per language, used whole (overriding ``norms``).
    missing : {"error", "drop"}
        Target words without a rating: raise (listing them), or drop those rows and
        record the words in ``result.missing``. Never silent.
    group_by_word : bool
        Split train/test by word so no word is in both (recommended: the same word
        in 15 contexts would otherwise leak). ``False`` splits sentences at random.
    casefold : bool
        Fall back to case-insensitive matching of words to norms.
    metric, params
        The probe (see :func:`probe_layers`).
    progress : Progress, optional
        Where to report progress (default: nowhere; ``True`` = a rich bar).

    Returns
    -------
    LayerwiseProbe
        With ``meta`` = store path, model and ``group_by_word``.
    """
    from interlingua.core.store import ActivationStore

    if missing not in ("error", "drop"):
        raise InputError(f"missing must be 'error' or 'drop', got {missing!r}")
    own = not hasattr(store, "target_rows")
    st = ActivationStore.open(store) if own else store
    try:
        langs = list(languages) if languages else list(st.languages)
        all_layers = list(st.layers)
        use_layers = [str(x) for x in layers] if layers else all_layers
        unknown = [x for x in use_layers if x not in all_layers]
        if unknown:
            raise InputError(
                f"store has no layer(s) {', '.join(unknown)} (layers: {', '.join(all_layers)})"
                + did_you_mean(unknown[0], all_layers)
            )
        rows: dict[str, np.ndarray] = {}
        targets: dict[str, np.ndarray] = {}
        groups: dict[str, np.ndarray] = {}
        missing_words: dict[str, list[str]] = {}
        for lang in langs:
            rows[lang], targets[lang], groups[lang], dropped = _rated_rows(
                st, lang, norms, norms_by_lang, target, missing, casefold)
            if dropped:
                missing_words[lang] = dropped

        def loader(layer: str, lang: str) -> Any:
            return lambda: st.layer(layer, "words")[rows[lang]]

        data = {lang: {layer: loader(layer, lang) for layer in use_layers} for lang in langs}
        result = probe_layers(
            data, targets, target=target, groups=groups if group_by_word else None,
            metric=metric, params=params, progress=progress,
        )
        result.missing = missing_words
        result.meta.update(
            {
                "store": str(getattr(st, "path", store)),
                "model": st.attrs.get("model", ""),
                "group_by_word": group_by_word,
            }
        )
        return result
    finally:
        if own:
            st.close()


__all__ = ["probe_layers", "probe_store", "target_word_rows"]
