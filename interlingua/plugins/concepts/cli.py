"""``interlingua concepts | calign | colap`` (seed 000).

* ``concepts STORE.h5 --layers 0,6,12 -k 600 [--mixed]`` discovers latent concepts
  per layer (per language, or on mixed data for COLAP) into a companion concept file.
* ``calign CONCEPTS.h5 --source de --target en --dictionary LEX`` and
  ``colap CONCEPTS.h5`` (:mod:`.metric_commands`) tabulate the metrics per layer, write
  JSON/CSV and PNG curves (seed 000 Figs 2, 7, 8) and, with ``--show N``, print the
  words of the top aligned / overlapping concepts side by side.
* ``induce-dictionary`` (:mod:`.dictionary_command`) word-aligns parallel text
  and writes the lexical translation table ``calign`` needs.

Options that set a plugin parameter (K, the CALIGN/COLAP thresholds) are generated
from the plugin's declared :class:`~interlingua.core.params.Param` list
(:func:`~interlingua.registry.commands.param_options`), so ``--help`` and
``interlingua plugins show NAME`` agree by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np

from interlingua.plugins.concepts.frequency import FrequencyFilter
from interlingua.plugins.concepts.kmeans import KMeansDiscoverer
from interlingua.plugins.concepts.metric_commands import LAYERS_HELP, calign, colap
from interlingua.registry.commands import LIST, param_options
from interlingua.registry.hookspecs import hookimpl

F = TypeVar("F", bound=Callable[..., Any])

#: Defaults of the frequency-filter options: those of :class:`.frequency.FrequencyFilter`.
_FILTER = FrequencyFilter.defaults()


# -- concepts -------------------------------------------------------------------------
@click.command("concepts", context_settings={"show_default": True})
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--layers", type=LIST, help=LAYERS_HELP)
@param_options(KMeansDiscoverer, only=("n_clusters",), flags={"n_clusters": ("-k", "--n-clusters")})
@click.option("--method", default="kmeans",
              help="Discoverer: kmeans, minibatch-kmeans, agglomerative or a plugin.")
@click.option("--mixed", is_flag=True,
              help="Cluster all languages together (COLAP) instead of per language (CALIGN).")
@click.option("--languages", type=LIST,
              help="Comma-separated languages (default: all in the store).")
@click.option("--min-freq", type=int, default=_FILTER["min_freq"],
              help="Keep word types seen at least this often.")
@click.option("--max-freq", type=int, default=_FILTER["max_freq"],
              help="Keep at most this many occurrences per type (0 = all).")
@click.option("--del-freq", type=int, default=_FILTER["del_freq"],
              help="Drop types seen more often than this (default: none).")
@click.option("--sample", type=click.Choice(["random", "first"]), default=_FILTER["sample"],
              help="Which occurrences survive --max-freq (seeded sample or ConceptX's first).")
@click.option("--seed", type=int, default=_FILTER["seed"],
              help="Seed of the filter and the clustering.")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Extra discoverer parameter, e.g. -p batch_size=8192.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Concept file (default: STORE.concepts.h5 beside the store).")
@click.option("--export-conceptx", type=click.Path(file_okay=False, path_type=Path),
              help="Also write ConceptX text files (word|||occ|||sent|||token|||cluster) here.")
@click.option("-f", "--overwrite", is_flag=True,
              help="Replace existing runs (same layer and language) in the concept file, "
                   "and existing ConceptX files. Other runs are kept; a file that is not a "
                   "concept file is never replaced.")
def concepts(store: Path, layers: list[str] | None, n_clusters: int, method: str, mixed: bool,
             languages: list[str] | None, min_freq: int, max_freq: int, del_freq: int | None,
             sample: str, seed: int, params: tuple[str, ...], out: Path | None,
             export_conceptx: Path | None, overwrite: bool) -> None:
    """Discover latent concepts (clusters of word occurrences) layer by layer
    (seed 000 §2.1, §3.2).

    \b
    Per language (input of `interlingua calign`):
      interlingua concepts acts.h5 --layers 0,6,12 -k 600
    Mixed languages (input of `interlingua colap`):
      interlingua concepts acts.h5 --layers 0,6,12 -k 600 --mixed
    """
    from interlingua.core.outputs import atomic_output, check_output_dir, check_outputs
    from interlingua.core.progress import rich_progress
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.concepts.conceptfile import MIXED, default_concepts_path
    from interlingua.plugins.concepts.pipeline import discover_concepts
    from interlingua.registry import get_registry
    from interlingua.registry.commands import (
        console,
        err_console,
        parse_plugin_params,
        print_table,
    )

    info = get_registry().info("discoverer", method)
    extra = parse_plugin_params(info.factory, params)
    declared = {p.name for p in info.params}
    for key, value in (("n_clusters", n_clusters), ("random_state", seed)):
        if key in declared:
            extra.setdefault(key, value)
    template = info.factory(**extra)
    freq = FrequencyFilter(min_freq=min_freq, max_freq=max_freq or None, del_freq=del_freq,
                           sample=sample, seed=seed)
    out = out or default_concepts_path(store)
    rows: list[tuple] = []
    with ActivationStore.open(store) as st:
        layer_list = layers or st.layers
        langs = languages or st.languages
        keys = [MIXED] if mixed else langs
        # Every refusal happens here, before any clustering.
        _check_concept_file(out, store, layer_list, keys, overwrite)
        conceptx = {}
        if export_conceptx is not None:
            check_output_dir(export_conceptx, [store, out])
            conceptx = {(str(layer), key): export_conceptx / _conceptx_name(str(layer), key)
                        for layer in layer_list for key in keys}
            check_outputs(conceptx.values(), [store, out], overwrite=overwrite)
        start = [time.perf_counter()]

        def done(run: Any) -> None:
            elapsed = time.perf_counter() - start[0]
            start[0] = time.perf_counter()
            rows.append((run.layer, run.key, int(run.rows.size),
                         len({(w, lang) for w, lang in zip(run.words, run.languages)}),
                         int(np.unique(run.labels).size), run.inertia, elapsed))

        # All or nothing: the runs go into a copy of the concept file that replaces it
        # only when every run (and ConceptX file) is written.
        with atomic_output(out, inputs=[store], update=True) as tmp:
            runs = discover_concepts(st, layer_list, discoverer=template, languages=langs,
                                     mixed=mixed, freq_filter=freq, output=tmp,
                                     overwrite=overwrite, callback=done,
                                     progress=rich_progress(console=err_console))
            for run in runs:
                if conceptx:
                    run.export_conceptx(conceptx[(run.layer, run.key)])
    print_table(f"concepts ({method}, K={n_clusters})",
                ["layer", "language", "occurrences", "types", "concepts", "inertia", "seconds"],
                rows)
    console.print(f"wrote {out}")
    if export_conceptx is not None:
        console.print(f"wrote ConceptX files to {export_conceptx}")


def _conceptx_name(layer: str, key: str) -> str:
    return f"clusters-{layer.replace('/', '_')}-{key}.txt"


def _check_concept_file(out: Path, store: Path, layers: list[str], keys: list[str],
                        overwrite: bool) -> None:
    """Pre-flight of ``concepts``: the concept file collects runs, so an existing one is
    updated (runs of the same layer and language need ``overwrite``); it is never the
    store, and any other existing file is refused, even with ``overwrite``."""
    from interlingua.core.errors import OutputError, StoreError
    from interlingua.core.outputs import check_outputs
    from interlingua.plugins.concepts.conceptfile import list_runs

    check_outputs([out], [store], overwrite=True)
    if not out.exists():
        return
    try:
        existing = {(r["layer"], r["language"]) for r in list_runs(out)}
    except StoreError:
        raise OutputError(f"{out} exists and is not a concept file; refusing to replace it "
                          "(choose another -o/--out)") from None
    clash = [f"{layer}@{key}" for layer in layers for key in keys
             if (str(layer), key) in existing]
    if clash and not overwrite:
        raise OutputError(f"{out} already holds concepts for {', '.join(clash)}; "
                          "pass overwrite=True (--overwrite) to replace them")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(concepts)
    cli.add_command(calign)
    cli.add_command(colap)


__all__ = ["calign", "colap", "concepts", "register_commands"]
