"""``interlingua induce-dictionary``: word-align parallel text (eflomal or IBM-1) and
write a lexical translation table (seed 000 §3.2)."""

from __future__ import annotations

from pathlib import Path

import click

from interlingua.core.errors import InputError
from interlingua.registry.commands import overwrite_option
from interlingua.registry.hookspecs import hookimpl


@click.command("induce-dictionary", context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-s", "--source", help="Source language (when INPUTS is one store).")
@click.option("-t", "--target", help="Target language (when INPUTS is one store).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (for --format moses: prefix of PREFIX.f2e / PREFIX.e2f).")
@click.option("--format", "fmt", type=click.Choice(["arrow", "tsv", "moses"]), default="arrow",
              help="arrow: 'src -> tgt: Probability = p, Count = c' (authors' script); "
                   "tsv: src<TAB>tgt<TAB>p; moses: lex.f2e/lex.e2f.")
@click.option("--backend", type=click.Choice(["eflomal", "ibm1"]), default="eflomal",
              help="Word aligner.")
@click.option("--symmetrization", default="grow-diag-final-and",
              type=click.Choice(["grow-diag-final-and", "intersection", "union"]))
@click.option("--iterations", type=int, default=10, help="EM iterations (ibm1).")
@click.option("--nbest", type=int, default=None, help="Keep N translations per word (arrow).")
@click.option("--reverse", is_flag=True, help="Write the target->source direction.")
@overwrite_option
def induce_dictionary(inputs: tuple[Path, ...], source: str | None, target: str | None,
                      out: Path, fmt: str, backend: str, symmetrization: str, iterations: int,
                      nbest: int | None, reverse: bool, overwrite: bool) -> None:
    """Induce a translation dictionary from parallel text (seed 000 §3.2): word
    alignment, symmetrisation, lexical translation probabilities.

    \b
    INPUTS: one activation store (with --source/--target; sentences paired by pair_id)
    or two line-aligned, whitespace-tokenised text files.
      interlingua induce-dictionary acts.h5 -s de -t en -o lex.de-en.txt
      interlingua induce-dictionary corpus.de corpus.en -o lex.de-en.txt --backend ibm1
    """
    from interlingua.core.outputs import check_outputs
    from interlingua.core.progress import rich_progress
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.concepts.dictionary_induction import (
        induce_from_files,
        induce_from_store,
    )
    from interlingua.plugins.concepts.pipeline import check_languages
    from interlingua.registry.commands import console, err_console, print_table

    targets = ([Path(f"{out}.f2e"), Path(f"{out}.e2f")] if fmt == "moses" else [out])
    check_outputs(targets, inputs, overwrite=overwrite)  # before any alignment work
    options = {"backend": backend, "symmetrization": symmetrization, "iterations": iterations,
               "progress": rich_progress(console=err_console)}
    if len(inputs) == 1:
        if not (source and target):
            raise InputError("with one store as input, give --source and --target languages")
        with ActivationStore.open(inputs[0]) as st:
            check_languages(st, [source, target])
            table = induce_from_store(st, source, target, **options)
    elif len(inputs) == 2:
        table = induce_from_files(inputs[0], inputs[1], **options)
    else:
        raise InputError("give one activation store or two parallel text files")
    if fmt == "arrow":
        written = [table.write_arrow(out, reverse=reverse, nbest=nbest)]
    elif fmt == "tsv":
        written = [table.write_tsv(out, reverse=reverse)]
    else:
        written = list(table.write_moses(out))
    d = table.dictionary(reverse=reverse)
    print_table("lexical translation table", ["quantity", "value"], [
        ("source words", len(d)), ("pairs", d.n_pairs),
        ("links", int(sum(c for (s, t), c in table.counts.items()
                          if "NULL" not in (s, t)))),
        ("backend", backend), ("symmetrization", symmetrization)])
    for path in written:
        console.print(f"wrote {path}")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(induce_dictionary)
