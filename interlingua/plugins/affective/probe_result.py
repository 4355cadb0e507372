"""The result of layer-wise affective probing (seed 003 §4.3, Fig. 3).

:class:`LayerwiseProbe` is a :class:`~interlingua.core.layerwise.LayerwiseResult` whose
series are languages: ``results[lang][layer]`` is the ``affective-probe``
:class:`~interlingua.core.result.MetricResult` of that language and layer (``value`` =
test Pearson r, ``per_unit`` = the probe weights, ``details`` without the bulky
per-neuron lists). On top it carries the probed variable, the rows and dropped words
per language and the probe parameters, and adds seed 003's views: the mean curve over
languages, the best layer(s) by that mean and the top-k neuron sets.

Its JSON (``kind: "layerwise-probe"``, written by ``interlingua probe`` and read by
``interlingua overlap``) is the format of earlier releases, so result files written
before still load.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.layerwise import LayerwiseResult
from interlingua.core.result import MetricResult, to_jsonable
from interlingua.core.suggest import did_you_mean
from interlingua.plugins.affective.probe import AffectiveProbe, top_neurons

#: Per-neuron / per-row lists of the probe's details left out of a layer-wise result.
BULKY_DETAILS = ("ordering", "cumulative_mass", "test_rows")


def probe_entry(result: MetricResult) -> MetricResult:
    """The entry a :class:`LayerwiseProbe` keeps of one probe result: value, p-value,
    weights as float64 and the details without :data:`BULKY_DETAILS`."""
    return MetricResult(
        value=result.value,
        per_unit=np.asarray(result.per_unit, dtype=np.float64),
        pvalue=result.pvalue,
        ci=result.ci,
        details={k: v for k, v in result.details.items() if k not in BULKY_DETAILS},
        metric=result.metric or AffectiveProbe.name,
    )


@dataclass(eq=False)
class LayerwiseProbe(LayerwiseResult):
    """Probe results over layers × languages (series = languages).

    Attributes
    ----------
    layers : list of str
        Probed layers in model order.
    results : dict
        ``results[lang][layer]`` = the probe's result (see :func:`probe_entry`).
    meta : dict
        Free-form provenance (store path, model, ...).
    target : str
        Name of the predicted variable (e.g. ``"valence"``).
    n_rows : dict
        Rows (word occurrences) probed per language.
    missing : dict
        Words without a rating per language (dropped rows are reported here).
    params : dict
        Parameters of the probe metric.

    Notes
    -----
    ``languages``, ``scores`` (``scores[lang][i]`` = test r on ``layers[i]``),
    ``weights`` (``weights[lang][layer]``, one per neuron) and ``details``
    (``details[lang][layer]``) are views of :attr:`results`. A result read back with
    :meth:`from_dict` has no p-values (the JSON does not store them).
    """

    target: str = "rating"
    n_rows: dict[str, int] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_scores(
        cls,
        target: str,
        layers: Sequence[str],
        languages: Sequence[str],
        scores: Mapping[str, Sequence[float]],
        weights: Mapping[str, Mapping[str, Any]],
        details: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
        n_rows: Mapping[str, int] | None = None,
        missing: Mapping[str, list[str]] | None = None,
        params: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> LayerwiseProbe:
        """Build from per-language score lists and weight dicts (the JSON's layout).

        Parameters
        ----------
        target : str
            Name of the predicted variable.
        layers, languages : sequence of str
            Layers in model order; languages (the series).
        scores : mapping
            ``scores[lang][i]`` = test Pearson r on ``layers[i]`` (None = NaN).
        weights : mapping
            ``weights[lang][layer]`` = probe weights.
        details, n_rows, missing, params, meta : mapping, optional
            As the attributes of the same names.
        """
        layers = [str(layer) for layer in layers]
        details = details or {}
        results: dict[str, dict[str, MetricResult]] = {}
        for lang in languages:
            per_layer = details.get(lang, {})
            results[lang] = {
                layer: MetricResult(
                    value=math.nan if scores[lang][i] is None else float(scores[lang][i]),
                    per_unit=np.asarray(weights[lang][layer], dtype=np.float64),
                    details=dict(per_layer.get(layer, {})),
                    metric=AffectiveProbe.name,
                )
                for i, layer in enumerate(layers)
            }
        return cls(layers, results, dict(meta or {}), target=target,
                   n_rows=dict(n_rows or {}), missing=dict(missing or {}),
                   params=dict(params or {}))

    # -- views of the results ----------------------------------------------------------
    @property
    def languages(self) -> list[str]:
        """The probed languages (the series)."""
        return self.series

    @property
    def scores(self) -> dict[str, list[float]]:
        """``scores[lang][i]`` = test Pearson r on ``layers[i]`` (NaN when undefined)."""
        return {lang: [math.nan if v is None else float(v) for v in self.values(lang)]
                for lang in self.results}

    @property
    def weights(self) -> dict[str, dict[str, np.ndarray]]:
        """``weights[lang][layer]`` = probe weights (one per neuron)."""
        return {lang: {layer: r.per_unit for layer, r in row.items()}
                for lang, row in self.results.items()}

    @property
    def details(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``details[lang][layer]`` = the probe's details (without the bulky lists)."""
        return {lang: {layer: r.details for layer, r in row.items()}
                for lang, row in self.results.items()}

    def _layer(self, layer: str) -> str:
        layer = str(layer)
        if layer not in self.layers:
            raise InputError(f"layer {layer!r} was not probed (layers: "
                             f"{', '.join(self.layers)}){did_you_mean(layer, self.layers)}")
        return layer

    # -- seed 003 summaries ------------------------------------------------------------
    def mean_curve(self) -> list[float]:
        """Mean r over languages per layer (NaN-aware)."""
        scores = self.scores
        arr = np.array([scores[lang] for lang in self.languages], dtype=np.float64)
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

    def best_layer(self, series: str | None = None) -> str:
        """Best layer of one language, or (``series=None``) by the mean over languages."""
        if series is None:
            return self.best_layers(1)[0]
        return super().best_layer(series)

    def top_sets(self, layer: str | None = None, k: int = 100) -> dict[str, list[int]]:
        """Top-``k`` neurons by ``|w|`` per language on ``layer`` (default: best layer)."""
        layer = self.best_layers(1)[0] if layer is None else self._layer(layer)
        return {lang: top_neurons(self.results[lang][layer].per_unit, k).tolist()
                for lang in self.languages}

    def score(self, lang: str, layer: str) -> float:
        """Test Pearson r of ``lang`` on ``layer``."""
        return float(self.results[lang][self._layer(layer)].value)

    def rows(self, *, series_name: str = "language") -> list[dict[str, Any]]:
        """Flat rows (one per layer and language); see :meth:`LayerwiseResult.rows`."""
        return super().rows(series_name=series_name)

    # -- files -------------------------------------------------------------------------
    def to_dict(self, include_weights: bool = True, *, full: bool | None = None
                ) -> dict[str, Any]:
        """JSON-ready dictionary (``interlingua probe`` writes this).

        Parameters
        ----------
        include_weights : bool
            Include the weights (needed by :meth:`from_dict`).
        full : bool, optional
            :meth:`LayerwiseResult.to_dict`'s name for ``include_weights``.
        """
        if full is not None:
            include_weights = full
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
        return cls.from_scores(
            target=data["target"], layers=list(data["layers"]),
            languages=list(data["languages"]), scores=data["scores"],
            weights=data["weights"], details=dict(data.get("details", {})),
            n_rows=dict(data.get("n_rows", {})), missing=dict(data.get("missing", {})),
            params=dict(data.get("params", {})), meta=dict(data.get("meta", {})),
        )

    def plot(self, path: str | os.PathLike, title: str | None = None, *,
             ylabel: str = "Pearson r (test)", bold: Sequence[str] = ("mean",),
             ylim: tuple[float, float] | None = None) -> Path:
        """Layer curves like seed 003 Fig. 3: one per language, the mean bold."""
        from interlingua.core.plotting import plot_layer_curves

        curves: dict[str, Sequence[float]] = dict(self.scores)
        curves["mean"] = self.mean_curve()
        return plot_layer_curves(
            curves, self.layers, ylabel=ylabel,
            title=title or f"{self.target}: layer-wise probe", path=path, bold=bold,
            ylim=ylim,
        )


__all__ = ["BULKY_DETAILS", "LayerwiseProbe", "probe_entry"]
