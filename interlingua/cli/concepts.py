"""``interlingua concepts | calign | colap | induce-dictionary`` (seed 000).

* ``concepts STORE.h5 --layers 0,6,12 -k 600 [--mixed]`` discovers latent concepts
  per layer (per language, or on mixed data for COLAP) into a companion concept file.
* ``calign CONCEPTS.h5 --source de --target en --dictionary LEX`` and
  ``colap CONCEPTS.h5`` tabulate the metrics per layer, write JSON/CSV and PNG curves
  (seed 000 Figs 2, 7, 8) and, with ``--show N``, print the words of the top aligned /
  overlapping concepts side by side.
* ``induce-dictionary`` word-aligns parallel text (eflomal or IBM-1) and writes a
  lexical translation table.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..core.errors import InputError

_LAYERS_HELP = "Comma-separated layer names (default: all layers)."


def _split(text: str | None) -> list[str] | None:
    if text is None or not text.strip():
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def _concept_file(path: Path) -> Path:
    """A concept file, or the companion file of an activation store."""
    import h5py

    from ..analysis.concepts import FORMAT, default_concepts_path

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if h5py.is_hdf5(str(path)):
        with h5py.File(path, "r") as f:
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
@click.option("--overwrite", is_flag=True, help="Replace existing runs in the concept file.")
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
    from ..analysis.concepts import (
        FrequencyFilter,
        default_concepts_path,
        discover_concepts,
    )
    from ..core.store import ActivationStore
    from ..registry import get_registry
    from ._common import console, make_progress, parse_plugin_params, print_table

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
        n_runs = len(layer_list) * (1 if mixed else len(langs))
        start = [time.perf_counter()]
        with make_progress() as progress:
            task = progress.add_task("clustering", total=n_runs)

            def done(run: Any) -> None:
                elapsed = time.perf_counter() - start[0]
                start[0] = time.perf_counter()
                rows.append((run.layer, run.key, int(run.rows.size),
                             len({(w, lang) for w, lang in zip(run.words, run.languages)}),
                             int(np.unique(run.labels).size), run.inertia, elapsed))
                if export_conceptx is not None:
                    name = f"clusters-{run.layer.replace('/', '_')}-{run.key}.txt"
                    run.export_conceptx(export_conceptx / name)
                progress.advance(task)

            discover_concepts(st, layer_list, discoverer=template, languages=langs,
                              mixed=mixed, freq_filter=freq, output=out, overwrite=overwrite,
                              callback=done)
    print_table(f"concepts ({method}, K={n_clusters})",
                ["layer", "language", "occurrences", "types", "concepts", "inertia", "seconds"],
                rows)
    console.print(f"wrote {out}")
    if export_conceptx is not None:
        console.print(f"wrote ConceptX files to {export_conceptx}")


# -- shared output ----------------------------------------------------------------------
def _write_results(results: dict[str, Any], metric: str, out: Path | None,
                   plot: Path | None, title: str, extra_curves: dict | None = None) -> None:
    from ..plotting import plot_layer_curves
    from ._common import console, write_outputs

    if out is not None:
        payload = {name: res.to_dict() for name, res in results.items()}
        csv_rows = []
        for name, res in results.items():
            for row in res.rows():
                csv_rows.append({"run": name, **row})
        for path in write_outputs(out, payload if len(payload) > 1 else next(
                iter(payload.values())), csv_rows, stem=metric):
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
           names: str | None) -> None:
    """CALIGN (%) per layer: source concepts aligned to some target concept (seed 000 §2.2).

    CONCEPT_FILES are concept files written by `interlingua concepts` (or their
    activation stores); several files give several curves (e.g. base vs fine-tuned).

    \b
      interlingua calign acts.concepts.h5 -s de -t en -d lex.de-en.txt --plot calign.png
    """
    from ..analysis.concepts import calign_layers
    from ..core.dictionary import Dictionary
    from ._common import print_table

    dictionary = Dictionary.read(dictionary_path, dict_format, swap=swap)
    params = {"theta": theta, "nbest": nbest, "min_types": min_types,
              "max_size_diff": max_size_diff, "variant": variant}
    results: dict[str, Any] = {}
    paths: dict[str, Path] = {}
    for path, name in zip(concept_files, _run_names(concept_files, names)):
        cfile = _concept_file(path)
        results[name] = calign_layers(cfile, source, target, dictionary, _split(layers),
                                      target_layers=_split(target_layers), **params)
        paths[name] = cfile
    _print_layer_table("CALIGN (%)", f"{source}->{target}", results, [
        ("aligned", "n_aligned"), ("concepts", "n_source_concepts"),
        ("eligible", "n_eligible_source"), ("% of eligible", "percent_of_eligible"),
        ("pairs", "n_aligned_pairs")], print_table)
    _write_results(results, "calign", out, plot, f"CALIGN {source}-{target}")
    if show:
        name = next(iter(results))
        _show_calign(results[name], show, show_layer, source, target, paths[name])


def _print_layer_table(title: str, what: str, results: dict[str, Any],
                       columns: list[tuple[str, str]], print_table: Any) -> None:
    rows = []
    for name, res in results.items():
        for layer, r in res.results.items():
            rows.append((name, layer, r.value, *[r.details.get(key) for _, key in columns]))
    print_table(f"{title} {what}", ["run", "layer", "%", *[c for c, _ in columns]], rows)


def _show_calign(res: Any, n: int, layer: str | None, source: str, target: str,
                 path: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..analysis.concepts import load_concepts
    from ._common import console

    layer = layer or res.layers[-1]
    if layer not in res.results:
        raise InputError(f"--show-layer {layer!r} not among {res.layers}")
    pairs = sorted(res.results[layer].details["pairs"],
                   key=lambda p: (-p["ratio"], -p["source_types"], p["source"], p["target"]))
    if not pairs:
        console.print(f"no aligned concepts in layer {layer}")
        return
    s_layer, _, t_layer = layer.partition("->")
    src = load_concepts(path, s_layer, source).concepts
    tgt = load_concepts(path, t_layer or s_layer, target).concepts
    table = Table(title=f"top aligned concepts, layer {layer} ({source} -> {target}); "
                        "bold = matched by the dictionary",
                  header_style="bold cyan", show_lines=True, title_justify="left")
    table.add_column("pair", no_wrap=True)
    table.add_column(f"{source} concept", overflow="fold")
    table.add_column(f"{target} concept", overflow="fold")

    def cell(words: set[str], matched: list[str], limit: int = 30) -> str:
        rest = sorted(words - set(matched))
        shown = [f"[bold]{escape(w)}[/bold]" for w in matched[:limit]]
        shown += [f"[dim]{escape(w)}[/dim]" for w in rest[: max(limit - len(shown), 0)]]
        more = len(words) - len(shown)
        return ", ".join(shown) + (f" … (+{more})" if more > 0 else "")

    for p in pairs[:n]:
        src_matched = [w for w, _ in p["matches"]]
        tgt_matched = list(dict.fromkeys(t for _, t in p["matches"]))
        table.add_row(f"{p['source']} -> {p['target']}\n{p['ratio']:.0%} of "
                      f"{p['source_types']} / {p['target_types']} types",
                      cell(set(src[p["source"]].types), src_matched),
                      cell(set(tgt[p["target"]].types), tgt_matched))
    console.print(table)


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
          show: int, show_layer: str | None, names: str | None) -> None:
    """COLAP (%) per layer: mixed-data concepts shared by >= 2 languages (seed 000 §2.3).

    CONCEPT_FILES hold mixed-language runs (`interlingua concepts --mixed`).

    \b
      interlingua colap acts.concepts.h5 --plot colap.png --show 5
    """
    from ..analysis.concepts import colap_layers
    from ._common import print_table

    results: dict[str, Any] = {}
    for path, name in zip(concept_files, _run_names(concept_files, names)):
        results[name] = colap_layers(_concept_file(path), _split(layers),
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
    _write_results(results, "colap", out, plot, "COLAP", extra)
    if show:
        _show_colap(first, show, show_layer, _concept_file(concept_files[0]))


def _show_colap(res: Any, n: int, layer: str | None, path: Path) -> None:
    from collections import Counter

    from rich.markup import escape
    from rich.table import Table

    from ..analysis.concepts import load_concepts
    from ._common import console

    layer = layer or res.layers[-1]
    if layer not in res.results:
        raise InputError(f"--show-layer {layer!r} not among {res.layers}")
    details = res.results[layer].details
    langs = details["languages"]
    flags = np.asarray(res.results[layer].per_unit, dtype=bool)
    ids = [c for c, f in zip(details["concept_ids"], flags) if f]
    # Most balanced first: the largest share of the second-largest language.
    ids.sort(key=lambda c: (-sorted(details["shares"][str(c)].values())[-2], c))
    run = load_concepts(path, layer, None)
    table = Table(title=f"top overlapping concepts, layer {layer}", header_style="bold cyan",
                  show_lines=True, title_justify="left")
    table.add_column("concept", no_wrap=True)
    for lang in langs:
        table.add_column(lang, overflow="fold")
    for cid in ids[:n]:
        mask = run.labels == cid
        cells = []
        for lang in langs:
            words = Counter(str(w) for w, lg in zip(run.words[mask], run.languages[mask])
                            if lg == lang)
            share = details["shares"][str(cid)][lang]
            cells.append(f"[dim]{share:.0%}[/dim] " + ", ".join(
                escape(w) for w, _ in words.most_common(20)))
        table.add_row(str(cid), *cells)
    if not ids:
        console.print(f"no overlapping concepts in layer {layer}")
    else:
        console.print(table)


# -- induce-dictionary ----------------------------------------------------------------------
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
def induce_dictionary(inputs: tuple[Path, ...], source: str | None, target: str | None,
                      out: Path, fmt: str, backend: str, symmetrization: str, iterations: int,
                      nbest: int | None, reverse: bool) -> None:
    """Induce a translation dictionary from parallel text (seed 000 §3.2): word
    alignment, symmetrisation, lexical translation probabilities.

    \b
    INPUTS: one activation store (with --source/--target; sentences paired by pair_id)
    or two line-aligned, whitespace-tokenised text files.
      interlingua induce-dictionary acts.h5 -s de -t en -o lex.de-en.txt
      interlingua induce-dictionary corpus.de corpus.en -o lex.de-en.txt --backend ibm1
    """
    from ..analysis.dictionary_induction import induce_from_files, induce_from_store
    from ..core.store import ActivationStore
    from ._common import console, print_table

    options = {"backend": backend, "symmetrization": symmetrization, "iterations": iterations}
    if len(inputs) == 1:
        if not (source and target):
            raise InputError("with one store as input, give --source and --target languages")
        with ActivationStore.open(inputs[0]) as st:
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
