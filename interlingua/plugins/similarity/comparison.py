"""The result of a layer-wise comparison: a
:class:`~interlingua.core.layerwise.LayerwiseResult` whose series are metric labels.

:class:`Comparison` is that result type (a subclass adding nothing but the spellings
the comparison result had before it became a ``LayerwiseResult``: ``labels`` for
``series``, ``info`` for ``meta``, and a ``"metrics"`` entry beside ``"series"`` in
:meth:`Comparison.to_dict`). The files of ``interlingua compare`` keep their
layout through :func:`comparison_json` and :func:`comparison_rows`.
"""

from __future__ import annotations

from typing import Any

from interlingua.core.layerwise import LayerwiseResult
from interlingua.core.result import to_jsonable

__all__ = ["Comparison", "comparison_json", "comparison_rows"]

#: Columns of ``compare.csv``.
CSV_COLUMNS = ("layer", "metric", "value", "pvalue", "ci_low", "ci_high")


class Comparison(LayerwiseResult):
    """Metric values per layer: ``results[label][layer]`` is a
    :class:`~interlingua.core.result.MetricResult`; ``meta`` holds the stores,
    languages, pairing, number of pairs ``n`` and the significance settings."""

    @property
    def labels(self) -> list[str]:
        """The metric labels (same as :attr:`series`)."""
        return self.series

    @property
    def info(self) -> dict[str, Any]:
        """Provenance and settings (same as :attr:`meta`)."""
        return self.meta

    def to_dict(self, *, full: bool = True) -> dict[str, Any]:
        """:meth:`LayerwiseResult.to_dict`, with the series also under ``"metrics"``."""
        out = super().to_dict(full=full)
        out["metrics"] = list(out["series"])
        return out


def comparison_json(result: LayerwiseResult) -> dict[str, Any]:
    """The JSON of ``interlingua compare``: the ``meta`` entries, ``layers``,
    ``metrics`` (the series) and ``results[label][layer]`` (full result dicts)."""
    data = LayerwiseResult.to_dict(result)
    return to_jsonable({**result.meta, "layers": data["layers"], "metrics": data["series"],
                        "results": data["results"]})


def comparison_rows(result: LayerwiseResult) -> list[dict[str, Any]]:
    """The CSV rows of ``interlingua compare``: one per layer and metric with
    :data:`CSV_COLUMNS` and the number of pairs ``n``."""
    n = result.meta.get("n")
    return [{**{key: row[key] for key in CSV_COLUMNS}, "n": n}
            for row in result.rows(series_name="metric")]
