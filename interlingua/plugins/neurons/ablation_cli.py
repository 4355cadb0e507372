"""``interlingua ablate MODEL CORPUS.tsv --lape LAPE_DIR -o OUT_DIR``: switch each
language's LAPE neurons off and measure every language's perplexity (Tang et al. 2024,
§3), against random-neuron controls of the same size, with bootstrap CIs.

The settings (mode, controls, bootstrap, batching, dtype, device, safety flags) are
options generated from :class:`~interlingua.plugins.neurons.ablation.AblationSettings`.
Writes ``ablation.json``, ``ablation.csv`` (one row per language off × language
evaluated) and ``ablation.png`` (heat map), all refused before any work when they exist
(without ``-f``) or are an input. torch and transformers are imported only when the
command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from interlingua.core.errors import InputError
from interlingua.plugins.neurons.ablation import AblationSettings
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


def _groups(corpus: Path, langs: list[str], n: int | None,
            skip: int = 0) -> dict[str, list[str]]:
    from interlingua.plugins.extraction.corpus import read_corpus

    groups: dict[str, list[str]] = {}
    for s in read_corpus(corpus, format="tsv").sentences:
        groups.setdefault(s.lang, []).append(s.text or " ".join(s.words))
    missing = [lang for lang in langs if lang not in groups]
    if missing:
        raise InputError(f"language(s) {', '.join(missing)} not in {corpus.name} (it has "
                         f"{', '.join(groups)})")
    short = [lang for lang in langs if len(groups[lang]) <= skip]
    if short:
        raise InputError(f"--skip {skip} leaves no sentence of {', '.join(short)} in "
                         f"{corpus.name}")
    return {lang: groups[lang][skip:skip + n] if n else groups[lang][skip:] for lang in langs}


@click.command("ablate", context_settings={"show_default": True})
@click.argument("model")
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lape", "lape_path", required=True,
              type=click.Path(exists=True, path_type=Path),
              help="The LAPE result of MODEL: the directory written by 'interlingua lape' "
                   "(lape.json + counts.h5), or its lape.json.")
@click.option("-o", "--out", type=click.Path(path_type=Path),
              help="Output directory (ablation.json, ablation.csv, ablation.png), or a .json "
                   "file (the others beside it).  [default: CORPUS.ablation/]")
@click.option("--langs", type=LIST, help="Languages (TSV columns) evaluated, in this order "
                                         "(default: the LAPE result's languages).")
@click.option("--off", "off", type=LIST, help="Languages whose neurons are switched off "
                                              "(default: every LAPE language with neurons).")
@click.option("--sentences", "n_sentences", type=click.IntRange(min=1),
              help="Use N sentences of each language (default: all).")
@click.option("--skip", type=click.IntRange(min=0), default=0,
              help="Skip the first N sentences of each language, e.g. those LAPE counted "
                   "on (lape --sentences N), so that the neurons are scored on held-out "
                   "text.")
@param_options(AblationSettings)
@click.option("--plot/--no-plot", default=True, help="Draw the PNG heat map.")
@overwrite_option
@click.option("--quiet", is_flag=True, help="No progress bar or tables.")
def ablate(model: str, corpus: Path, lape_path: Path, out: Path | None,
           langs: list[str] | None, off: list[str] | None, n_sentences: int | None,
           skip: int, plot: bool, overwrite: bool, quiet: bool, **values: Any) -> None:
    """Switch the language-specific neurons of MODEL (a LAPE result of it) off, one
    language at a time, and measure the perplexity of every language of CORPUS, a TSV
    with a header of language codes (Tang et al. 2024 §3).

    Decoders are scored by next-token loss, encoders with a masked-LM head by the loss
    of masked tokens (the same positions in every condition). Each cell compares the
    perplexity with the neurons off to the baseline (ratio, with a paired bootstrap CI
    over sentences) and to random-neuron controls of the same size per module.

    \b
    Examples:
      interlingua lape builtin:gemma-3-270m bible.tsv -o lape/ --sentences 200
      interlingua ablate builtin:gemma-3-270m bible.tsv --lape lape/ -o ablation/ \\
          --skip 200 --sentences 50
      interlingua ablate ./my-llama bible.tsv --lape lape/ --langs en,de,ru \\
          --sentences 200 --control-draws 5 --mode scale --value 0.5 -f
    """
    from interlingua.core.progress import rich_progress
    from interlingua.plugins.neurons.ablation import ablate_languages
    from interlingua.plugins.neurons.lape import lape_result_files, load_language_neurons

    settings = plugin_kwargs(AblationSettings, values)
    try:  # ranges before any work
        AblationSettings(**settings).check_params()
    except InputError as exc:
        raise click.UsageError(str(exc)) from None
    out = out or corpus.with_name(f"{corpus.stem}.ablation")
    write = {"overwrite": overwrite, "inputs": [corpus, lape_path, *lape_result_files(lape_path)]}
    json_path, *_ = check_results(out, "ablation", with_png=plot, **write)
    neurons = load_language_neurons(lape_path)
    groups = _groups(corpus, langs or neurons.languages, n_sentences, skip)
    progress = None if quiet else rich_progress(rate=True, transient=True, console=err_console)
    result = ablate_languages(model, groups, neurons, languages_off=off, progress=progress,
                              **settings)
    if not quiet:
        _tables(result, model, corpus)
    written = write_outputs(out, result.to_dict(), result.rows(), stem="ablation", **write)
    if plot:
        written.append(result.plot(json_path.with_suffix(".png"),
                                   title=f"{result.settings['mode']} language neurons: "
                                         f"{_short(model)}"))
    for path in written:
        console.print(f"wrote {path}")


def _short(model: str) -> str:
    """A model directory's name, else the name as given (hub id, builtin:)."""
    return Path(model).name if Path(model).is_dir() else model


def _ci(values: list[float] | None) -> str:
    return "—" if values is None else f"[{values[0]:.4f}, {values[1]:.4f}]"


def _tables(result: Any, model: str, corpus: Path) -> None:
    level = f"{result.settings['confidence']:.0%}"
    print_table(
        f"{_short(model)} on {corpus.name}: perplexity with each language's neurons "
        f"{result.settings['mode']} ({result.objective} LM loss)",
        ["language off", "neurons", "own ratio", "others ratio", "own − others",
         f"{level} CI", "control ratio", "own − control", f"{level} CI "],
        [[lang, sum(result.neurons[lang].values()), h["own_ratio"], h["others_ratio"],
          h["contrast"], _ci(h["contrast_ci"]), h["control_ratio"], h["own_vs_control"],
          _ci(h["own_vs_control_ci"])] for lang, h in result.headline.items()])
    print_table("perplexity ratio (off / base) — rows: neurons switched off, columns: "
                "language evaluated; control in parentheses",
                ["off \\ evaluated", *result.languages],
                [[lang, *(f"{format_value(c['ratio'])} ({format_value(c['control_ratio'])})"
                          for c in (result.cells[lang][e] for e in result.languages))]
                 for lang in result.off])
    print_table("baseline perplexity", ["language", "sentences", "tokens", "perplexity"],
                [[e, b["sentences"], b["tokens"], b["ppl"]]
                 for e, b in result.baseline.items()])
    if result.without_neurons:
        console.print(f"[dim]no LAPE neurons (no row): "
                      f"{', '.join(result.without_neurons)}[/dim]")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(ablate)
