"""``interlingua calign`` and ``interlingua colap``: the seed-000 metrics per layer over
one or more concept files, as tables, JSON/CSV (:class:`.layer_metrics.MetricLayers`
shape) and PNG curves. Registered by :mod:`.cli`.

The metric options (``--theta``, ``--nbest``, ``--min-types``, ``--max-size-diff``,
``--variant``; ``--theta``, ``--min-languages``) are generated from the declared
parameters of :class:`.calign.CAlign` and :class:`.colap.COlap`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from interlingua.core.errors import InputError
from interlingua.plugins.concepts.calign import CAlign
from interlingua.plugins.concepts.colap import COlap
from interlingua.registry.commands import LIST, overwrite_option, param_options, plugin_kwargs

LAYERS_HELP = "Comma-separated layer names (default: all layers)."


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
                   extra_series: dict[str, Any] | None = None) -> None:
    """JSON (one run: its dict; several: run name → dict), CSV rows with a ``run``
    column, and one curve per run (plus ``extra_series``) on the first run's layers."""
    from interlingua.core.layerwise import LayerwiseResult
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
        series = {name: res.results for name, res in results.items()}
        series.update(extra_series or {})
        LayerwiseResult(first.layers, series).plot(
            plot, ylabel=f"{metric.upper()} (%)", title=title, ylim=(0, 100))
        console.print(f"wrote {plot}")


def _metric_options(func: Any) -> Any:
    opts = [
        click.option("--layers", type=LIST, help=LAYERS_HELP),
        click.option("-o", "--out", type=click.Path(path_type=Path),
                     help="Write results: FILE.json (+ .csv beside it) or a directory."),
        click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
                     help="PNG of the metric per layer (one curve per concept file)."),
        click.option("--show", type=int, default=0,
                     help="Print the words of the top N concepts side by side."),
        click.option("--show-layer", help="Layer for --show (default: the last one)."),
        click.option("--names", type=LIST, help="Comma-separated curve names, one per "
                     "concept file (default: file names)."),
        overwrite_option,
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _run_names(paths: tuple[Path, ...], names: list[str] | None) -> list[str]:
    if names:
        if len(names) != len(paths) or len(set(names)) != len(names):
            raise InputError(f"--names needs {len(paths)} distinct names, got {names}")
        return names
    out: list[str] = []
    for path in paths:
        name = path.name.removesuffix(".h5").removesuffix(".concepts")
        while name in out:
            name += "'"
        out.append(name)
    return out


def _print_layer_table(title: str, what: str, results: dict[str, Any],
                       columns: list[tuple[str, str]]) -> None:
    from interlingua.registry.commands import print_table

    rows = []
    for name, res in results.items():
        for layer, r in res.results.items():
            rows.append((name, layer, r.value, *[r.details.get(key) for _, key in columns]))
    print_table(f"{title} {what}", ["run", "layer", "%", *[c for c, _ in columns]], rows)


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
@param_options(CAlign)
@click.option("--target-layers", type=LIST, help="Pair each source layer with this target "
              "layer (e.g. decoder layers), comma-separated.")
@_metric_options
def calign(concept_files: tuple[Path, ...], source: str, target: str, dictionary_path: Path,
           dict_format: str, swap: bool, target_layers: list[str] | None,
           layers: list[str] | None, out: Path | None, plot: Path | None, show: int,
           show_layer: str | None, names: list[str] | None, overwrite: bool,
           **values: Any) -> None:
    """CALIGN (%) per layer: source concepts aligned to some target concept (seed 000 §2.2).

    CONCEPT_FILES are concept files written by `interlingua concepts` (or their
    activation stores); several files give several curves (e.g. base vs fine-tuned).

    \b
      interlingua calign acts.concepts.h5 -s de -t en -d lex.de-en.txt --plot calign.png
    """
    from interlingua.core.dictionary import Dictionary
    from interlingua.plugins.concepts.conceptfile import resolve_concept_file
    from interlingua.plugins.concepts.layer_metrics import calign_layers

    cfiles = [resolve_concept_file(path) for path in concept_files]
    write = {"overwrite": overwrite, "inputs": [*concept_files, *cfiles, dictionary_path]}
    _check_results("calign", out, plot, write)
    dictionary = Dictionary.read(dictionary_path, dict_format, swap=swap)
    params = plugin_kwargs(CAlign, values)
    results: dict[str, Any] = {}
    paths: dict[str, Path] = {}
    for cfile, name in zip(cfiles, _run_names(concept_files, names)):
        results[name] = calign_layers(cfile, source, target, dictionary, layers,
                                      target_layers=target_layers, **params)
        paths[name] = cfile
    _print_layer_table("CALIGN (%)", f"{source}->{target}", results, [
        ("aligned", "n_aligned"), ("concepts", "n_source_concepts"),
        ("eligible", "n_eligible_source"), ("% of eligible", "percent_of_eligible"),
        ("pairs", "n_aligned_pairs")])
    _write_results(results, "calign", out, plot, f"CALIGN {source}-{target}", write)
    if show:
        name = next(iter(results))
        from interlingua.plugins.concepts.tables import show_calign

        show_calign(results[name], show, show_layer, source, target, paths[name])


# -- colap --------------------------------------------------------------------------------
@click.command("colap", context_settings={"show_default": True})
@click.argument("concept_files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--languages", type=LIST,
              help="Only these languages (comma-separated; default all).")
@param_options(COlap)
@_metric_options
def colap(concept_files: tuple[Path, ...], languages: list[str] | None,
          layers: list[str] | None, out: Path | None, plot: Path | None, show: int,
          show_layer: str | None, names: list[str] | None, overwrite: bool,
          **values: Any) -> None:
    """COLAP (%) per layer: mixed-data concepts shared by >= 2 languages (seed 000 §2.3).

    CONCEPT_FILES hold mixed-language runs (`interlingua concepts --mixed`).

    \b
      interlingua colap acts.concepts.h5 --plot colap.png --show 5
    """
    from interlingua.plugins.concepts.conceptfile import resolve_concept_file
    from interlingua.plugins.concepts.layer_metrics import colap_layers
    from interlingua.registry.commands import print_table

    cfiles = [resolve_concept_file(path) for path in concept_files]
    write = {"overwrite": overwrite, "inputs": [*concept_files, *cfiles]}
    _check_results("colap", out, plot, write)
    params = plugin_kwargs(COlap, values)
    results: dict[str, Any] = {}
    for cfile, name in zip(cfiles, _run_names(concept_files, names)):
        results[name] = colap_layers(cfile, layers, languages=languages, **params)
    _print_layer_table("COLAP (%)", "", results, [
        ("overlapping", "n_overlapping"), ("concepts", "n_concepts"),
        ("all languages", "percent_all_languages")])
    first = next(iter(results.values()))
    pair_names = list(next(iter(first.results.values())).details["pairs"])
    if len(pair_names) > 1:
        rows = [(layer, *[r.details["pairs"][p]["percent"] for p in pair_names])
                for layer, r in first.results.items()]
        print_table("COLAP per language pair (%)", ["layer", *pair_names], rows)
    extra = {}
    if len(results) == 1 and len(pair_names) > 1:
        # One curve per language pair: the pair series of the result.
        extra = {p: first.layerwise.results[p] for p in pair_names}
    _write_results(results, "colap", out, plot, "COLAP", write, extra)
    if show:
        from interlingua.plugins.concepts.tables import show_colap

        show_colap(first, show, show_layer, cfiles[0])


__all__ = ["LAYERS_HELP", "calign", "colap"]
