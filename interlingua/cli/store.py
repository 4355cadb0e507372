"""Store commands: ``info``, ``import-neurox``, ``export-neurox``."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape

from interlingua.registry.commands import (
    LIST,
    console,
    format_value,
    make_table,
    overwrite_option,
)


@click.command()
@click.argument("store", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--verify", is_flag=True,
              help="Recompute the store's checksums (every dataset; the committed segments "
                   "of an unfinished store) and fail if any differs.")
def info(store: Path, as_json: bool, verify: bool) -> None:
    """Describe an activation store: model, layers, dims, languages, completeness."""
    from interlingua.core.locking import lock_holder
    from interlingua.core.store import ActivationStore
    from interlingua.core.store_writer import partial_dir, partial_info

    if verify:
        _verify(store, as_json)
        return
    if not store.exists() and partial_dir(store).is_dir():
        data = partial_info(store)
        holder = lock_holder(store)
        if as_json:
            click.echo(json.dumps({**data, "writer": holder}, indent=2, default=str))
            return
        if holder is not None:
            state = (f"[bold yellow]BEING WRITTEN[/bold yellow] by process "
                     f"{holder.get('pid', '?')}: {data['n_sentences']} sentences committed so far")
        else:
            state = ("[bold red]INCOMPLETE[/bold red]: the extraction was interrupted after "
                     f"{data['n_sentences']} sentences")
        console.print(
            f"[bold]{escape(str(store))}[/bold] — {state} "
            f"({data['n_words']} words, {data['segments']} committed segments in "
            f"{escape(data['partial_dir'])})"
            + ("" if holder else "; run the same extraction with --resume to finish it")
        )
        rows = [(k, format_value(data[k])) for k in ("model", "extractor", "dtype", "created")]
        console.print(make_table(None, ["attribute", "value"], rows, text_columns=2))
        return
    with ActivationStore.open(store, allow_incomplete=True) as st:
        data = st.info()
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    status = "[green]complete[/green]" if data["complete"] else (
        f"[bold red]INCOMPLETE[/bold red] (interrupted after {data['progress']} sentences; "
        "resume with --resume)"
    )
    console.print(f"[bold]{escape(data['path'])}[/bold] — {status}")
    keys = ["model", "model_revision", "extractor", "word_aggregation", "sentence_pooling",
            "dtype", "created", "finished", "interlingua_version", "n_sentences", "n_words",
            "n_pair_ids", "n_targets", "size_bytes"]
    skip = {"path", "languages", "layers", "complete", "progress", "format", "format_version",
            "fingerprint"}
    extra = [k for k in data if k not in keys and k not in skip]
    rows = [(k, format_value(data[k])) for k in keys + extra if k in data and data[k] != ""]
    console.print(make_table(None, ["attribute", "value"], rows, text_columns=2))
    langs = make_table("languages", ["language", "sentences"],
                       [(lang, str(n)) for lang, n in data["languages"].items()])
    console.print(langs)
    layer_rows = [
        (entry["name"],
         f"{entry['words_dim']} ({entry['words_dtype']})" if "words_dim" in entry else "—",
         f"{entry['sentences_dim']} ({entry['sentences_dtype']})"
         if "sentences_dim" in entry else "—")
        for entry in data["layers"]
    ]
    console.print(make_table(f"{len(layer_rows)} layers", ["layer", "words dim", "sentences dim"],
                             layer_rows))


def _verify(store: Path, as_json: bool) -> None:
    """``info --verify``: recompute checksums; a mismatch is an error naming the data."""
    from interlingua.core.checksums import scan_segments, verify_store
    from interlingua.core.errors import StoreError
    from interlingua.core.store_writer import partial_dir, read_manifest

    if not store.exists() and partial_dir(store).is_dir():
        if read_manifest(store).get("checksums") is None:
            raise StoreError(f"{store} (unfinished) carries no checksums; its integrity "
                             "cannot be verified")
        good, problem, _ = scan_segments(partial_dir(store), verify=True)
        if problem is not None:
            raise problem
        n, what = len(good), "committed segments (the store is unfinished)"
    else:
        n, what = verify_store(store), "datasets and the root attributes"
    if as_json:
        click.echo(json.dumps({"path": str(store), "verified": True, "count": n}))
    else:
        console.print(f"{escape(str(store))}: verified {n} {what}")


@click.command("import-neurox")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Store to write.")
@click.option("--lang", required=True, help="Language of the sentences.")
@click.option("--model", default="", help="Model name to record.")
@click.option("--format", "fmt", type=click.Choice(["auto", "hdf5", "json"]), default="auto",
              help="NeuroX file type (auto: by extension).")
@click.option("--dtype", type=click.Choice(["float32", "float16"]), default="float32")
@click.option("-f", "--overwrite", is_flag=True,
              help="Replace an existing output store (never the NeuroX file itself).")
def import_neurox(source: Path, output: Path, lang: str, model: str, fmt: str, dtype: str,
                  overwrite: bool) -> None:
    """Convert a NeuroX activation file (HDF5 or JSONL) into an interlingua store."""
    from interlingua.core import neurox_io
    from interlingua.core.outputs import check_outputs

    check_outputs([output], [source], overwrite=overwrite)
    if fmt == "auto":
        fmt = "json" if source.suffix.lower() in (".json", ".jsonl") else "hdf5"
    convert = neurox_io.import_neurox_json if fmt == "json" else neurox_io.import_neurox_hdf5
    convert(source, output, lang=lang, model=model, dtype=dtype, overwrite=overwrite)
    console.print(f"wrote {output}")


@click.command("export-neurox")
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="NeuroX file to write (.hdf5 or .json).")
@click.option("--layers", type=LIST, default=None, help="Layers to export (default: all).")
@overwrite_option
def export_neurox(store: Path, output: Path, layers: list[str] | None,
                  overwrite: bool) -> None:
    """Write a store's word-level activations in NeuroX's HDF5 or JSONL format."""
    from interlingua.core import neurox_io
    from interlingua.core.outputs import check_outputs
    from interlingua.core.store import ActivationStore

    check_outputs([output], [store], overwrite=overwrite)

    names = layers or None
    with ActivationStore.open(store) as st:
        if output.suffix.lower() in (".json", ".jsonl"):
            neurox_io.export_neurox_json(st, output, layers=names)
        else:
            neurox_io.export_neurox_hdf5(st, output, layers=names)
    console.print(f"wrote {output}")
