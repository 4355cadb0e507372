"""One-line warnings shared by CLI commands."""

from __future__ import annotations

from typing import Any

from interlingua.registry.commands import err_console


def warn_nonfinite(metric: Any, results: dict[str, Any]) -> None:
    """Print one warning line if any result value is NaN or infinite.

    Parameters
    ----------
    metric : Metric
        The metric that produced the results (named with its provider).
    results : dict
        ``{layer: MetricResult}``; use ``{"": result}`` for a single result.
    """
    from interlingua.core.interfaces import plugin_label
    from interlingua.core.result import nonfinite_name

    bad = {key: nonfinite_name(r.value) for key, r in results.items()}
    bad = {key: what for key, what in bad.items() if what is not None}
    if not bad:
        return
    kinds = "/".join(sorted(set(bad.values())))
    where = "" if list(bad) == [""] else f" for layer(s) {', '.join(bad)}"
    err_console.print(
        f"warning: {plugin_label(metric)} returned {kinds}{where}; JSON output stores "
        "\"value\": null with a \"value_note\" (check the inputs, e.g. constant columns, "
        "or report it to the plugin's provider)",
        style="yellow", markup=False, soft_wrap=True, highlight=False,
    )
