"""The one result type of a layer-wise analysis, whatever the family.

A :class:`LayerwiseResult` holds one :class:`~interlingua.core.result.MetricResult` per
*series* and layer: the series are metrics (``compare``: ANC, CKA, …), languages
(affective probes), or language pairs (CALIGN per pair). It turns into JSON, CSV rows,
a table and a figure (one curve per series, seed 001 Figs 3–5) the same way for all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlingua.core.errors import InputError
from interlingua.core.result import MetricResult, to_jsonable


@dataclass
class LayerwiseResult:
    """``results[series][layer]`` is a :class:`MetricResult`.

    Attributes
    ----------
    layers : list of str
        Layer names in model order.
    results : dict
        Series label → layer → result. A series may miss layers (shown as gaps).
    meta : dict
        Provenance and settings (JSON-serialisable): stores, languages, parameters.
    """

    layers: list[str]
    results: dict[str, dict[str, MetricResult]]
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def single(cls, label: str, per_layer: Mapping[str, MetricResult],
               meta: Mapping[str, Any] | None = None) -> LayerwiseResult:
        """A result with one series (e.g. CALIGN of one language pair)."""
        return cls(list(per_layer), {label: dict(per_layer)}, dict(meta or {}))

    @property
    def series(self) -> list[str]:
        return list(self.results)

    def result(self, series: str, layer: str) -> MetricResult | None:
        """The result of one series at one layer (None when missing)."""
        if series not in self.results:
            raise InputError(f"no series {series!r}; have {', '.join(self.results)}")
        return self.results[series].get(str(layer))

    def values(self, series: str | None = None) -> list[float | None]:
        """Values of ``series`` (default: the only one) over :attr:`layers`."""
        if series is None:
            if len(self.results) != 1:
                raise InputError("several series: name one of " + ", ".join(self.results))
            series = next(iter(self.results))
        row = self.results[series]
        return [row[layer].value if layer in row else None for layer in self.layers]

    def curves(self) -> dict[str, list[float | None]]:
        """Series label → values over :attr:`layers`."""
        return {label: self.values(label) for label in self.results}

    def best_layer(self, series: str | None = None) -> str:
        """Layer with the highest finite value of ``series``."""
        pairs = [(v, layer) for v, layer in zip(self.values(series), self.layers)
                 if v is not None and v == v]
        if not pairs:
            raise InputError("no finite value in this series")
        return max(pairs)[1]

    def rows(self, *, series_name: str = "series") -> list[dict[str, Any]]:
        """Flat rows (one per layer and series) for CSV: value, p-value, CI and the
        scalar entries of ``details``."""
        out = []
        for layer in self.layers:
            for label, row in self.results.items():
                if layer not in row:
                    continue
                r = row[layer]
                flat: dict[str, Any] = {
                    "layer": layer, series_name: label, "value": r.value, "pvalue": r.pvalue,
                    "ci_low": r.ci[0] if r.ci else None,
                    "ci_high": r.ci[1] if r.ci else None,
                }
                for key, val in r.details.items():
                    if isinstance(val, (int, float, str)) and not isinstance(val, bool) \
                            and key not in flat:
                        flat[key] = val
                out.append(flat)
        return out

    def to_dict(self, *, full: bool = True) -> dict[str, Any]:
        """JSON form: ``meta`` entries, ``layers``, ``series`` and ``results``;
        ``full=False`` drops per-unit arrays."""
        results = {}
        for label, row in self.results.items():
            entry = {}
            for layer, r in row.items():
                d = r.to_dict()
                if not full:
                    d.pop("per_unit", None)
                entry[layer] = d
            results[label] = entry
        return to_jsonable({**self.meta, "layers": self.layers, "series": self.series,
                            "results": results})

    def plot(self, path: str | os.PathLike, *, ylabel: str, title: str,
             bold: Sequence[str] = (), ylim: tuple[float, float] | None = None) -> Path:
        """One curve per series over the layers (PNG)."""
        from interlingua.core.plotting import plot_layer_curves

        return plot_layer_curves(self.curves(), self.layers, ylabel=ylabel, title=title,
                                 path=path, bold=bold, ylim=ylim)


__all__ = ["LayerwiseResult"]
