"""``interlingua extract``: run a model over a corpus into an activation store."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import click

from interlingua.core.errors import InputError
from interlingua.plugins.extraction.corpus import EMPTY_POLICIES, FORMATS, read_corpus
from interlingua.plugins.extraction.hf import HFExtractor
from interlingua.registry.commands import (
    console,
    err_console,
    format_value,
    make_table,
    param_options,
    plugin_kwargs,
)
from interlingua.registry.hookspecs import hookimpl

#: The hf extractor's parameters that are options of ``extract`` (help, defaults, types and
#: choices come from the plugin's declared ``Param``s), with today's flag spellings.
_HF_OPTIONS = ("layers", "modules", "module_layers", "hidden_states", "word_aggregation",
               "sentence_pooling", "dtype", "model_dtype", "batch_size", "max_batch_tokens",
               "sort_window", "window_mb", "max_length", "device", "prefix", "revision",
               "trust_remote_code", "allow_pickle")
_FLAGS = {"word_aggregation": "--word-agg", "sentence_pooling": "--sentence-pool"}
#: Options of the hf extractor that the neurox extractor does not have.
_HF_ONLY = ("layers", "modules", "module_layers", "hidden_states", "prefix", "max_length",
            "revision", "trust_remote_code", "sentence_pooling", "window_mb")


@click.command()
@click.argument("model")
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Store to write (HDF5).")
@click.option("--lang", default=None, help="Language of a plain-text / pre-tokenized corpus "
              "(default language for JSONL lines without 'lang').")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="Corpus format (auto: .jsonl/.tsv/.csv by extension, else plain text).")
@click.option("--empty", type=click.Choice(EMPTY_POLICIES), default="skip",
              show_default=True, help="Empty lines / cells: skip them (counted) or fail.")
@click.option("--extractor", type=click.Choice(["hf", "neurox"]), default="hf",
              show_default=True, help="hf (batched, exact word alignment) or NeuroX's own.")
@param_options(HFExtractor, only=_HF_OPTIONS, flags=_FLAGS)
@click.option("--resume", is_flag=True, help="Continue an interrupted extraction.")
@click.option("--discard-damaged", is_flag=True,
              help="With --resume: recompute a committed segment that fails its checksum "
                   "(and all later ones) instead of refusing to resume.")
@click.option("-f", "--overwrite", is_flag=True,
              help="Replace an existing store, or start an interrupted one again (never the "
                   "corpus; the old store is replaced only when the new one is complete).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def extract(model: str, corpus: Path, output: Path, lang: str | None, fmt: str, empty: str,
            extractor: str, resume: bool, discard_damaged: bool, overwrite: bool, quiet: bool,
            **values: Any) -> None:
    """Extract activations of MODEL over CORPUS into an HDF5 store.

    MODEL is a local model directory, a hub id, or builtin:multilingual-e5-small
    (offline). Every hidden layer is stored per word and per sentence; --modules adds
    the outputs of named modules as layer groups (--modules mlp=mlp-act: every block's
    FFN activation output, the neurons of LAPE, as layers mlp/0, mlp/1, ...).
    """
    from interlingua.core.outputs import check_outputs
    from interlingua.core.store import ActivationStore
    from interlingua.registry import get_extractor

    if discard_damaged and not resume:
        raise click.UsageError("--discard-damaged needs --resume")
    if extractor == "hf":
        ex = get_extractor("hf", model=model, **plugin_kwargs(HFExtractor, values),
                           progress=not quiet)
        try:
            ex.check_params()  # ranges (batch size, windows, ...) before any work
        except InputError as exc:
            raise click.UsageError(str(exc)) from None
    # Before reading anything: the corpus is never the store, and an existing store
    # needs --overwrite (or --resume, checked by the extractor).
    check_outputs([output], [corpus], overwrite=overwrite or resume)
    data = read_corpus(corpus, format=fmt, lang=lang, empty=empty)
    if data.n_skipped:
        err_console.print(f"[yellow]skipped {data.n_skipped} empty line(s)/cell(s)[/yellow]")
    if extractor != "hf":
        given = [_FLAGS.get(name, "--" + name.replace("_", "-")) for name in _HF_ONLY
                 if values[name] != HFExtractor.param_spec(name).default]
        if given:
            raise click.UsageError(f"{', '.join(given)} not supported by --extractor neurox")
        device = values["device"]
        ex = get_extractor("neurox", model=model, word_aggregation=values["word_aggregation"],
                           dtype=values["dtype"], device="cpu" if device == "auto" else device,
                           allow_pickle=values["allow_pickle"], progress=not quiet)
        reason = ex.unavailable_reason()
        if reason:
            raise click.ClickException(reason)
    with warnings.catch_warnings():
        # Truncation warnings are shown below from the store's counts.
        warnings.simplefilter("ignore", UserWarning)
        try:
            more = {"discard_damaged": True} if discard_damaged else {}
            path = ex.extract(data, output, resume=resume, overwrite=overwrite, **more)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(_interrupted(output)) from None
    run = getattr(ex, "last_run_", {})
    discarded = run.get("discarded_segments") or []
    if discarded:
        err_console.print(f"[yellow]discarded {len(discarded)} damaged or later segment(s) "
                          f"from {Path(discarded[0]).name} on; they were recomputed[/yellow]")
    if run.get("note") == "already complete":
        console.print(f"{path} is already complete; nothing to resume")
        return
    with ActivationStore.open(path) as st:
        attrs = st.attrs
        rows = [
            ("store", str(path)),
            ("model", attrs.get("model", "")),
            ("sentences", st.n_sentences),
            ("words", st.n_words),
            ("languages", ", ".join(st.languages)),
            ("layers", f"{len(st.layers)} ({st.layers[0]} … {st.layers[-1]})"),
            *([("module groups", ", ".join(json.loads(attrs["module_groups"])))]
              if attrs.get("module_groups") else []),
        ]
    if run.get("seconds"):
        rows.append(("speed", f"{run['sentences_per_s']:.1f} sentences/s, "
                              f"{run['tokens_per_s']:.0f} tokens/s"))
    console.print(make_table("extraction", ["", "value"],
                             [(k, v if isinstance(v, str) else format_value(v))
                              for k, v in rows]))
    n_trunc = int(attrs.get("n_truncated_sentences", 0) or 0)
    if n_trunc:
        limit = attrs.get("max_length", "the model's limit")
        err_console.print(
            f"[bold yellow]warning:[/bold yellow] {n_trunc} sentence(s) were longer than "
            f"max_length={limit} tokens and were truncated; "
            f"{attrs.get('n_truncated_words', '?')} word(s) beyond the limit are not stored"
        )
    n_untok = int(attrs.get("n_untokenized_words", 0) or 0)
    if n_untok:
        err_console.print(f"[yellow]warning:[/yellow] {n_untok} word(s) produced no tokens "
                          "and are not stored")
    n_targets = int(attrs.get("n_dropped_targets", 0) or 0)
    if n_targets:
        err_console.print(f"[yellow]warning:[/yellow] {n_targets} flagged target word(s) were "
                          "truncated away (their sentences have no target)")


def _interrupted(output: Path) -> str:
    """What Ctrl-C during an extraction left behind, and how to continue."""
    from interlingua.core.store_writer import partial_dir

    if partial_dir(output).is_dir():
        return "interrupted; committed batches are kept: rerun with --resume to continue"
    return "interrupted before anything was written; rerun the same command to start again"


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    from interlingua.plugins.extraction.corpus_cli import corpus

    cli.add_command(extract)
    cli.add_command(corpus)
