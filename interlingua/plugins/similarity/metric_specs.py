"""Metric specs of a comparison: ``"cka:debiased=true"`` → a paired metric and its label.

A spec is a registered metric name, optionally followed by ``:`` and ``key=value``
pairs parsed with the types the metric declares (its ``Param`` list), so the command
line and the Python API accept the same strings. The label (``cka[debiased=True]``)
names the series of a comparison: the name plus the parameters that differ from
their declared defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.suggest import did_you_mean

__all__ = ["metric_label", "paired_metrics", "parse_metric_spec"]


def parse_metric_spec(spec: str) -> Metric:
    """A metric instance from a spec.

    Parameters
    ----------
    spec : str
        ``"cka"`` or ``"cka:debiased=true,kernel=rbf"``.

    Returns
    -------
    Metric
        From the registry, with the given parameters.

    Raises
    ------
    InputError
        Empty name, malformed ``key=value``, or an undeclared parameter (with the
        closest declared one); an unknown metric name raises the registry's error.
    """
    from interlingua.registry import get_metric, get_registry

    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise InputError(f"empty metric name in {spec!r}")
    declared = {p.name: p for p in get_registry().info("metric", name).params}
    params: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, text = item.partition("=")
        if not eq:
            raise InputError(f"metric parameter {item!r} in {spec!r} is not key=value")
        key = key.strip()
        if key not in declared:
            raise InputError(
                f"metric {name!r} has no parameter {key!r}{did_you_mean(key, declared)} "
                f"(parameters: {', '.join(declared) or 'none'})"
            )
        params[key] = declared[key].parse(text.strip())
    return get_metric(name, **params)


def metric_label(metric: Metric) -> str:
    """``name`` plus the parameters that differ from their defaults.

    Examples
    --------
    ``cka``, ``cka[debiased=True]``, ``retrieval[method=csls,k=5]``.
    """
    changed = [f"{p.name}={getattr(metric, p.name)}" for p in metric.params
               if getattr(metric, p.name) != p.default]
    return metric.name + (f"[{','.join(changed)}]" if changed else "")


def paired_metrics(metrics: Iterable[Metric | str]) -> list[tuple[str, Metric]]:
    """``(label, metric)`` for each metric instance or spec, checked for a comparison.

    Raises
    ------
    InputError
        No metric, a metric that is not paired, or one label given twice.
    """
    out: list[tuple[str, Metric]] = []
    for m in metrics:
        metric = parse_metric_spec(m) if isinstance(m, str) else m
        if not isinstance(metric, Metric):
            raise InputError(f"not a metric: {m!r}")
        if metric.input_kind != "paired":
            raise InputError(
                f"metric {metric.name!r} takes {metric.input_kind} inputs; compare needs "
                "paired metrics (anc, cka, cca, svcca, pwcca, procrustes, retrieval, ...)"
            )
        label = metric_label(metric)
        if label in dict(out):
            raise InputError(f"metric {label} is given twice")
        out.append((label, metric))
    if not out:
        raise InputError("give at least one metric")
    return out
