"""``interlingua compare A.h5 [B.h5] --metric anc --metric cka ...``: layer-wise
representation similarity (seed 001 Figs 3–5) as a table, JSON/CSV and a PNG."""

from __future__ import annotations

from pathlib import Path

import click

from interlingua.core.errors import InputError
from interlingua.registry.commands import (
    check_results,
    console,
    format_value,
    make_progress,
    overwrite_option,
    print_table,
    write_outputs,
)
from interlingua.registry.hookspecs import hookimpl


@click.command(context_settings={"show_default": True})
@click.argument("store_a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("store_b", required=False,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-m", "--metric", "metrics", multiple=True, metavar="NAME[:K=V,...]",
              help="Paired metric, repeatable; parameters after a colon, e.g. "
                   "cka:debiased=true or retrieval:method=csls,k=10. "
                   "[default: anc and cka]")
@click.option("--lang-a", help="Language of the first side (one store: default = its two "
                               "languages).")
@click.option("--lang-b", help="Language of the second side.")
@click.option("--level", type=click.Choice(["sentences", "words"]), default="sentences",
              help="Row level: pooled sentences, or words (target words of parallel "
                   "sentences; word by word for two stores of the same text).")
@click.option("--layers", help="Comma-separated layer names (default: all shared layers).")
@click.option("-o", "--out", type=click.Path(path_type=Path),
              help="Output directory (compare.json, compare.csv, compare.png), or a .json "
                   "file (CSV and PNG beside it).")
@click.option("--dask", "dask_address", metavar="ADDRESS|local",
              help="Accumulate moments on a Dask cluster (scheduler address, or 'local' "
                   "for a LocalCluster).")
@click.option("--chunk-rows", type=int, default=16384,
              help="Rows per streamed chunk.")
@click.option("--permutations", type=int, default=0,
              help="Permutation-test shuffles per layer and metric (p-value).")
@click.option("--bootstrap", type=int, default=0,
              help="Bootstrap resamples per layer and metric (95% CI).")
@click.option("--significance-rows", type=int, default=5000,
              help="Random subsample (pairs) used by the permutation test and bootstrap.")
@click.option("--seed", type=int, default=0, help="Seed of subsampling and resampling.")
@click.option("--plot/--no-plot", default=True, help="Draw the PNG of curves over layers.")
@overwrite_option
def compare(store_a: Path, store_b: Path | None, metrics: tuple[str, ...], lang_a: str | None,
            lang_b: str | None, level: str, layers: str | None, out: Path | None,
            dask_address: str | None, chunk_rows: int, permutations: int, bootstrap: int,
            significance_rows: int, seed: int, plot: bool, overwrite: bool) -> None:
    """Compare representations layer by layer: two languages of one parallel store
    (sentences paired by pair_id) or two stores, with several paired metrics.

    \b
    Examples:
      interlingua compare bible.h5 --lang-a en --lang-b es -m anc -m cka -o out/
      interlingua compare en.h5 es.h5 --lang-a en --lang-b es -m cka:debiased=true
      interlingua compare big.h5 -m anc -m cka --dask local --permutations 200
    """
    from interlingua.plugins.similarity.compare import compare_layers, parse_metric_spec

    if permutations < 0 or bootstrap < 0:
        raise InputError("--permutations and --bootstrap must be ≥ 0")
    specs = list(metrics) or ["anc", "cka"]
    # Parse early so that a typo fails before any data is read.
    instances = [parse_metric_spec(s) for s in specs]
    layer_list = [x.strip() for x in layers.split(",") if x.strip()] if layers else None
    write = {"overwrite": overwrite, "inputs": [store_a, store_b]}
    if out is not None:  # refuse existing outputs / inputs before reading any data
        check_results(out, "compare", with_png=plot, **write)
    from interlingua.plugins.similarity.compare import pair_rows

    pairing = pair_rows(store_a, store_b, lang_a=lang_a, lang_b=lang_b, level=level)
    from interlingua.core.store import ActivationStore

    with ActivationStore.open(store_a) as st:
        n_layers = len(layer_list) if layer_list else len(st.layers)
    with make_progress(transient=True) as progress:
        task = progress.add_task(f"comparing {pairing.n} paired {level}", total=n_layers)
        result = compare_layers(
            store_a, store_b, instances, lang_a=lang_a, lang_b=lang_b, level=level,
            layers=layer_list, chunk_rows=chunk_rows, dask=dask_address,
            n_permutations=permutations, n_bootstrap=bootstrap,
            significance_rows=significance_rows, seed=seed,
            on_layer=lambda name: progress.advance(task),
        )
    sides = (f"{pairing.lang_a} vs {pairing.lang_b}" if pairing.lang_a else "A vs B")
    title = (f"{store_a.name}{' / ' + store_b.name if store_b else ''}: {sides}, "
             f"{result.info['n']} paired {level} ({result.info['pairing']})")
    columns = ["layer"]
    for label in result.labels:
        columns.append(label)
        if permutations:
            columns.append("p")
        if bootstrap:
            columns.append("95% CI")
    table_rows = []
    for layer in result.layers:
        row: list = [layer]
        for label in result.labels:
            r = result.results[label][layer]
            row.append(r.value)
            if permutations:
                row.append(r.pvalue)
            if bootstrap:
                row.append(format_value(r.ci) if r.ci else "—")
        table_rows.append(row)
    print_table(title, columns, table_rows)
    from interlingua.registry.messages import warn_nonfinite

    for label, metric in zip(result.labels, instances):
        warn_nonfinite(metric, result.results[label])
    if permutations or bootstrap:
        console.print(f"[dim]p-values / CIs from {result.info['significance_rows']} random "
                      f"pairs (seed {seed}); one-sided permutation test in each metric's "
                      f"similarity direction.[/dim]")
    if out is not None:
        written = write_outputs(out, result.to_dict(), result.rows(), stem="compare", **write)
        if plot:
            from interlingua.core.plotting import plot_layer_curves

            png = written[0].with_suffix(".png")
            plot_layer_curves(
                result.curves(), result.layers,
                ylabel="similarity" if all(m.higher_is_more_similar for m in instances)
                else "value (procrustes: distance, lower = more similar)",
                title=f"{sides} ({level})", path=png,
            )
            written.append(png)
        for path in written:
            console.print(f"wrote {path}")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(compare)
