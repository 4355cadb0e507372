"""The value a metric returns."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and non-finite floats to plain JSON values.

    Non-finite floats become ``None`` because JSON has no NaN/Infinity.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        return [to_jsonable(v) for v in items]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def nonfinite_name(value: Any) -> str | None:
    """``"NaN"``, ``"+inf"`` or ``"-inf"`` for a non-finite float, else ``None``.

    Parameters
    ----------
    value : object
        Anything; only floats (Python or numpy) can be non-finite.

    Returns
    -------
    str or None
        The name of the non-finite value, or ``None``.
    """
    if not isinstance(value, (float, np.floating)) or math.isfinite(value):
        return None
    if math.isnan(value):
        return "NaN"
    return "+inf" if value > 0 else "-inf"


@dataclass
class MetricResult:
    """Result of one metric computation.

    Attributes
    ----------
    value : float
        The headline number (e.g. ANC, CKA, CALIGN %).
    per_unit : numpy.ndarray or None
        One value per unit: per-neuron correlations (ANC), probe weights, per-concept
        flags (CALIGN), ...
    pvalue : float or None
        Significance, when the metric or a permutation test provides one.
    ci : tuple of float or None
        Confidence interval ``(low, high)``.
    details : dict
        Further JSON-serialisable information.
    metric : str
        Name of the metric that produced the result.
    params : dict
        Parameters the metric was called with.
    """

    value: float
    per_unit: np.ndarray | None = None
    pvalue: float | None = None
    ci: tuple[float, float] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    metric: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.value = float(self.value)
        if self.per_unit is not None:
            self.per_unit = np.asarray(self.per_unit)
        if self.pvalue is not None:
            self.pvalue = float(self.pvalue)
        if self.ci is not None:
            low, high = self.ci
            self.ci = (float(low), float(high))

    @property
    def value_note(self) -> str | None:
        """Why ``value`` is not a finite number, or ``None`` when it is.

        Returns
        -------
        str or None
            E.g. ``"metric 'cka' returned NaN; stored as null (JSON has no NaN)"``.
        """
        what = nonfinite_name(self.value)
        if what is None:
            return None
        name = f"metric {self.metric!r}" if self.metric else "the metric"
        return f"{name} returned {what}; stored as null (JSON has no {what})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary (non-finite floats become ``None``).

        A non-finite ``value`` becomes ``None`` and a ``value_note`` entry right after
        it says what the metric returned.
        """
        data: dict[str, Any] = {
            "metric": self.metric,
            "params": to_jsonable(self.params),
            "value": to_jsonable(self.value),
        }
        note = self.value_note
        if note is not None:
            data["value_note"] = note
        data.update({
            "pvalue": to_jsonable(self.pvalue),
            "ci": to_jsonable(self.ci),
            "per_unit": to_jsonable(self.per_unit),
            "details": to_jsonable(self.details),
        })
        return data

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __float__(self) -> float:
        return self.value
