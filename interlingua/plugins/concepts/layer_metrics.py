"""CALIGN and COLAP layer by layer over a concept file (seed 000 Figs 2, 7, 8).

:func:`calign_layerwise` and :func:`colap_layerwise` return the one per-layer result
type of the project, :class:`interlingua.core.layerwise.LayerwiseResult`:

* CALIGN — one series, the language pair ``"<source>-<target>"``; layers are the
  source layers (``"<s>-><t>"`` when ``target_layers`` pairs a source layer with
  another target layer);
* COLAP — the series ``"colap"`` and one series per language pair (``"de-en"``: the
  percentage of concepts where both languages reach θ_O, from ``details["pairs"]``).

:func:`calign_layers` / :func:`colap_layers` wrap them in :class:`MetricLayers`, an
adapter giving the JSON and CSV shape of the ``calign`` / ``colap`` commands
(``{"metric", <meta>, "layers": {layer: result}}``) and ``results[layer]`` access.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.concepts import Concepts
from interlingua.core.errors import InputError, StoreError
from interlingua.core.layerwise import LayerwiseResult
from interlingua.core.progress import Progress, as_progress
from interlingua.core.result import MetricResult, to_jsonable
from interlingua.core.suggest import did_you_mean
from interlingua.plugins.concepts.conceptfile import MIXED, list_runs, load_concepts

#: Per-concept details left out of the short JSON form (``full=False``).
_BULKY_DETAILS = ("pairs", "shares")


@dataclass
class MetricLayers:
    """One series of a :class:`~interlingua.core.layerwise.LayerwiseResult` in the
    shape of the concept commands' outputs (an adapter; it holds no data of its own).

    Attributes
    ----------
    layerwise : LayerwiseResult
        The result.
    metric : str
        ``"calign"`` or ``"colap"``: the JSON ``metric`` entry and the CSV value column.
    series : str
        The series shown (default: the first).
    """

    layerwise: LayerwiseResult
    metric: str
    series: str = ""

    def __post_init__(self) -> None:
        if not self.series:
            self.series = self.layerwise.series[0]

    @property
    def results(self) -> dict[str, MetricResult]:
        """Layer → result of the series."""
        return self.layerwise.results[self.series]

    @property
    def layers(self) -> list[str]:
        return list(self.layerwise.layers)

    @property
    def values(self) -> list[float]:
        return [r.value for r in self.results.values()]

    @property
    def meta(self) -> dict[str, Any]:
        return self.layerwise.meta

    def to_dict(self, *, full: bool = True) -> dict[str, Any]:
        """``{"metric": ..., <meta>, "layers": {layer: MetricResult.to_dict()}}``;
        ``full=False`` drops per-unit arrays and the per-concept details."""
        layers = {}
        for layer, res in self.results.items():
            d = res.to_dict()
            if not full:
                d["details"] = {k: v for k, v in d["details"].items()
                                if k not in _BULKY_DETAILS}
                d.pop("per_unit", None)
            layers[layer] = d
        meta = {k: v for k, v in self.meta.items() if k != "metric"}
        return {"metric": self.metric, **to_jsonable(meta), "layers": layers}

    def rows(self) -> list[dict[str, Any]]:
        """Flat per-layer rows for CSV: ``layer``, the value under the metric's name,
        the scalar details and, for COLAP, ``pair_<a>-<b>`` percentages."""
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
    """The layers with a run of ``key`` (a language or MIXED), checked against ``layers``."""
    runs = list_runs(path)
    available = [r["layer"] for r in runs if r["language"] == key]
    # An unknown language is a likelier typo than a missing layer.
    hint = "" if available else did_you_mean(key, sorted({r["language"] for r in runs}))
    if layers:
        missing = [str(x) for x in layers if str(x) not in available]
        if missing:
            raise StoreError(
                f"{path} has no concepts for {key} in layer(s) {', '.join(missing)}; "
                f"available: {', '.join(available) or 'none'}{hint}"
            )
        return [str(x) for x in layers]
    if not available:
        raise StoreError(f"{path} holds no concepts for {key}{hint}")
    return available


def calign_layerwise(
    concepts_path: str | os.PathLike,
    source: str,
    target: str,
    dictionary: Any,
    layers: Sequence[str] | None = None,
    *,
    target_layers: Sequence[str] | None = None,
    progress: Progress | None = None,
    **params: Any,
) -> LayerwiseResult:
    """CALIGN (seed 000 §2.2) per layer between the per-language runs ``source`` and
    ``target`` of a concept file.

    Parameters
    ----------
    concepts_path : path-like
        Concept file with per-language runs (``interlingua concepts``).
    source, target : str
        Languages of the source concepts C_s and the target concepts C_t.
    dictionary : Dictionary, mapping or pairs
        Source → target dictionary; a Dictionary is ranked into N-best lists once for
        all layers (:meth:`~interlingua.plugins.concepts.calign.CAlign.rank`).
    layers : sequence of str, optional
        Source layers (default: every layer with a ``source`` run).
    target_layers : sequence of str, optional
        Pairs each source layer with another target layer (e.g. the decoder of a
        seq2seq model, seed 000 Figs 21-23); by default the same layer.
    progress : Progress, optional
        One task advanced per layer (default: silent).
    **params
        Parameters of the ``calign`` metric (theta, nbest, min_types, max_size_diff,
        variant).

    Returns
    -------
    LayerwiseResult
        One series ``"<source>-<target>"``; ``meta``: metric, source, target, params.
    """
    from interlingua.registry import get_metric

    path = Path(concepts_path)
    metric = get_metric("calign", **params)
    dictionary = metric.rank(dictionary)
    src_layers = _layers_of(path, source, layers)
    tgt_layers = [str(x) for x in target_layers] if target_layers else src_layers
    if len(tgt_layers) != len(src_layers):
        raise InputError("target_layers must have one entry per source layer")
    _layers_of(path, target, tgt_layers)
    results = {}
    with as_progress(progress).task("CALIGN", total=len(src_layers)) as task:
        for s_layer, t_layer in zip(src_layers, tgt_layers):
            src = load_concepts(path, s_layer, source).concepts
            tgt = load_concepts(path, t_layer, target).concepts
            label = s_layer if s_layer == t_layer else f"{s_layer}->{t_layer}"
            results[label] = metric(src, tgt, dictionary)
            task.advance()
    meta = {"metric": "calign", "source": source, "target": target,
            "params": metric.get_params()}
    return LayerwiseResult.single(f"{source}-{target}", results, meta)


def colap_layerwise(
    concepts_path: str | os.PathLike,
    layers: Sequence[str] | None = None,
    *,
    languages: Sequence[str] | None = None,
    progress: Progress | None = None,
    **params: Any,
) -> LayerwiseResult:
    """COLAP (seed 000 §2.3) per layer of the mixed-language runs of a concept file.

    Parameters
    ----------
    concepts_path : path-like
        Concept file with mixed-language runs (``interlingua concepts --mixed``).
    layers : sequence of str, optional
        Layers (default: every layer with a mixed run).
    languages : sequence of str, optional
        Restrict the concepts to occurrences of these languages before computing the
        shares (default: all languages of the run).
    progress : Progress, optional
        One task advanced per layer (default: silent).
    **params
        Parameters of the ``colap`` metric (theta, min_languages).

    Returns
    -------
    LayerwiseResult
        Series ``"colap"`` and one series per language pair (value = percentage of
        concepts where both languages reach θ_O); ``meta``: metric, languages, params.
    """
    from interlingua.registry import get_metric

    path = Path(concepts_path)
    metric = get_metric("colap", **params)
    results = {}
    layer_list = _layers_of(path, MIXED, layers)
    with as_progress(progress).task("COLAP", total=len(layer_list)) as task:
        for layer in layer_list:
            run = load_concepts(path, layer, None)
            if languages:
                wanted = np.asarray(list(languages), dtype=object)
                mask = np.isin(run.languages, wanted)
                if not mask.any():
                    have = sorted({str(x) for x in run.languages})
                    hint = "".join(did_you_mean(lang, have) for lang in languages
                                   if lang not in have)
                    raise InputError(f"layer {layer}: none of the languages "
                                     f"{list(languages)}{hint} (run: {', '.join(have)})")
                concepts = Concepts.from_labels(run.words[mask], run.labels[mask],
                                                run.languages[mask])
            else:
                concepts = run.concepts
            results[layer] = metric(concepts)
            task.advance()
    series: dict[str, dict[str, MetricResult]] = {"colap": results}
    for layer, res in results.items():
        for pair, entry in res.details["pairs"].items():
            series.setdefault(pair, {})[layer] = MetricResult(
                entry["percent"], details={"n_overlapping": entry["n_overlapping"]},
                metric="colap")
    meta = {"metric": "colap", "languages": list(languages) if languages else None,
            "params": metric.get_params()}
    return LayerwiseResult(list(results), series, meta)


def calign_layers(
    concepts_path: str | os.PathLike,
    source: str,
    target: str,
    dictionary: Any,
    layers: Sequence[str] | None = None,
    *,
    target_layers: Sequence[str] | None = None,
    progress: Progress | None = None,
    **params: Any,
) -> MetricLayers:
    """:func:`calign_layerwise` in the shape of the ``calign`` command's output
    (``results[layer]``, ``to_dict()``, ``rows()``; see :class:`MetricLayers`)."""
    return MetricLayers(calign_layerwise(concepts_path, source, target, dictionary, layers,
                                         target_layers=target_layers, progress=progress,
                                         **params), "calign")


def colap_layers(
    concepts_path: str | os.PathLike,
    layers: Sequence[str] | None = None,
    *,
    languages: Sequence[str] | None = None,
    progress: Progress | None = None,
    **params: Any,
) -> MetricLayers:
    """:func:`colap_layerwise` in the shape of the ``colap`` command's output
    (series ``"colap"``; see :class:`MetricLayers`)."""
    return MetricLayers(colap_layerwise(concepts_path, layers, languages=languages,
                                        progress=progress, **params), "colap", "colap")


__all__ = ["MetricLayers", "calign_layers", "calign_layerwise", "colap_layers",
           "colap_layerwise"]
