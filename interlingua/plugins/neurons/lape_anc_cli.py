"""``interlingua lape-anc LAPE_DIR STORE [STORE_B] -o OUT``: per-neuron ANC correlations of
LAPE's language-specific neurons against the rest (:mod:`.lape_anc`), as a table,
``lape_anc.json``, ``lape_anc.csv`` and ``lape_anc.png`` — all refused before any work
when they exist (without ``-f``) or are an input.

Only ``click`` and light project modules are imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from interlingua.registry.commands import (
    check_results,
    console,
    format_value,
    overwrite_option,
    print_table,
    write_outputs,
)
from interlingua.registry.hookspecs import hookimpl

_PATH = click.Path(exists=True, path_type=Path)


@click.command("lape-anc", context_settings={"show_default": True})
@click.argument("lape_result", type=_PATH)
@click.argument("store_a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("store_b", required=False,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lang-a", help="Language of side A (default: the store's two languages, or "
                               "each store's only one).")
@click.option("--lang-b", help="Language of side B.")
@click.option("--level", type=click.Choice(["sentences", "words"]), default="sentences",
              help="Row level (words: word by word where paired sentences share their "
                   "words, else the flagged target words).")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=1000,
              help="Bootstrap resamples of the difference in mean |r| (0 = no CI).")
@click.option("--seed", type=int, default=0, help="Seed of the bootstrap.")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="Output directory (lape_anc.json, .csv, .png), or a .json file (the "
                   "others beside it).")
@click.option("--plot/--no-plot", default=True, help="Draw the PNG (|r| per layer and "
                                                     "category).")
@overwrite_option
def lape_anc_command(lape_result: Path, store_a: Path, store_b: Path | None,
                     lang_a: str | None, lang_b: str | None, level: str, n_bootstrap: int,
                     seed: int, out: Path, plot: bool, overwrite: bool) -> None:
    """Do LAPE's language-specific neurons correlate less across languages than the rest?

    LAPE_RESULT is the output of `interlingua lape` (directory or lape.json); STORE (and
    STORE_B) were extracted with module groups (`interlingua extract --modules
    mlp=mlp-act`) over parallel sentences, paired as `interlingua compare` pairs them.
    Per layer and overall: |r| (per-neuron Pearson r, ANC's per_unit) of the neurons
    specific to either language ("pair"), to other languages only ("other") and not
    selected ("unselected"), each against the rest: n, mean, median, difference in
    means with a bootstrap CI, Mann-Whitney U p-value. Constant neurons are counted,
    not compared.

    \b
    Examples:
      interlingua lape-anc lape/ gemma.h5 --lang-a en --lang-b de -o anc/
      interlingua lape-anc lape/lape.json en.h5 de.h5 -o anc.json --bootstrap 0
    """
    from interlingua.plugins.neurons.lape_anc import lape_anc

    inputs = [lape_result, store_a, store_b]
    if lape_result.is_dir():
        inputs += [lape_result / "lape.json", lape_result / "counts.h5"]
    write = {"overwrite": overwrite, "inputs": inputs}
    json_path, *_ = check_results(out, "lape_anc", with_png=plot, **write)
    result = lape_anc(lape_result, store_a, store_b, lang_a=lang_a, lang_b=lang_b,
                      level=level, n_bootstrap=n_bootstrap, seed=seed)
    _tables(result)
    written = write_outputs(out, result.to_dict(), result.rows(), stem="lape_anc", **write)
    if plot:
        written.append(result.plot(json_path.with_suffix(".png"), **write))
    for path in written:
        console.print(f"wrote {path}")


def _ci(row: dict[str, Any]) -> str:
    if row["ci_low"] is None:
        return "—"
    return f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"


def _tables(result: Any) -> None:
    meta = result.meta
    cols = ["layer", "n", "constant", "mean |r|", "median |r|", "rest mean |r|", "diff",
            "95% CI", "p (MWU)"]

    def cells(row: dict[str, Any]) -> list[Any]:
        diff = None if row["diff"] is None else f"{row['diff']:+.3f}"
        return [row["layer"] if row["layer"] != "all" else f"all ({row['category']})",
                row["n"], row["n_constant"], row["mean_abs_r"], row["median_abs_r"],
                row["rest_mean_abs_r"], diff or "—", _ci(row), row["pvalue"]]

    title = (f"|r| of neurons specific to {result.lang_a} or {result.lang_b} vs the rest "
             f"({meta['n_rows']} paired {meta['level']}, {meta['pairing']})")
    print_table(title, cols, [cells(r) for r in result.stats if r["category"] == "pair"]
                + [cells(r) for r in result.stats
                   if r["layer"] == "all" and r["category"] != "pair"])
    if meta["skipped_modules"]:
        console.print(f"[dim]LAPE modules not in the stores (skipped): "
                      f"{', '.join(meta['skipped_modules'][:6])}"
                      f"{' …' if len(meta['skipped_modules']) > 6 else ''}[/dim]")
    if meta["languages_without_lape"]:
        console.print(f"[yellow]{', '.join(meta['languages_without_lape'])} not among the "
                      f"LAPE languages ({', '.join(meta['lape_languages'])}): no neuron is "
                      f"specific to it[/yellow]")
    console.print(f"[dim]bootstrap: {format_value(meta['n_bootstrap'])} resamples, "
                  f"seed {meta['seed']}[/dim]")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(lape_anc_command)
