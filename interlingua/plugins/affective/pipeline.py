"""Affective probing across layers and languages, neuron overlap and its statistics
(seed 003 §4–§7).

* :func:`probe_layers` / :func:`probe_store` — one ``affective-probe`` per (language,
  layer) with a rich progress bar; :class:`LayerwiseProbe` holds the Pearson r curves
  (seed 003 Fig. 3), the weights, and picks the best layer(s).
* :func:`mean_pairwise_overlap` — MPO, seed 003 eq. 2.
* :func:`mixed_model` — performance ~ MPO with a random intercept for language and
  uncorrelated random intercepts and slopes for model and variable (statsmodels
  ``MixedLM`` with variance components), plus the plain Pearson correlation the
  authors' code reports.
* :func:`unseen_language_test` — seed 003 §6: OLS of the norm on single neurons in a
  held-out language against the mean of N random neurons of the same layer.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.result import MetricResult, to_jsonable
from interlingua.core.validation import check_regression, check_vector


# -- layer-wise probing ------------------------------------------------------------------------
@dataclass
class LayerwiseProbe:
    """Probe results over layers × languages.

    Attributes
    ----------
    target : str
        Name of the predicted variable (e.g. ``"valence"``).
    layers : list of str
    languages : list of str
    scores : dict
        ``scores[lang][i]`` = test Pearson r of the probe on ``layers[i]``.
    weights : dict
        ``weights[lang][layer]`` = probe weights (ndarray, one per neuron).
    details : dict
        ``details[lang][layer]`` = the probe's ``MetricResult.details`` without the
        bulky ``ordering`` / ``cumulative_mass`` / ``test_rows`` lists.
    n_rows : dict
        Rows (word occurrences) probed per language.
    missing : dict
        Words without a rating per language (dropped rows are reported here).
    params : dict
        Parameters of the probe metric.
    meta : dict
        Free-form provenance (store path, model, ...).
    """

    target: str
    layers: list[str]
    languages: list[str]
    scores: dict[str, list[float]]
    weights: dict[str, dict[str, np.ndarray]]
    details: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    n_rows: dict[str, int] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def mean_curve(self) -> list[float]:
        """Mean r over languages per layer (NaN-aware)."""
        arr = np.array([self.scores[lang] for lang in self.languages], dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(arr, axis=0).tolist()

    def best_layers(self, n: int = 1) -> list[str]:
        """The ``n`` layers with the highest mean r over languages (best first)."""
        mean = np.array(self.mean_curve())
        if np.all(np.isnan(mean)):
            raise InputError("no layer has a defined probe score")
        order = np.argsort(-np.nan_to_num(mean, nan=-np.inf), kind="stable")
        return [self.layers[i] for i in order[: max(1, n)]]

    def top_sets(self, layer: str | None = None, k: int = 100) -> dict[str, list[int]]:
        """Top-``k`` neurons by ``|w|`` per language on ``layer`` (default: best layer)."""
        from interlingua.plugins.affective.probe import top_neurons

        layer = self.best_layers(1)[0] if layer is None else str(layer)
        if layer not in self.layers:
            raise InputError(f"layer {layer!r} was not probed (layers: {', '.join(self.layers)})")
        return {
            lang: top_neurons(self.weights[lang][layer], k).tolist() for lang in self.languages
        }

    def score(self, lang: str, layer: str) -> float:
        return float(self.scores[lang][self.layers.index(str(layer))])

    def to_dict(self, include_weights: bool = True) -> dict[str, Any]:
        """JSON-ready dictionary (``interlingua probe`` writes this)."""
        out: dict[str, Any] = {
            "kind": "layerwise-probe",
            "target": self.target,
            "layers": self.layers,
            "languages": self.languages,
            "scores": self.scores,
            "mean": self.mean_curve(),
            "best_layer": self.best_layers(1)[0],
            "n_rows": self.n_rows,
            "missing": self.missing,
            "params": self.params,
            "meta": self.meta,
            "details": self.details,
        }
        if include_weights:
            out["weights"] = {
                lang: {layer: w.tolist() for layer, w in per.items()}
                for lang, per in self.weights.items()
            }
        return to_jsonable(out)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerwiseProbe:
        """Inverse of :meth:`to_dict` (needs the weights)."""
        if data.get("kind") != "layerwise-probe" or "weights" not in data:
            raise InputError(
                "not a layer-wise probe result with weights (write it with `interlingua probe`)"
            )
        scores = {
            lang: [math.nan if v is None else float(v) for v in vals]
            for lang, vals in data["scores"].items()
        }
        weights = {
            lang: {layer: np.asarray(w, dtype=np.float64) for layer, w in per.items()}
            for lang, per in data["weights"].items()
        }
        return cls(
            target=data["target"], layers=list(data["layers"]),
            languages=list(data["languages"]), scores=scores, weights=weights,
            details=dict(data.get("details", {})), n_rows=dict(data.get("n_rows", {})),
            missing=dict(data.get("missing", {})), params=dict(data.get("params", {})),
            meta=dict(data.get("meta", {})),
        )

    def plot(self, path: str | os.PathLike, title: str | None = None) -> Path:
        """Layer curves like seed 003 Fig. 3: one per language, the mean bold."""
        from interlingua.core.plotting import plot_layer_curves

        curves = {lang: self.scores[lang] for lang in self.languages}
        curves["mean"] = self.mean_curve()
        return plot_layer_curves(
            curves, self.layers, ylabel="Pearson r (test)",
            title=title or f"{self.target}: layer-wise probe", path=path, bold=("mean",),
        )


def _progress(enabled: bool, total: int, description: str):
    """A rich progress context (no-op when disabled)."""
    if not enabled:
        return _NullProgress()
    from interlingua.core.progress import make_progress

    progress = make_progress(transient=True)
    return _RichProgress(progress, total, description)


class _NullProgress:
    def __enter__(self) -> _NullProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def advance(self, description: str | None = None) -> None:
        return None


class _RichProgress:
    def __init__(self, progress: Any, total: int, description: str) -> None:
        self.progress = progress
        self.total = total
        self.description = description

    def __enter__(self) -> _RichProgress:
        self.progress.__enter__()
        self.task = self.progress.add_task(self.description, total=self.total)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def advance(self, description: str | None = None) -> None:
        self.progress.update(self.task, advance=1, description=description or self.description)


_BULKY = ("ordering", "cumulative_mass", "test_rows")


def _make_probe(metric: Any, params: Mapping[str, Any] | None) -> Any:
    if metric is not None:
        if params:
            raise InputError("pass either a probe metric instance or params, not both")
        return metric
    from interlingua.plugins.affective.probe import AffectiveProbe

    return AffectiveProbe(**dict(params or {}))


def probe_layers(
    data: Mapping[str, Mapping[str, Any]],
    targets: Mapping[str, Any],
    *,
    target: str = "rating",
    groups: Mapping[str, Any] | None = None,
    metric: Any = None,
    params: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> LayerwiseProbe:
    """Probe every (language, layer) array.

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
    progress : bool
        Show a rich progress bar on stderr.
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
    scores: dict[str, list[float]] = {lang: [] for lang in languages}
    weights: dict[str, dict[str, np.ndarray]] = {lang: {} for lang in languages}
    details: dict[str, dict[str, dict[str, Any]]] = {lang: {} for lang in languages}
    n_rows: dict[str, int] = {}
    with _progress(progress, len(languages) * len(layers), f"probing {target}") as bar:
        for layer_key, layer in zip(list(data[languages[0]]), layers):
            for lang in languages:
                X = data[lang][layer_key]
                if callable(X):
                    X = X()
                y = targets[lang]
                kw = {}
                if groups is not None and groups.get(lang) is not None:
                    kw["groups"] = groups[lang]
                res: MetricResult = probe(X, y, **kw)
                scores[lang].append(res.value)
                weights[lang][layer] = np.asarray(res.per_unit, dtype=np.float64)
                details[lang][layer] = {
                    k: v for k, v in res.details.items() if k not in _BULKY
                }
                n_rows[lang] = int(np.asarray(y).shape[0])
                bar.advance(f"probing {target}: layer {layer}, {lang}")
    return LayerwiseProbe(
        target=target, layers=layers, languages=languages, scores=scores, weights=weights,
        details=details, n_rows=n_rows, params=probe.get_params(),
    )


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
    progress: bool = False,
) -> LayerwiseProbe:
    """Layer-wise probing of the flagged target words of a word-in-context store.

    Each sentence of the store with a ``target`` word contributes one row: the
    word's activation (mean over its subwords, as the extractor stored it). Ratings
    come from ``norms`` (a :class:`~interlingua.plugins.affective.norms.Norms`; its language
    column, if any, is honoured) or per language from ``norms_by_lang``.

    Parameters
    ----------
    store : ActivationStore or path
    norms : Norms or None
        Norms for all languages (may be ``None`` when ``norms_by_lang`` covers them).
    target : str
        Rating column to predict.
    missing : {"error", "drop"}
        Target words without a rating: raise (listing them), or drop those rows and
        record the words in ``result.missing``. Never silent.
    group_by_word : bool
        Split train/test by word so no word is in both (recommended: the same word
        in 15 contexts would otherwise leak). ``False`` splits sentences at random.
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
            )
        word_text = st.words.text
        rows: dict[str, np.ndarray] = {}
        targets: dict[str, np.ndarray] = {}
        groups: dict[str, np.ndarray] = {}
        missing_words: dict[str, list[str]] = {}
        for lang in langs:
            word_rows, _ = st.target_rows(lang)
            if word_rows.size == 0:
                raise InputError(
                    f"store has no flagged target words for language {lang!r}; extract a "
                    "word-in-context corpus (SentenceRecord.target) first"
                )
            words = [str(w) for w in word_text[word_rows]]
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
                )
            found = source.lookup(words, target, lang=norm_lang, casefold=casefold)
            if found.missing:
                missing_words[lang] = found.missing
                if missing == "error":
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
            rows[lang] = word_rows[keep]
            targets[lang] = found.values[keep]
            folded = np.array([w.casefold() if casefold else w for w in words], dtype=object)
            groups[lang] = folded[keep]

        def loader(layer: str, lang: str):
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


# -- overlap statistics ---------------------------------------------------------------------
def _clean_sets(sets: Mapping[str, Iterable[int]], what: str) -> dict[str, set[int]]:
    if not isinstance(sets, Mapping):
        raise InputError(f"{what}: sets must be a dict {{name: iterable of int ids}}")
    out: dict[str, set[int]] = {}
    for name, ids in sets.items():
        items = list(ids)
        if not items:
            raise InputError(f"{what}: set {name!r} is empty")
        if any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) for x in items):
            raise InputError(f"{what}: set {name!r} contains non-integer ids")
        if len(set(items)) != len(items):
            raise InputError(f"{what}: set {name!r} contains duplicate ids")
        out[str(name)] = {int(x) for x in items}
    return out


def mean_pairwise_overlap(sets: Mapping[str, Iterable[int]]) -> dict[str, float]:
    """MPO (seed 003 eq. 2): mean over the other languages of ``|top(l) ∩ top(l_i)|``."""
    clean = _clean_sets(sets, "MPO")
    if len(clean) < 2:
        raise InputError(f"MPO needs at least 2 sets, got {len(clean)}")
    names = list(clean)
    return {
        a: float(np.mean([len(clean[a] & clean[b]) for b in names if b != a])) for a in names
    }


@dataclass
class MixedModelResult:
    """Fixed effect of MPO on performance from the mixed model, plus Pearson's r."""

    slope: float
    se: float
    z: float
    pvalue: float
    intercept: float
    pearson_r: float
    pearson_p: float
    n: int
    n_languages: int
    variance_components: dict[str, float]
    random_effects: list[str]
    converged: bool
    method: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self.__dict__)


