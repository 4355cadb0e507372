"""``interlingua compare A.h5 [B.h5] --metric anc --metric cka ...``: layer-wise
representation similarity (seed 001 Figs 3–5) as a table, JSON/CSV and a PNG.

The comparison settings (level, chunk rows, significance, seed) are options generated
from :class:`~interlingua.plugins.similarity.compare.CompareSettings`; a metric's own
parameters are given in its spec (``-m cka:debiased=true``) and parsed with the types
the metric declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from interlingua.core.errors import InputError
from interlingua.core.progress import rich_progress
from interlingua.plugins.similarity.compare import DEFAULT_METRICS, CompareSettings
from interlingua.registry.commands import (
    LIST,
    check_results,
    console,
    err_console,
    format_value,
    overwrite_option,
    param_options,
    plugin_kwargs,
    print_table,
    write_outputs,
)
from interlingua.registry.hookspecs import hookimpl

_FLAGS = {"n_permutations": "--permutations", "n_bootstrap": "--bootstrap"}


@click.command(context_settings={"show_default": True})
@click.argument("store_a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("store_b", required=False,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-m", "--metric", "metrics", multiple=True, metavar="NAME[:K=V,...]",
              help="Paired metric, repeatable; parameters after a colon, e.g. "
                   "cka:debiased=true or retrieval:method=csls,k=10. "
                   f"[default: {' and '.join(DEFAULT_METRICS)}]")
@click.option("--lang-a", help="Language of the first side (one store: default = its two "
                               "languages).")
@click.option("--lang-b", help="Language of the second side.")
@param_options(CompareSettings, only=("level",))
@click.option("--layers", type=LIST,
              help="Comma-separated layer names (default: all shared layers).")
@click.option("-o", "--out", type=click.Path(path_type=Path),
              help="Output directory (compare.json, compare.csv, compare.png), or a .json "
                   "file (CSV and PNG beside it).")
@click.option("--dask", "dask_address", metavar="ADDRESS|local",
              help="Stream the metrics over a Dask cluster (scheduler address, or "
                   "'local' for a LocalCluster).")
@param_options(CompareSettings, only=("chunk_rows", "n_permutations", "n_bootstrap",
                                      "significance_rows", "seed"), flags=_FLAGS)
@click.option("--plot/--no-plot", default=True, help="Draw the PNG of curves over layers.")
@overwrite_option
def compare(store_a: Path, store_b: Path | None, metrics: tuple[str, ...], lang_a: str | None,
            lang_b: str | None, layers: list[str] | None, out: Path | None,
            dask_address: str | None, plot: bool, overwrite: bool, **settings: Any) -> None:
    """Compare representations layer by layer: two languages of one parallel store
    (sentences paired by pair_id) or two stores, with several paired metrics.

    \b
    Examples:
      interlingua compare bible.h5 --lang-a en --lang-b es -m anc -m cka -o out/
      interlingua compare en.h5 es.h5 --lang-a en --lang-b es -m cka:debiased=true
      interlingua compare big.h5 -m anc -m cka --dask local --permutations 200
    """
    from interlingua.plugins.similarity.compare import compare_layers, parse_metric_spec
    from interlingua.plugins.similarity.comparison import comparison_json, comparison_rows

    options = plugin_kwargs(CompareSettings, settings)
    permutations, bootstrap = options["n_permutations"], options["n_bootstrap"]
    if permutations < 0 or bootstrap < 0:
        raise InputError("--permutations and --bootstrap must be ≥ 0")
    # Parse early so that a typo fails before any data is read.
    instances = [parse_metric_spec(s) for s in metrics or DEFAULT_METRICS]
    write = {"overwrite": overwrite, "inputs": [store_a, store_b]}
    if out is not None:  # refuse existing outputs / inputs before reading any data
        check_results(out, "compare", with_png=plot, **write)
    result = compare_layers(
        store_a, store_b, instances, lang_a=lang_a, lang_b=lang_b, layers=layers or None,
        dask=dask_address, progress=rich_progress(transient=True, console=err_console),
        **options,
    )
    meta, level = result.meta, options["level"]
    sides = f"{meta['lang_a']} vs {meta['lang_b']}" if meta["lang_a"] else "A vs B"
    title = (f"{store_a.name}{' / ' + store_b.name if store_b else ''}: {sides}, "
             f"{meta['n']} paired {level} ({meta['pairing']})")
    columns = ["layer"]
    for label in result.series:
        columns.append(label)
        if permutations:
            columns.append("p")
        if bootstrap:
            columns.append("95% CI")
    table_rows = []
    for layer in result.layers:
        row: list = [layer]
        for label in result.series:
            r = result.results[label][layer]
            row.append(r.value)
            if permutations:
                row.append(r.pvalue)
            if bootstrap:
                row.append(format_value(r.ci) if r.ci else "—")
        table_rows.append(row)
    print_table(title, columns, table_rows)
    from interlingua.registry.messages import warn_nonfinite

    for label, metric in zip(result.series, instances):
        warn_nonfinite(metric, result.results[label])
    if permutations or bootstrap:
        console.print(f"[dim]p-values / CIs from {meta['significance_rows']} random "
                      f"pairs (seed {options['seed']}); one-sided permutation test in each "
                      f"metric's similarity direction.[/dim]")
    if out is not None:
        written = write_outputs(out, comparison_json(result), comparison_rows(result),
                                stem="compare", **write)
        if plot:
            ylabel = "similarity" if all(m.higher_is_more_similar for m in instances) \
                else "value (procrustes: distance, lower = more similar)"
            written.append(result.plot(written[0].with_suffix(".png"), ylabel=ylabel,
                                       title=f"{sides} ({level})"))
        for path in written:
            console.print(f"wrote {path}")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(compare)
