"""``interlingua lape MODEL CORPUS.tsv -o OUT_DIR``: language-specific neurons (LAPE,
Tang et al. 2024, §2) of a model over a parallel (or comparable) TSV corpus.

Counting options (modules, batching, dtype, device, safety flags) are generated from
:class:`~interlingua.plugins.neurons.activation_probability.CountSettings`, selection
options from :class:`~interlingua.plugins.neurons.lape.LapeSettings`. Writes
``counts.h5`` (the streaming counts, mergeable, reusable), ``lape.json``, ``lape.csv``
(neurons per layer × language) and ``lape.png`` (stacked bars per layer), all refused
before any work when they exist (without ``-f``) or are the corpus.

Only ``click`` and light project modules are imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from interlingua.core.errors import InputError
from interlingua.plugins.neurons.activation_probability import CountSettings
from interlingua.plugins.neurons.lape import LapeSettings
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

_COUNT_OPTIONS = ("modules", "batch_size", "max_batch_tokens", "max_length", "model_dtype",
                  "device", "prefix", "revision", "trust_remote_code", "allow_pickle")


def counts_path(out: Path) -> Path:
    """Where ``lape`` writes the counts: ``OUT_DIR/counts.h5``, or ``X.counts.h5`` beside
    an ``X.json`` output."""
    out = Path(out)
    if out.suffix.lower() == ".json":
        return out.with_suffix(".counts.h5")
    return out / "counts.h5"


def _languages(corpus: Any, langs: list[str] | None, n: int | None) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for sentence in corpus:
        groups.setdefault(sentence.lang, []).append(sentence)
    chosen = langs or list(groups)
    for lang in chosen:
        if lang not in groups:
            raise InputError(f"language {lang!r} is not a column of the corpus "
                             f"(columns: {', '.join(groups)})")
    if len(dict.fromkeys(chosen)) < 2:
        raise InputError(f"LAPE compares languages: need at least two, got "
                         f"{', '.join(dict.fromkeys(chosen)) or 'none'}")
    return {lang: groups[lang][:n] if n else groups[lang] for lang in dict.fromkeys(chosen)}


@click.command("lape", context_settings={"show_default": True})
@click.argument("model")
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path),
              help="Output directory (counts.h5, lape.json, lape.csv, lape.png), or a .json "
                   "file (the others beside it).  [default: CORPUS.lape/]")
@click.option("--langs", type=LIST, help="Languages (TSV columns) to compare, in this order "
                                         "(default: all).")
@click.option("--sentences", "n_sentences", type=click.IntRange(min=1),
              help="Use the first N sentences of each language (default: all).")
@param_options(CountSettings, only=_COUNT_OPTIONS)
@param_options(LapeSettings)
@click.option("--plot/--no-plot", default=True, help="Draw the PNG of neurons per layer.")
@overwrite_option
@click.option("--quiet", is_flag=True, help="No progress bar or tables.")
def lape(model: str, corpus: Path, out: Path | None, langs: list[str] | None,
         n_sentences: int | None, plot: bool, overwrite: bool, quiet: bool,
         **values: Any) -> None:
    """Language-specific neurons of MODEL (LAPE, Tang et al. 2024 §2) over CORPUS, a
    TSV with a header of language codes (one sentence per cell).

    For every neuron of the chosen modules (default: the FFN activation-function output)
    and language, counts the tokens on which it is positive (padding and special tokens
    excluded), then keeps the neurons with a high activation probability in some language
    and the lowest entropy over languages.

    \b
    Examples:
      interlingua lape builtin:gemma-3-270m bible.tsv -o out/ --model-dtype bfloat16
      interlingua lape builtin:multilingual-e5-small pairs.tsv --langs en,de,ru \\
          --sentences 500 --prefix "passage: " -o e5-lape/
      interlingua lape ./my-llama bible.tsv --modules 'layers.*.mlp.act_fn' -f
    """
    from interlingua.core.progress import rich_progress
    from interlingua.plugins.extraction.corpus import read_corpus
    from interlingua.plugins.neurons.activation_probability import count_activations
    from interlingua.plugins.neurons.lape import select_language_neurons

    count_kw = plugin_kwargs(CountSettings, values)
    lape_kw = plugin_kwargs(LapeSettings, values)
    try:  # ranges before any work
        CountSettings(**count_kw).check_params()
        LapeSettings(**lape_kw).check_params()
    except InputError as exc:
        raise click.UsageError(str(exc)) from None
    out = out or corpus.with_name(f"{corpus.stem}.lape")
    write = {"overwrite": overwrite, "inputs": [corpus]}
    h5 = counts_path(out)
    json_path, *_ = check_results(out, "lape", with_png=plot, extra=[h5], **write)
    groups = _languages(read_corpus(corpus, format="tsv"), langs, n_sentences)
    progress = None if quiet else rich_progress(rate=True, transient=True, console=err_console)
    counts = count_activations(model, groups, progress=progress, **count_kw)
    result = select_language_neurons(counts, **lape_kw)
    if not quiet:
        _tables(result, model, corpus)
    written = [counts.to_hdf5(h5, **write)]
    written += write_outputs(out, result.to_dict(), result.layer_rows(), stem="lape", **write)
    if plot:
        written.append(result.plot(json_path.with_suffix(".png"),
                                   title=f"LAPE: {_short(model)} ({', '.join(result.languages)})"))
    for path in written:
        console.print(f"wrote {path}")


def _short(model: str) -> str:
    """A model directory's name, else the name as given (hub id, builtin:)."""
    return Path(model).name if Path(model).is_dir() else model


def _tables(result: Any, model: str, corpus: Path) -> None:
    counts = result.counts
    th = result.thresholds
    print_table(
        f"{_short(model)} on {corpus.name}: {int(result.selected.size)} language-specific of "
        f"{counts.n_neurons} neurons ({int(result.candidates.sum())} candidates; "
        f"p > {format_value(th['activation'])})",
        ["language", "sentences", "tokens", "neurons", "only this language"],
        [[lang, int(counts.sentences[i]), int(counts.tokens[i]),
          int(result.specific[i].sum()),
          int((result.specific[i] & (result.specific.sum(axis=0) == 1)).sum())]
         for i, lang in enumerate(result.languages)])
    print_table("language-specific neurons per layer (a neuron of several languages counts "
                "for each)", ["layer", *result.languages, "distinct"],
                [[row["layer"], *(row[lang] for lang in result.languages), row["selected"]]
                 for row in result.layer_rows()])
    overlaps = result.overlaps()
    if overlaps is None:
        console.print("[dim]overlaps: fewer than two languages have specific neurons[/dim]")
        return
    pair = overlaps.details["pairwise"]
    names = pair["names"]
    rows = []
    for i in range(len(names)):
        for k in range(i + 1, len(names)):
            if pair["observed"][i][k]:
                rows.append([f"{names[i]} ∩ {names[k]}", pair["observed"][i][k],
                             pair["fold_enrichment"][i][k], pair["log_pvalue"][i][k]])
    if rows:
        print_table(f"overlaps (super exact test, background "
                    f"{overlaps.details['background']} {overlaps.details['background_kind']})",
                    ["languages", "shared", "fold enrichment", "log p"], rows)
    else:
        console.print("[dim]no neuron is specific to two languages[/dim]")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(lape)