def mixed_model(
    performance: Sequence[float],
    mpo: Sequence[float],
    language: Sequence[str],
    model: Sequence[str] | None = None,
    variable: Sequence[str] | None = None,
    *,
    reml: bool = True,
) -> MixedModelResult:
    """Mixed-effects regression of probe performance on MPO (seed 003 §7).

    ``performance ~ mpo`` with a random intercept for language and uncorrelated
    random intercepts and slopes (on MPO) for model and for variable. The random
    effects are crossed, so they are fitted as variance components of a single
    all-encompassing group (statsmodels ``MixedLM``; lme4's
    ``(1|language) + (1|model) + (0+mpo|model) + (1|variable) + (0+mpo|variable)``).
    Factors with one level are left out (noted). Optimisers are tried in turn
    (L-BFGS, Powell, Nelder-Mead) until one converges. The slope's standard error is
    ``(X' V^-1 X)^-1`` at the estimated variance components (as lme4's ``vcov``) and
    the test is a Wald z test (the authors' lmerTest reports t with Satterthwaite
    df; ``z`` here is the same ratio B/SE). The plain
    Pearson correlation of performance and MPO is reported too, as in the authors'
    code.

    Raises
    ------
    InputError
        Fewer than 3 languages (sets), length mismatch, non-finite values, or
        constant MPO.
    """
    perf = check_vector(performance, "performance", min_len=3)
    x = check_vector(mpo, "mpo", min_len=3)
    n = perf.size
    lang = np.asarray([str(v) for v in language], dtype=object)
    factors = {"language": lang}
    for name, values in (("model", model), ("variable", variable)):
        if values is not None:
            factors[name] = np.asarray([str(v) for v in values], dtype=object)
    for name, arr in [("mpo", x), *factors.items()]:
        if len(arr) != n:
            raise InputError(f"{name} has {len(arr)} entries but performance has {n}")
    n_lang = len(set(lang))
    if n_lang < 3:
        raise InputError(
            f"the mixed model needs sets from at least 3 languages, got {n_lang}"
        )
    if np.ptp(x) == 0:
        raise InputError("MPO is constant: its effect cannot be estimated")

    import pandas as pd
    import statsmodels.formula.api as smf
    from scipy import stats

    df = pd.DataFrame({"performance": perf, "mpo": x, "group": 0})
    vc: dict[str, str] = {}
    notes: list[str] = []
    df["language"] = factors["language"]
    vc["language"] = "0 + C(language)"
    for name in ("model", "variable"):
        if name not in factors:
            continue
        if len(set(factors[name])) < 2:
            notes.append(f"{name} has one level: its random intercept and slope are omitted")
            continue
        df[name] = factors[name]
        vc[name] = f"0 + C({name})"
        vc[f"{name}:mpo"] = f"0 + C({name}):mpo"
    md = smf.mixedlm(
        "performance ~ mpo", df, groups="group", re_formula="0", vc_formula=vc
    )
    candidates = []  # (converged, log-likelihood, method, fit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("lbfgs", "powell", "nm"):
            try:
                fit = md.fit(reml=reml, method=[method])
            except (np.linalg.LinAlgError, ValueError) as exc:
                notes.append(f"{method} failed: {exc}")
                continue
            if not np.all(np.isfinite(fit.fe_params)):
                notes.append(f"{method} gave non-finite estimates")
                continue
            candidates.append((bool(getattr(fit, "converged", False)), float(fit.llf),
                               method, fit))
            if candidates[-1][0]:
                break
    if not candidates:
        raise InputError("the mixed model could not be fitted: " + "; ".join(notes))
    converged, _, method, fit = max(candidates, key=lambda c: (c[0], c[1]))
    if not converged:
        notes.append("optimizer did not report convergence")
    # statsmodels sorts the variance-component names; take them from the model.
    names = list(md.exog_vc.names)
    vcomp = dict(zip(names, (float(v) for v in np.atleast_1d(fit.vcomp))))
    # Standard errors of the fixed effects conditional on the estimated variance
    # components, (X' V^-1 X)^-1 with V = s2 I + sum_k tau_k Z_k Z_k' (lme4's vcov).
    # statsmodels' Hessian-based errors agree on well-posed fits but explode when a
    # component sits on the boundary (zero), which small designs often produce.
    V = float(fit.scale) * np.eye(n)
    for k, name in enumerate(names):
        Z = np.asarray(md.exog_vc.mats[k][0], dtype=np.float64)
        V += vcomp[name] * (Z @ Z.T)
    X_fe = np.asarray(md.exog, dtype=np.float64)
    cov_fe = np.linalg.inv(X_fe.T @ np.linalg.solve(V, X_fe))
    slope_index = list(md.exog_names).index("mpo")
    slope = float(fit.fe_params["mpo"])
    se = float(math.sqrt(cov_fe[slope_index, slope_index]))
    z = slope / se
    p_slope = float(2 * stats.norm.sf(abs(z)))
    r, p = stats.pearsonr(perf, x)
    return MixedModelResult(
        slope=slope,
        se=se,
        z=z,
        pvalue=p_slope,
        intercept=float(fit.fe_params["Intercept"]),
        pearson_r=float(r),
        pearson_p=float(p),
        n=int(n),
        n_languages=n_lang,
        variance_components=vcomp,
        random_effects=names,
        converged=converged,
        method=method,
        notes=notes,
    )


