"""``interlingua concepts | calign | colap`` (seed 000).

* ``concepts STORE.h5 --layers 0,6,12 -k 600 [--mixed]`` discovers latent concepts
  per layer (per language, or on mixed data for COLAP) into a companion concept file.
* ``calign CONCEPTS.h5 --source de --target en --dictionary LEX`` and
  ``colap CONCEPTS.h5`` tabulate the metrics per layer, write JSON/CSV and PNG curves
  (seed 000 Figs 2, 7, 8) and, with ``--show N``, print the words of the top aligned /
  overlapping concepts side by side.
* ``induce-dictionary`` (:mod:`.dictionary_command`) word-aligns parallel text
  and writes the lexical translation table ``calign`` needs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from interlingua.core.errors import InputError
from interlingua.registry.commands import overwrite_option
from interlingua.registry.hookspecs import hookimpl

_LAYERS_HELP = "Comma-separated layer names (default: all layers)."


def _split(text: str | None) -> list[str] | None:
    if text is None or not text.strip():
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def _concept_file(path: Path) -> Path:
    """A concept file, or the companion file of an activation store."""
    import h5py

    from interlingua.core.h5files import open_hdf5
    from interlingua.plugins.concepts.pipeline import FORMAT, default_concepts_path

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if h5py.is_hdf5(str(path)):
        with open_hdf5(path, fix="write it again (`interlingua concepts`)") as f:
            fmt = f.attrs.get("format")
        if fmt == FORMAT:
            return path
        if fmt == "interlingua-activations":
            companion = default_concepts_path(path)
            if not companion.is_file():
                raise InputError(
                    f"{path} is an activation store and has no concept file "
                    f"{companion.name} yet; run `interlingua concepts {path}` first"
                )
            return companion
    raise InputError(f"{path} is neither a concept file nor an activation store")


# -- concepts -------------------------------------------------------------------------
@click.command("concepts", context_settings={"show_default": True})
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--layers", help=_LAYERS_HELP)
@click.option("-k", "--n-clusters", type=int, default=600, help="Number of concepts K.")
@click.option("--method", default="kmeans",
              help="Discoverer: kmeans, minibatch-kmeans, agglomerative or a plugin.")
@click.option("--mixed", is_flag=True,
              help="Cluster all languages together (COLAP) instead of per language (CALIGN).")
@click.option("--languages", help="Comma-separated languages (default: all in the store).")
@click.option("--min-freq", type=int, default=5, help="Keep word types seen at least this often.")
@click.option("--max-freq", type=int, default=10,
              help="Keep at most this many occurrences per type (0 = all).")
@click.option("--del-freq", type=int, default=None,
              help="Drop types seen more often than this (default: none).")
@click.option("--sample", type=click.Choice(["random", "first"]), default="random",
              help="Which occurrences survive --max-freq (seeded sample or ConceptX's first).")
@click.option("--seed", type=int, default=0, help="Seed of the filter and the clustering.")
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
def concepts(store: Path, layers: str | None, n_clusters: int, method: str, mixed: bool,
             languages: str | None, min_freq: int, max_freq: int, del_freq: int | None,
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
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.concepts.pipeline import (
        MIXED,
        FrequencyFilter,
        default_concepts_path,
        discover_concepts,
    )
    from interlingua.registry import get_registry
    from interlingua.registry.commands import (
        console,
        make_progress,
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
        layer_list = _split(layers) or st.layers
        langs = _split(languages) or st.languages
        keys = [MIXED] if mixed else langs
        n_runs = len(layer_list) * len(keys)
        # Every refusal happens here, before any clustering.
        _check_concept_file(out, store, layer_list, keys, overwrite)
        conceptx = {}
        if export_conceptx is not None:
            check_output_dir(export_conceptx, [store, out])
            conceptx = {(str(layer), key): export_conceptx / _conceptx_name(str(layer), key)
                        for layer in layer_list for key in keys}
            check_outputs(conceptx.values(), [store, out], overwrite=overwrite)
        start = [time.perf_counter()]
        # All or nothing: the runs go into a copy of the concept file that replaces it
        # only when every run (and ConceptX file) is written.
        with make_progress() as progress, \
                atomic_output(out, inputs=[store], update=True) as tmp:
            task = progress.add_task("clustering", total=n_runs)

            def done(run: Any) -> None:
                elapsed = time.perf_counter() - start[0]
                start[0] = time.perf_counter()
                rows.append((run.layer, run.key, int(run.rows.size),
                             len({(w, lang) for w, lang in zip(run.words, run.languages)}),
                             int(np.unique(run.labels).size), run.inertia, elapsed))
                progress.advance(task)

            runs = discover_concepts(st, layer_list, discoverer=template, languages=langs,
                                     mixed=mixed, freq_filter=freq, output=tmp,
                                     overwrite=overwrite, callback=done)
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
    from interlingua.plugins.concepts.pipeline import list_runs

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


# -- shared output ----------------------------------------------------------------------
def _check_results(metric: str, out: Path | None, plot: Path | None,
                   write: dict[str, Any]) -> None:
    """Pre-flight of :func:`_write_results` (before any concept file is read)."""
    from interlingua.core.outputs import check_outputs
    from interlingua.registry.commands import check_results

    if out is not None:
        check_results(out, metric, extra=[plot], **write)
    else:
        check_outputs([plot], write["inputs"], overwrite=write["overwrite"])


def _write_results(results: dict[str, Any], metric: str, out: Path | None,
                   plot: Path | None, title: str, write: dict[str, Any],
                   extra_curves: dict | None = None) -> None:
    from interlingua.core.plotting import plot_layer_curves
    from interlingua.registry.commands import console, write_outputs

    if out is not None:
        payload = {name: res.to_dict() for name, res in results.items()}
        csv_rows = []
        for name, res in results.items():
            for row in res.rows():
                csv_rows.append({"run": name, **row})
        for path in write_outputs(out, payload if len(payload) > 1 else next(
                iter(payload.values())), csv_rows, stem=metric, **write):
            console.print(f"wrote {path}")
    if plot is not None:
        first = next(iter(results.values()))
        layers = first.layers
        curves = {}
        for name, res in results.items():
            by_layer = dict(zip(res.layers, res.values))
            curves[name] = [by_layer.get(layer) for layer in layers]
        curves.update(extra_curves or {})
        plot_layer_curves(curves, layers, ylabel=f"{metric.upper()} (%)", title=title,
                          path=plot, ylim=(0, 100))
        console.print(f"wrote {plot}")


def _metric_options(func: Any) -> Any:
    opts = [
        click.option("--layers", help=_LAYERS_HELP),
        click.option("-o", "--out", type=click.Path(path_type=Path),
                     help="Write results: FILE.json (+ .csv beside it) or a directory."),
        click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
                     help="PNG of the metric per layer (one curve per concept file)."),
        click.option("--show", type=int, default=0,
                     help="Print the words of the top N concepts side by side."),
        click.option("--show-layer", help="Layer for --show (default: the last one)."),
        click.option("--names", help="Comma-separated curve names, one per concept file "
                     "(default: file names)."),
        overwrite_option,
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _run_names(paths: tuple[Path, ...], names: str | None) -> list[str]:
    given = _split(names)
    if given is not None:
        if len(given) != len(paths) or len(set(given)) != len(given):
            raise InputError(f"--names needs {len(paths)} distinct names, got {given}")
        return given
    out: list[str] = []
    for path in paths:
        name = path.name.removesuffix(".h5").removesuffix(".concepts")
        while name in out:
            name += "'"
        out.append(name)
    return out


# -- calign -------------------------------------------------------------------------------
@click.command("calign", context_settings={"show_default": True})
@click.argument("concept_files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-s", "--source", required=True, help="Source language (concepts C_s).")
@click.option("-t", "--target", required=True, help="Target language (concepts C_t).")
@click.option("-d", "--dictionary", "dictionary_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Source->target dictionary (Moses lex, MUSE, TSV; see --dict-format).")
@click.option("--dict-format", default="auto",
              type=click.Choice(["auto", "moses", "moses-arrow", "muse", "tsv"]))
@click.option("--swap", is_flag=True,
              help="Dictionary columns are target first (e.g. Moses lex.f2e: 'tgt src p').")
@click.option("--theta", type=float, default=0.8, help="θ_A.")
@click.option("--nbest", type=int, default=10, help="N-best translations per word.")
@click.option("--min-types", type=int, default=5, help="Concepts need more types than this.")
@click.option("--max-size-diff", type=float, default=0.4, help="Largest relative size gap.")
@click.option("--variant", type=click.Choice(["paper", "reference"]), default="paper",
              help="'reference' reproduces the authors' released script.")
@click.option("--target-layers", help="Pair each source layer with this target layer "
              "(e.g. decoder layers), comma-separated.")
@_metric_options
def calign(concept_files: tuple[Path, ...], source: str, target: str, dictionary_path: Path,
           dict_format: str, swap: bool, theta: float, nbest: int, min_types: int,
           max_size_diff: float, variant: str, target_layers: str | None, layers: str | None,
           out: Path | None, plot: Path | None, show: int, show_layer: str | None,
           names: str | None, overwrite: bool) -> None:
    """CALIGN (%) per layer: source concepts aligned to some target concept (seed 000 §2.2).

    CONCEPT_FILES are concept files written by `interlingua concepts` (or their
    activation stores); several files give several curves (e.g. base vs fine-tuned).

    \b
      interlingua calign acts.concepts.h5 -s de -t en -d lex.de-en.txt --plot calign.png
    """
    from interlingua.core.dictionary import Dictionary
    from interlingua.plugins.concepts.pipeline import calign_layers
    from interlingua.registry.commands import print_table

    cfiles = [_concept_file(path) for path in concept_files]
    write = {"overwrite": overwrite, "inputs": [*concept_files, *cfiles, dictionary_path]}
    _check_results("calign", out, plot, write)
    dictionary = Dictionary.read(dictionary_path, dict_format, swap=swap)
    params = {"theta": theta, "nbest": nbest, "min_types": min_types,
              "max_size_diff": max_size_diff, "variant": variant}
    results: dict[str, Any] = {}
    paths: dict[str, Path] = {}
    for cfile, name in zip(cfiles, _run_names(concept_files, names)):
        results[name] = calign_layers(cfile, source, target, dictionary, _split(layers),
                                      target_layers=_split(target_layers), **params)
        paths[name] = cfile
    _print_layer_table("CALIGN (%)", f"{source}->{target}", results, [
        ("aligned", "n_aligned"), ("concepts", "n_source_concepts"),
        ("eligible", "n_eligible_source"), ("% of eligible", "percent_of_eligible"),
        ("pairs", "n_aligned_pairs")], print_table)
    _write_results(results, "calign", out, plot, f"CALIGN {source}-{target}", write)
    if show:
        name = next(iter(results))
        from interlingua.plugins.concepts.tables import show_calign

        show_calign(results[name], show, show_layer, source, target, paths[name])


def _print_layer_table(title: str, what: str, results: dict[str, Any],
                       columns: list[tuple[str, str]], print_table: Any) -> None:
    rows = []
    for name, res in results.items():
        for layer, r in res.results.items():
            rows.append((name, layer, r.value, *[r.details.get(key) for _, key in columns]))
    print_table(f"{title} {what}", ["run", "layer", "%", *[c for c, _ in columns]], rows)


# -- colap --------------------------------------------------------------------------------
@click.command("colap", context_settings={"show_default": True})
@click.argument("concept_files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--languages", help="Only these languages (comma-separated; default all).")
@click.option("--theta", type=float, default=0.3, help="θ_O.")
@click.option("--min-languages", type=int, default=2,
              help="Languages that must each reach θ_O.")
@_metric_options
def colap(concept_files: tuple[Path, ...], languages: str | None, theta: float,
          min_languages: int, layers: str | None, out: Path | None, plot: Path | None,
          show: int, show_layer: str | None, names: str | None, overwrite: bool) -> None:
    """COLAP (%) per layer: mixed-data concepts shared by >= 2 languages (seed 000 §2.3).

    CONCEPT_FILES hold mixed-language runs (`interlingua concepts --mixed`).

    \b
      interlingua colap acts.concepts.h5 --plot colap.png --show 5
    """
    from interlingua.plugins.concepts.pipeline import colap_layers
    from interlingua.registry.commands import print_table

    cfiles = [_concept_file(path) for path in concept_files]
    write = {"overwrite": overwrite, "inputs": [*concept_files, *cfiles]}
    _check_results("colap", out, plot, write)
    results: dict[str, Any] = {}
    for cfile, name in zip(cfiles, _run_names(concept_files, names)):
        results[name] = colap_layers(cfile, _split(layers),
                                     languages=_split(languages), theta=theta,
                                     min_languages=min_languages)
    _print_layer_table("COLAP (%)", "", results, [
        ("overlapping", "n_overlapping"), ("concepts", "n_concepts"),
        ("all languages", "percent_all_languages")], print_table)
    first = next(iter(results.values()))
    pair_names = list(next(iter(first.results.values())).details["pairs"])
    if len(pair_names) > 1:
        rows = [(layer, *[r.details["pairs"][p]["percent"] for p in pair_names])
                for layer, r in first.results.items()]
        print_table("COLAP per language pair (%)", ["layer", *pair_names], rows)
    extra = {}
    if len(results) == 1 and len(pair_names) > 1:
        extra = {p: [first.results[layer].details["pairs"][p]["percent"]
                     for layer in first.layers] for p in pair_names}
    _write_results(results, "colap", out, plot, "COLAP", write, extra)
    if show:
        from interlingua.plugins.concepts.tables import show_colap

        show_colap(first, show, show_layer, cfiles[0])


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(concepts)
    cli.add_command(calign)
    cli.add_command(colap)
