"""The unseen-language single-neuron test (seed 003 §6, Table 2).

Neurons shared by the top-k sets of many languages are tested in a language the probes
never saw: OLS of the norm on one neuron's activation (β, t, p) against the mean of
random neurons of the same layer (:func:`unseen_language_test`), directly on arrays or
on the target words of a word-in-context store (:func:`unseen_language_from_store`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.result import to_jsonable
from interlingua.core.suggest import did_you_mean
from interlingua.core.validation import check_regression
from interlingua.plugins.affective.probing import target_word_rows


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    import statsmodels.api as sm

    fit = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()
    return float(fit.params[1]), float(fit.tvalues[1]), float(fit.pvalues[1]), float(fit.rsquared)


@dataclass
class UnseenLanguageResult:
    """Per-neuron OLS results in a held-out language and the random-neuron baseline."""

    neurons: list[dict[str, Any]]
    baseline: dict[str, Any]
    n_rows: int
    standardized: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of all fields."""
        return to_jsonable(self.__dict__)


def unseen_language_test(
    X: Any,
    y: Any,
    neurons: Sequence[int],
    *,
    n_random: int = 100,
    seed: int = 0,
    standardize: bool = True,
    exclude: Iterable[int] = (),
) -> UnseenLanguageResult:
    """Single-neuron OLS in an unseen language against random neurons (seed 003 §6).

    For each chosen neuron ``u``: ``y = a + β x_u + ε`` by OLS (statsmodels), with
    β, t and p. Baseline: ``n_random`` neurons drawn (seeded, without replacement)
    from the same layer excluding the chosen ones, constant neurons and ``exclude``;
    their β, t, p are averaged (signed means, as in Table 2 of seed 003, plus mean
    ``|β|``, ``|t|`` and the share with p < .05).

    Parameters
    ----------
    X : array (n, d)
        Activations of the layer in the unseen language (rows = word occurrences).
    y : array (n,)
        The norm of each row.
    neurons : sequence of int
        Neuron indices (columns of ``X``) to test.
    n_random : int
        Random neurons averaged as the baseline.
    seed : int
        Seed of the random draw.
    standardize : bool
        z-score each neuron first so β is per standard deviation of activation.
    exclude : iterable of int
        Further neurons kept out of the baseline.

    Returns
    -------
    UnseenLanguageResult
        One row per chosen neuron (``neuron``, ``beta``, ``t``, ``p``, ``r2``) and the
        baseline means.
    """
    X, y = check_regression(X, y, min_rows=3)
    n, d = X.shape
    chosen = [int(u) for u in neurons]
    if not chosen:
        raise InputError("no neurons to test")
    bad = [u for u in chosen if not 0 <= u < d]
    if bad:
        raise InputError(f"neuron index out of range [0, {d}): {bad[:5]}")
    sd = X.std(axis=0)
    constant = sd <= 1e-12 * np.maximum(1.0, np.abs(X.mean(axis=0)))
    if standardize:
        X = (X - X.mean(axis=0)) / np.where(constant, 1.0, sd)
    rows = []
    for u in chosen:
        if constant[u]:
            rows.append({"neuron": u, "beta": math.nan, "t": math.nan, "p": math.nan,
                         "r2": math.nan, "note": "constant neuron in this language"})
            continue
        beta, t, p, r2 = _ols(X[:, u], y)
        rows.append({"neuron": u, "beta": beta, "t": t, "p": p, "r2": r2})
    banned = set(chosen) | {int(e) for e in exclude} | set(np.flatnonzero(constant).tolist())
    pool = np.array([j for j in range(d) if j not in banned], dtype=np.int64)
    if pool.size == 0:
        raise InputError("no neurons left for the random baseline")
    rng = np.random.default_rng(seed)
    take = min(n_random, pool.size)
    sample = np.sort(rng.choice(pool, size=take, replace=False))
    stats_ = np.array([_ols(X[:, j], y)[:3] for j in sample])
    baseline = {
        "n": int(take),
        "beta": float(stats_[:, 0].mean()),
        "t": float(stats_[:, 1].mean()),
        "p": float(stats_[:, 2].mean()),
        "abs_beta": float(np.abs(stats_[:, 0]).mean()),
        "abs_t": float(np.abs(stats_[:, 1]).mean()),
        "share_significant": float((stats_[:, 2] < 0.05).mean()),
        "neurons": sample.tolist(),
    }
    if take < n_random:
        baseline["note"] = f"only {take} eligible neurons (asked for {n_random})"
    return UnseenLanguageResult(rows, baseline, int(n), bool(standardize))


def unseen_language_from_store(
    store: Any,
    norms: Any,
    target: str,
    lang: str,
    layer: str,
    neurons: Sequence[int],
    *,
    missing: str = "error",
    casefold: bool = True,
    **kwargs: Any,
) -> UnseenLanguageResult:
    """:func:`unseen_language_test` on the flagged target words of ``lang`` in a
    word-in-context store (ratings from ``norms``; missing words raise or are dropped
    and noted in ``baseline["dropped_words"]``).

    Parameters
    ----------
    store : ActivationStore or path
        Word-in-context store with the held-out language.
    norms : Norms
        Ratings of the held-out language (a language column other than ``lang``'s
        code is ignored: the norms are used whole).
    target : str
        Rating column.
    lang, layer : str
        Held-out language and the layer of the tested neurons.
    neurons : sequence of int
        Neurons to test.
    missing : {"error", "drop"}
        Target words without a rating: raise, or drop and note them.
    casefold : bool
        Fall back to case-insensitive matching of words to norms.
    **kwargs
        Passed to :func:`unseen_language_test` (``n_random``, ``seed``, ...).
    """
    from interlingua.core.store import ActivationStore

    own = not hasattr(store, "target_rows")
    st = ActivationStore.open(store) if own else store
    try:
        if str(layer) not in st.layers:
            raise InputError(f"store has no layer {layer!r} (layers: {', '.join(st.layers)})"
                             + did_you_mean(str(layer), st.layers))
        word_rows = target_word_rows(st, lang)
        if word_rows.size == 0:
            raise InputError(f"store has no flagged target words for language {lang!r}")
        words = [str(w) for w in st.words.text[word_rows]]
        norm_lang = lang if getattr(norms, "langs", None) is not None else None
        if norm_lang is not None and lang not in norms.languages:
            norm_lang = None  # norms of another code: use them whole
        found = norms.lookup(words, target, lang=norm_lang, casefold=casefold)
        if found.missing and missing == "error":
            raise InputError(
                f"{lang}: {len(found.missing)} target word(s) have no {target!r} rating: "
                + ", ".join(found.missing[:10]) + "; drop them with missing='drop'"
            )
        keep = found.found
        X = st.layer(str(layer), "words")[word_rows[keep]]
        result = unseen_language_test(X, found.values[keep], neurons, **kwargs)
        if found.missing:
            result.baseline["dropped_words"] = found.missing
        return result
    finally:
        if own:
            st.close()


__all__ = ["UnseenLanguageResult", "unseen_language_from_store", "unseen_language_test"]
