"""``interlingua logit-lens MODEL CORPUS.tsv -o OUT_DIR``: the logit lens of a decoder
over a parallel corpus (Wendler et al. 2024) as a table, ``lens.json``, ``lens.csv`` and
``lens.png``.

The model settings (batch size, dtypes, device, safety flags) are options generated
from :class:`~interlingua.plugins.neurons.logit_lens.LensSettings`; torch and
transformers are imported only when the command runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from interlingua.core.errors import InputError
from interlingua.core.progress import rich_progress
from interlingua.plugins.neurons.logit_lens import LensSettings
from interlingua.registry.commands import (
    LIST,
    check_results,
    console,
    err_console,
    make_table,
    overwrite_option,
    param_options,
    plugin_kwargs,
    write_outputs,
)
from interlingua.registry.hookspecs import hookimpl


@click.command("logit-lens", context_settings={"show_default": True})
@click.argument("model")
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="Output directory (lens.json, lens.csv, lens.png), or a .json file (CSV "
                   "and PNG beside it).")
@click.option("--langs", type=LIST, help="Languages (columns) to read; default: all.")
@click.option("--sentences", "n_sentences", type=int,
              help="Use the first N rows of the corpus (default: all).")
@click.option("--layers", help="Hidden states to read, e.g. 0,6,-1 (0 = embeddings; "
                               "default: all).")
@param_options(LensSettings)
@overwrite_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def logit_lens_command(model: str, corpus: Path, out: Path, langs: list[str] | None,
                       n_sentences: int | None, layers: str | None, overwrite: bool,
                       quiet: bool, **settings: Any) -> None:
    """The logit lens of decoder MODEL over the parallel CORPUS (a TSV with a header of
    language codes): every layer read through the model's final norm and output head.

    Per language and layer: the probability and rank of the true next token, top-1
    accuracy, and the share of top-1 tokens that are English, the input language,
    another language, no word or undecided (the heuristic is documented in
    interlingua.plugins.neurons.logit_lens).

    \b
    Examples:
      interlingua logit-lens builtin:gemma-3-270m bible.tsv -o lens/
      interlingua logit-lens ./my-llama bible.tsv -o lens/ --langs en,de,zh --layers 0,8,16,-1
    """
    from interlingua.plugins.extraction.corpus import read_corpus
    from interlingua.plugins.neurons.logit_lens import logit_lens

    options = plugin_kwargs(LensSettings, settings)
    if options["batch_size"] < 1:
        raise InputError(f"--batch-size must be >= 1, got {options['batch_size']}")
    if n_sentences is not None and n_sentences < 1:
        raise InputError(f"--sentences must be >= 1, got {n_sentences}")
    write = {"overwrite": overwrite, "inputs": [corpus]}
    check_results(out, "lens", with_png=True, **write)  # before any model is loaded
    data = read_corpus(corpus, format="tsv")
    by_lang: dict[str, list[str]] = {}
    for s in data.sentences:
        if n_sentences is None or s.pair_id < n_sentences:
            by_lang.setdefault(s.lang, []).append(s.text or " ".join(s.words))
    if langs:
        missing = [lang for lang in langs if lang not in by_lang]
        if missing:
            raise InputError(f"language(s) {', '.join(missing)} not in {corpus.name} "
                             f"(it has {', '.join(by_lang)})")
        by_lang = {lang: by_lang[lang] for lang in langs}
    progress = None if quiet else rich_progress(transient=True, console=err_console)
    result = logit_lens(model, by_lang, layers=layers, progress=progress, **options)
    counts = ", ".join(f"{lang} {n}" for lang, n in result.meta["n_sentences"].items())
    console.print(make_table(
        f"logit lens of {model}: {counts} sentences", ["layer", *result.languages],
        [[layer, *(_cell(result.stats[lang][layer]) for lang in result.languages)]
         for layer in result.layers]))
    console.print("[dim]cells: p(true next token) / share of top-1 tokens that are English "
                  f"({result.english}) / the input language[/dim]")
    written = write_outputs(out, result.to_dict(), result.rows(), stem="lens", **write)
    written.append(result.plot(written[0].with_suffix(".png"), title=f"logit lens: {model}",
                               **write))
    for path in written:
        console.print(f"wrote {path}")


def _cell(s: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return "—" if v is None else f"{v:.2f}"

    return f"{fmt(s['prob'])} / {fmt(s['share_en'])} / {fmt(s['share_lang'])}"


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(logit_lens_command)