# -- unseen language ----------------------------------------------------------------------------
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
    standardize : bool
        z-score each neuron first so β is per standard deviation of activation.
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


def shared_neurons(
    sets: Mapping[str, Iterable[int]], min_sets: int | None = None
) -> dict[int, list[str]]:
    """Neurons in at least ``min_sets`` of the sets (default: in as many sets as any
    neuron is — the highest-degree non-empty intersections, seed 003 §5–6).

    Returns ``{neuron: [set names]}`` ordered by decreasing number of sets.
    """
    clean = _clean_sets(sets, "shared_neurons")
    members: dict[int, list[str]] = {}
    for name, ids in clean.items():
        for u in ids:
            members.setdefault(u, []).append(name)
    if not members:
        return {}
    top = max(len(v) for v in members.values())
    need = top if min_sets is None else min_sets
    chosen = {u: names for u, names in members.items() if len(names) >= need}
    return dict(sorted(chosen.items(), key=lambda kv: (-len(kv[1]), kv[0])))


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
    and noted in ``baseline["dropped_words"]``). ``kwargs`` go to the test."""
    from interlingua.core.store import ActivationStore

    own = not hasattr(store, "target_rows")
    st = ActivationStore.open(store) if own else store
    try:
        if str(layer) not in st.layers:
            raise InputError(f"store has no layer {layer!r} (layers: {', '.join(st.layers)})")
        word_rows, _ = st.target_rows(lang)
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


# -- overlap analysis over probe results -------------------------------------------------------
def overlap_analysis(
    probes: Sequence[LayerwiseProbe],
    *,
    k: int = 100,
    layers: Sequence[str | None] | None = None,
    labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Top-``k`` neuron sets per language → super exact test and MPO per probe run,
    then the mixed model of performance on MPO over all runs (seed 003 §5, §7).

    Parameters
    ----------
    probes : sequence of LayerwiseProbe
        One per (model, variable) run; the model name is ``meta["model"]``.
    k : int
        Neurons per language set (seed 003: 100).
    layers : sequence, optional
        Layer per run (``None`` = that run's best layer).
    labels : sequence of str, optional
        Names of the runs (default ``model:target``).
    """
    from interlingua.plugins.affective.superexact import SuperExact

    if not probes:
        raise InputError("no probe results given")
    layers = list(layers) if layers is not None else [None] * len(probes)
    if len(layers) != len(probes):
        raise InputError("give one layer per probe result")
    runs = []
    records = []
    for i, (probe, layer) in enumerate(zip(probes, layers)):
        layer = probe.best_layers(1)[0] if layer is None else str(layer)
        sets = probe.top_sets(layer, k)
        model = str(probe.meta.get("model") or f"model{i}")
        label = labels[i] if labels else f"{model}:{probe.target}"
        dim = len(next(iter(probe.weights.values()))[layer])
        entry: dict[str, Any] = {"label": label, "model": model, "variable": probe.target,
                                 "layer": layer, "k": k, "background": dim, "sets": sets}
        if len(sets) >= 2:
            test = SuperExact()(sets, background=dim)
            entry["superexact"] = test.details
            mpo = mean_pairwise_overlap(sets)
            entry["mpo"] = mpo
            for lang in probe.languages:
                records.append({"run": label, "model": model, "variable": probe.target,
                                "language": lang, "layer": layer,
                                "performance": probe.score(lang, layer), "mpo": mpo[lang]})
        else:
            entry["note"] = "one language: no overlap statistics"
        runs.append(entry)
    out: dict[str, Any] = {"runs": runs, "records": records}
    if len({r["language"] for r in records}) >= 3:
        perf = [r["performance"] for r in records]
        try:
            out["mixed_model"] = mixed_model(
                perf, [r["mpo"] for r in records], [r["language"] for r in records],
                [r["model"] for r in records], [r["variable"] for r in records],
            ).to_dict()
        except InputError as exc:
            out["mixed_model_note"] = f"mixed model not fitted: {exc}"
    else:
        out["mixed_model_note"] = "the mixed model needs at least 3 languages"
    return out
