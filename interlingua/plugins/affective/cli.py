"""``interlingua probe | superexact | overlap`` (seed 003).

* ``probe STORE.h5 --norms norms.csv --target valence`` trains one affective probe
  per (language, layer) on the flagged target words of a word-in-context store;
  prints the layer × language table, writes JSON (with weights) / CSV and the layer
  curves PNG (seed 003 Fig. 3), and picks the best layer.
* ``superexact SETS.json --background 768`` runs the super exact test on all
  intersections of the sets; table of pairs and highest-degree intersections, JSON,
  CSV and a pairwise fold-enrichment heat map.
* ``overlap`` (:mod:`.overlap_command`) compares the top-k neuron sets of
  probe results.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from interlingua.core.errors import FormatError, InputError
from interlingua.core.suggest import did_you_mean
from interlingua.plugins.affective.probe import AffectiveProbe
from interlingua.plugins.affective.superexact import SuperExact
from interlingua.registry.commands import LIST, overwrite_option, param_options, plugin_kwargs
from interlingua.registry.hookspecs import hookimpl


def _is_builtin_norms(name: str) -> bool:
    return name.lower() in ("warriner", "wk") or name.lower().startswith("labmt:")


def _norm_paths(specs: tuple[str | None, ...]) -> list[Path]:
    """The files named by ``[LANG=](PATH | warriner | labmt:LANG)`` specs."""
    paths = []
    for spec in specs:
        if spec:
            rest = spec.partition("=")[2] if "=" in spec else spec
            if not _is_builtin_norms(rest.strip()):
                paths.append(Path(rest.strip()))
    return paths


def _load_norm_spec(spec: str, word_column: str, lang_column: str | None,
                    normalize: bool) -> tuple[str | None, Any]:
    """``[LANG=](PATH | warriner | labmt:LANG)`` -> (lang or None, Norms)."""
    from interlingua.plugins.affective.norms import LABMT_LANGUAGES, builtin_norms, load_norms

    lang, sep, rest = spec.partition("=")
    if not sep:
        lang, rest = None, spec
    rest = rest.strip()
    if _is_builtin_norms(rest):
        return lang, builtin_norms(rest, normalize=normalize)
    if not Path(rest).is_file():
        known = ["warriner", *(f"labmt:{code}" for code in LABMT_LANGUAGES)]
        raise InputError(f"norms file not found: {Path(rest)}"
                         + did_you_mean(rest.lower(), known))
    return lang, load_norms(rest, word_column=word_column,
                            lang_column=None if lang else lang_column, normalize=normalize)


# -- probe ---------------------------------------------------------------------------------
@click.command("probe", context_settings={"show_default": True})
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--norms", "norm_specs", multiple=True, required=True,
              metavar="[LANG=]PATH|warriner|labmt:LANG",
              help="Norms file (CSV/TSV), or built-in 'warriner' / 'labmt:de' (needs the "
                   "optional labmtsimple package). Repeat with LANG=... per language.")
@click.option("--target", required=True, help="Rating column to predict, e.g. valence.")
@click.option("--word-column", default="word", help="Word column of the norms files.")
@click.option("--lang-column", default=None,
              help="Language column of a multi-language norms file.")
@click.option("--no-normalize", is_flag=True, help="Keep raw ratings (default: min-max to [0,1]).")
@click.option("--languages", type=LIST,
              help="Comma-separated languages (default: all in the store).")
@click.option("--layers", type=LIST, help="Comma-separated layers (default: all).")
@param_options(AffectiveProbe, only=("backend",))
@click.option("--paper", is_flag=True,
              help="Authors' setup: NeuroX objective, lr 1e-5, 500 epochs, standardize "
                   "train/test separately, random sentence split.")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Extra probe parameter, e.g. -p lambda_l1=0.01 -p epochs=200.")
@click.option("--split", type=click.Choice(["word", "sentence"]), default="word",
              help="Hold out whole words (no lexical leakage) or random sentences.")
@click.option("--missing", type=click.Choice(["error", "drop"]), default="error",
              help="Target words without a rating: stop with a list, or drop and report.")
@param_options(AffectiveProbe, only=("top_k",))
@click.option("--best-layer", default=None, help="Layer for the top-k sets (default: best).")
@param_options(AffectiveProbe, only=("seed",))
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="Output directory or .json file (default: probe-TARGET/ beside the store).")
@click.option("--no-plot", is_flag=True, help="Do not write the layer-curve PNG.")
@overwrite_option
def probe(store: Path, norm_specs: tuple[str, ...], target: str, word_column: str,
          lang_column: str | None, no_normalize: bool, languages: list[str] | None,
          layers: list[str] | None, backend: str, paper: bool, params: tuple[str, ...],
          split: str, missing: str, top_k: int, best_layer: str | None, seed: int,
          out: Path | None, no_plot: bool, overwrite: bool) -> None:
    """Layer-wise affective probes on a word-in-context store (seed 003 §4–5).

    \b
      interlingua probe wic.h5 --norms norms.csv --target valence
      interlingua probe wic.h5 --norms en=warriner --norms de=labmt:de --target valence \\
          --missing drop   # labMT has 'happiness'; use --target happiness for labmt
    """
    from interlingua.core.progress import rich_progress
    from interlingua.plugins.affective.probing import probe_store
    from interlingua.registry.commands import (
        check_results,
        console,
        err_console,
        parse_plugin_params,
        print_table,
        write_outputs,
    )

    out = out or store.with_name(f"{store.stem}.probe-{target}")
    write = {"overwrite": overwrite, "inputs": [store, *_norm_paths(norm_specs)]}
    check_results(out, "probe", with_png=not no_plot, **write)  # before any training
    probe_params: dict[str, Any] = plugin_kwargs(
        AffectiveProbe, {"backend": backend, "seed": seed, "top_k": top_k})
    if paper:
        probe_params.update(backend="neurox", learning_rate=1e-5, epochs=500,
                            standardize="separate")
        split = "sentence" if split == "word" else split
    probe_params.update(parse_plugin_params(AffectiveProbe, params))
    metric = AffectiveProbe(**probe_params)

    shared, per_lang = None, {}
    for spec in norm_specs:
        lang, norms = _load_norm_spec(spec, word_column, lang_column, not no_normalize)
        if lang is None:
            if shared is not None:
                raise InputError("give one shared --norms file, or LANG=PATH per language")
            shared = norms
        else:
            per_lang[lang] = norms
    result = probe_store(store, shared, target, languages=languages, layers=layers,
                         norms_by_lang=per_lang, missing=missing,
                         group_by_word=split == "word", metric=metric,
                         progress=rich_progress(transient=True))

    mean = result.mean_curve()
    rows = []
    for i, layer in enumerate(result.layers):
        rows.append([layer, *[result.scores[lang][i] for lang in result.languages], mean[i]])
    print_table(f"{target}: test Pearson r per layer ({metric.backend})",
                ["layer", *result.languages, "mean"], rows)
    chosen = best_layer or result.best_layers(1)[0]
    console.print(f"best layer (highest mean r): [bold]{result.best_layers(1)[0]}[/bold]"
                  + (f"; top-{top_k} sets taken from layer {chosen}" if best_layer else ""))
    for lang, words in result.missing.items():
        shown = ", ".join(words[:8]) + (" ..." if len(words) > 8 else "")
        err_console.print(f"[yellow]{lang}: {len(words)} target word(s) without a "
                          f"{target!r} rating were dropped:[/yellow] {shown}")
    sets = result.top_sets(chosen, top_k)
    data = result.to_dict()
    data["top_sets"] = {"layer": chosen, "k": top_k, "sets": sets}
    csv_rows = [{"language": lang, "layer": layer, "r": result.scores[lang][i],
                 "n_rows": result.n_rows[lang]}
                for lang in result.languages for i, layer in enumerate(result.layers)]
    written = write_outputs(out, data, csv_rows, stem="probe", **write)
    if not no_plot:
        png = written[0].with_suffix(".png")
        result.plot(png, title=f"{target} ({result.meta.get('model') or store.name})")
        written.append(png)
    console.print("wrote " + ", ".join(str(p) for p in written))
    if len(result.languages) >= 2:
        console.print(f"next: interlingua overlap {written[0]} --top-k {top_k}")


# -- superexact ----------------------------------------------------------------------------
def _read_sets_file(path: Path) -> tuple[dict[str, list[int]], int | None]:
    from interlingua.core.inputs import read_json

    data = read_json(path)
    background = None
    if isinstance(data, dict) and "sets" in data and isinstance(data["sets"], dict):
        background = data.get("background")
        data = data["sets"]
    elif isinstance(data, dict) and "top_sets" in data:
        weights = data.get("weights", {})
        block = data["top_sets"]
        first = next(iter(weights.values()), {})
        background = len(first.get(block["layer"], [])) or None
        data = block["sets"]
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise FormatError(
            f"{path}: expected a JSON object mapping set names to lists of integer ids "
            '(or {"sets": {...}, "background": N})'
        )
    return data, background


def _p_text(p: float, log_p: float) -> str:
    if p > 0:
        return f"{p:.3g}"
    return f"e^{log_p:.1f}" if math.isfinite(log_p) else "0"


def _superexact_tables(details: dict[str, Any], top: int, title: str) -> None:
    from interlingua.registry.commands import print_table

    rows = details["intersections"]
    pairs = [r for r in rows if r["degree"] == 2]
    n_pairs = len(pairs)
    above = sum(r["fold_enrichment"] > 1 for r in pairs)
    sig = sum(r["pvalue"] < 0.05 for r in pairs)
    print_table(
        f"{title}: pairwise intersections ({above}/{n_pairs} with FE > 1, "
        f"{sig} with p < .05; expected overlap {pairs[0]['expected']:.4g} for the first pair)"
        if pairs else title,
        ["sets", "observed", "expected", "FE", "p"],
        [(" ∩ ".join(r["sets"]), r["observed"], r["expected"], r["fold_enrichment"],
          _p_text(r["pvalue"], r["log_pvalue"]))
         for r in sorted(pairs, key=lambda r: r["log_pvalue"])[:top]],
    )
    nonempty = [r for r in rows if r["observed"] > 0]
    if nonempty:
        max_deg = max(r["degree"] for r in nonempty)
        high = [r for r in nonempty if r["degree"] >= max(3, max_deg - 1)]
        if high:
            print_table(
                f"{title}: highest-degree non-empty intersections",
                ["sets", "degree", "observed", "exclusive", "FE", "p"],
                [(" ∩ ".join(r["sets"]), r["degree"], r["observed"], r["exclusive"],
                  r["fold_enrichment"], _p_text(r["pvalue"], r["log_pvalue"]))
                 for r in sorted(high, key=lambda r: (-r["degree"], r["log_pvalue"]))[:top]],
            )


def _heatmap(details: dict[str, Any], path: Path, title: str) -> Path:
    import numpy as np

    from interlingua.core.plotting import plot_heatmap

    fe = np.array(details["pairwise"]["fold_enrichment"], dtype=float)
    return plot_heatmap(fe, details["pairwise"]["names"], title=title, path=path,
                        colorbar_label="fold enrichment (observed / expected)")


@click.command("superexact", context_settings={"show_default": True})
@click.argument("sets_file", metavar="SETS.json",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@param_options(SuperExact, only=("background", "max_degree"))
@click.option("--top", type=int, default=15, help="Rows shown per table.")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="Output directory or .json file (default: SETS.superexact/).")
@click.option("--no-plot", is_flag=True, help="Do not write the pairwise FE heat map.")
@overwrite_option
def superexact(sets_file: Path, background: int | None, max_degree: int | None, top: int,
               out: Path | None, no_plot: bool, overwrite: bool) -> None:
    """Super exact test of all intersections of the sets in SETS.json (seed 003 §4.3.4).

    SETS.json maps set names to lists of integer ids in [0, N), e.g. the top-100
    neurons per language: {"en": [3, 17, ...], "de": [...]}. A probe result JSON
    (from `interlingua probe`) works too.
    """
    from interlingua.registry.commands import check_results, console, write_outputs

    out = out or sets_file.with_name(f"{sets_file.stem}.superexact")
    write = {"overwrite": overwrite, "inputs": [sets_file]}
    check_results(out, "superexact", with_png=not no_plot, **write)
    sets, file_background = _read_sets_file(sets_file)
    background = background or file_background
    if background is None:
        raise InputError("give --background N (the number of neurons / elements)")
    # The background goes to the call (it may come from the file), as before.
    metric = SuperExact(**plugin_kwargs(SuperExact, {"max_degree": max_degree}))
    result = metric(sets, background=background)
    _superexact_tables(result.details, top, sets_file.stem)
    csv_rows = [{**r, "sets": "&".join(r["sets"])} for r in result.details["intersections"]]
    written = write_outputs(out, result.to_dict(), csv_rows, stem="superexact", **write)
    if not no_plot:
        written.append(_heatmap(result.details, written[0].with_suffix(".png"),
                                f"pairwise fold enrichment (N={background})"))
    console.print("wrote " + ", ".join(str(p) for p in written))


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(probe)
    cli.add_command(superexact)
