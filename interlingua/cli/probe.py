"""``interlingua probe | superexact | overlap`` (seed 003).

* ``probe STORE.h5 --norms norms.csv --target valence`` trains one affective probe
  per (language, layer) on the flagged target words of a word-in-context store;
  prints the layer × language table, writes JSON (with weights) / CSV and the layer
  curves PNG (seed 003 Fig. 3), and picks the best layer.
* ``superexact SETS.json --background 768`` runs the super exact test on all
  intersections of the sets; table of pairs and highest-degree intersections, JSON,
  CSV and a pairwise fold-enrichment heat map.
* ``overlap PROBE.json [PROBE2.json ...]`` takes the top-k neurons per language of
  one or more probe results (e.g. two models × two variables) → super exact test,
  MPO (eq. 2) and the mixed model of performance on MPO (§7).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from ..core.errors import FormatError, InputError


def _split(text: str | None) -> list[str] | None:
    if text is None or not text.strip():
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def _load_norm_spec(spec: str, word_column: str, lang_column: str | None,
                    normalize: bool) -> tuple[str | None, Any]:
    """``[LANG=](PATH | warriner | labmt:LANG)`` -> (lang or None, Norms)."""
    from ..analysis.norms import builtin_norms, load_norms

    lang, sep, rest = spec.partition("=")
    if not sep:
        lang, rest = None, spec
    rest = rest.strip()
    if rest.lower() in ("warriner", "wk") or rest.lower().startswith("labmt:"):
        return lang, builtin_norms(rest, normalize=normalize)
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
@click.option("--languages", help="Comma-separated languages (default: all in the store).")
@click.option("--layers", help="Comma-separated layers (default: all).")
@click.option("--backend", type=click.Choice(["sklearn", "neurox"]), default="sklearn",
              help="ElasticNet (eq. 1) or the exact NeuroX objective (torch, Adam).")
@click.option("--paper", is_flag=True,
              help="Authors' setup: NeuroX objective, lr 1e-5, 500 epochs, standardize "
                   "train/test separately, random sentence split.")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Extra probe parameter, e.g. -p lambda_l1=0.01 -p epochs=200.")
@click.option("--split", type=click.Choice(["word", "sentence"]), default="word",
              help="Hold out whole words (no lexical leakage) or random sentences.")
@click.option("--missing", type=click.Choice(["error", "drop"]), default="error",
              help="Target words without a rating: stop with a list, or drop and report.")
@click.option("--top-k", type=int, default=100, help="Top neurons by |w| per language.")
@click.option("--best-layer", default=None, help="Layer for the top-k sets (default: best).")
@click.option("--seed", type=int, default=0, help="Seed of the split and initialisation.")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="Output directory or .json file (default: probe-TARGET/ beside the store).")
@click.option("--no-plot", is_flag=True, help="Do not write the layer-curve PNG.")
def probe(store: Path, norm_specs: tuple[str, ...], target: str, word_column: str,
          lang_column: str | None, no_normalize: bool, languages: str | None,
          layers: str | None, backend: str, paper: bool, params: tuple[str, ...],
          split: str, missing: str, top_k: int, best_layer: str | None, seed: int,
          out: Path | None, no_plot: bool) -> None:
    """Layer-wise affective probes on a word-in-context store (seed 003 §4–5).

    \b
      interlingua probe wic.h5 --norms norms.csv --target valence
      interlingua probe wic.h5 --norms en=warriner --norms de=labmt:de --target valence \\
          --missing drop   # labMT has 'happiness'; use --target happiness for labmt
    """
    from ..analysis.affective import probe_store
    from ..plugins.affective_probe import AffectiveProbe
    from ._common import console, err_console, parse_plugin_params, print_table, write_outputs

    probe_params: dict[str, Any] = {"backend": backend, "seed": seed, "top_k": top_k}
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
    result = probe_store(store, shared, target, languages=_split(languages),
                         layers=_split(layers), norms_by_lang=per_lang, missing=missing,
                         group_by_word=split == "word", metric=metric, progress=True)

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
    out = out or store.with_name(f"{store.stem}.probe-{target}")
    csv_rows = [{"language": lang, "layer": layer, "r": result.scores[lang][i],
                 "n_rows": result.n_rows[lang]}
                for lang in result.languages for i, layer in enumerate(result.layers)]
    written = write_outputs(out, data, csv_rows, stem="probe")
    if not no_plot:
        png = written[0].with_suffix(".png")
        result.plot(png, title=f"{target} ({result.meta.get('model') or store.name})")
        written.append(png)
    console.print("wrote " + ", ".join(str(p) for p in written))
    if len(result.languages) >= 2:
        console.print(f"next: interlingua overlap {written[0]} --top-k {top_k}")


# -- superexact ----------------------------------------------------------------------------
def _read_sets_file(path: Path) -> tuple[dict[str, list[int]], int | None]:
    from ._inputs import read_json

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
    from ._common import print_table

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

    from ..plotting import plot_heatmap

    fe = np.array(details["pairwise"]["fold_enrichment"], dtype=float)
    return plot_heatmap(fe, details["pairwise"]["names"], title=title, path=path,
                        colorbar_label="fold enrichment (observed / expected)")


@click.command("superexact", context_settings={"show_default": True})
@click.argument("sets_file", metavar="SETS.json",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--background", type=int, default=None,
              help="Number of elements N the sets are drawn from (e.g. 768 neurons).")
@click.option("--max-degree", type=int, default=None,
              help="Report intersections of at most this many sets.")
@click.option("--top", type=int, default=15, help="Rows shown per table.")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="Output directory or .json file (default: SETS.superexact/).")
@click.option("--no-plot", is_flag=True, help="Do not write the pairwise FE heat map.")
def superexact(sets_file: Path, background: int | None, max_degree: int | None, top: int,
               out: Path | None, no_plot: bool) -> None:
    """Super exact test of all intersections of the sets in SETS.json (seed 003 §4.3.4).

    SETS.json maps set names to lists of integer ids in [0, N), e.g. the top-100
    neurons per language: {"en": [3, 17, ...], "de": [...]}. A probe result JSON
    (from `interlingua probe`) works too.
    """
    from ..plugins.superexact import SuperExact
    from ._common import console, write_outputs

    sets, file_background = _read_sets_file(sets_file)
    background = background or file_background
    if background is None:
        raise InputError("give --background N (the number of neurons / elements)")
    result = SuperExact(max_degree=max_degree)(sets, background=background)
    _superexact_tables(result.details, top, sets_file.stem)
    out = out or sets_file.with_name(f"{sets_file.stem}.superexact")
    csv_rows = [{**r, "sets": "&".join(r["sets"])} for r in result.details["intersections"]]
    written = write_outputs(out, result.to_dict(), csv_rows, stem="superexact")
    if not no_plot:
        written.append(_heatmap(result.details, written[0].with_suffix(".png"),
                                f"pairwise fold enrichment (N={background})"))
    console.print("wrote " + ", ".join(str(p) for p in written))


# -- overlap -----------------------------------------------------------------------------
@click.command("overlap", context_settings={"show_default": True})
@click.argument("probe_files", nargs=-1, required=True, metavar="PROBE.json...",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--layer", "layers", multiple=True,
              help="Layer per probe file (one value = all files; default: each best layer).")
@click.option("--top-k", type=int, default=100, help="Neurons per language set.")
@click.option("--top", type=int, default=10, help="Rows shown per intersection table.")
@click.option("--unseen", "unseen_store", default=None, metavar="STORE.h5",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Word-in-context store of a held-out language: test the shared neurons "
                   "there (seed 003 §6).")
@click.option("--unseen-lang", default=None, help="Language of --unseen (default: its only one).")
@click.option("--unseen-norms", default=None, metavar="PATH|warriner|labmt:LANG",
              help="Norms of the held-out language (columns named like the probe targets).")
@click.option("--unseen-min-sets", type=int, default=None,
              help="Test neurons in at least this many language sets (default: the "
                   "highest-degree non-empty intersections).")
@click.option("--random-neurons", type=int, default=100,
              help="Random neurons of the same layer averaged as the baseline.")
@click.option("--missing", type=click.Choice(["error", "drop"]), default="error",
              help="Held-out words without a rating: stop, or drop and report.")
@click.option("--seed", type=int, default=0, help="Seed of the random baseline.")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("overlap"),
              help="Output directory or .json file.")
@click.option("--no-plot", is_flag=True, help="Do not write heat maps.")
def overlap(probe_files: tuple[Path, ...], layers: tuple[str, ...], top_k: int, top: int,
            unseen_store: Path | None, unseen_lang: str | None, unseen_norms: str | None,
            unseen_min_sets: int | None, random_neurons: int, missing: str, seed: int,
            out: Path, no_plot: bool) -> None:
    """Cross-lingual neuron overlap of probe results (seed 003 §5, §7).

    Top-k neurons per language → super exact test (FE, p of every intersection),
    MPO per language (eq. 2), and, over all files (e.g. two models × valence and
    arousal), the mixed model performance ~ MPO with a random intercept for language
    and uncorrelated random intercepts and slopes for model and variable.
    """
    from ..analysis.affective import LayerwiseProbe, overlap_analysis
    from ._common import console, print_table, write_outputs

    if unseen_store is not None and unseen_norms is None:
        raise InputError("--unseen needs --unseen-norms (ratings of the held-out language)")

    probes = []
    for path in probe_files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"{path}: not a JSON file ({exc})") from None
        probes.append(LayerwiseProbe.from_dict(data))
    if len(layers) == 1:
        per_file: list[str | None] = [layers[0]] * len(probes)
    elif layers:
        if len(layers) != len(probes):
            raise InputError(f"give one --layer, or one per probe file ({len(probes)})")
        per_file = list(layers)
    else:
        per_file = [None] * len(probes)
    result = overlap_analysis(probes, k=top_k, layers=per_file)
    written_png = []
    for run in result["runs"]:
        title = f"{run['label']} (layer {run['layer']}, top {top_k} of {run['background']})"
        if "superexact" not in run:
            console.print(f"{title}: {run['note']}")
            continue
        _superexact_tables(run["superexact"], top, title)
        if not no_plot:
            base = out if out.suffix.lower() != ".json" else out.parent
            name = f"overlap-{run['label']}".replace(":", "-").replace("/", "_") + ".png"
            written_png.append(_heatmap(run["superexact"], Path(base) / name,
                                        f"{run['label']}: pairwise fold enrichment"))
    records = result["records"]
    if records:
        print_table("performance and mean pairwise overlap (MPO, eq. 2)",
                    ["run", "language", "layer", "Pearson r", "MPO"],
                    [(r["run"], r["language"], r["layer"], r["performance"], r["mpo"])
                     for r in records])
    mm = result.get("mixed_model")
    if mm:
        print_table(
            "mixed model: performance ~ MPO + (1|language) + (1|model) + (0+MPO|model) "
            "+ (1|variable) + (0+MPO|variable)",
            ["B", "SE", "z", "p", "Pearson r", "Pearson p", "n", "languages"],
            [(mm["slope"], mm["se"], mm["z"], mm["pvalue"], mm["pearson_r"],
              mm["pearson_p"], mm["n"], mm["n_languages"])],
        )
        for note in mm.get("notes", []):
            console.print(f"[yellow]note:[/yellow] {note}")
    elif "mixed_model_note" in result:
        console.print(f"[yellow]{result['mixed_model_note']}[/yellow]")
    if unseen_store is not None:
        result["unseen"] = _unseen(result, unseen_store, unseen_lang, unseen_norms,
                                   unseen_min_sets, random_neurons, missing, seed)
    written = write_outputs(out, result, records, stem="overlap")
    console.print("wrote " + ", ".join(str(p) for p in [*written, *written_png]))


def _unseen(result: dict[str, Any], store_path: Path, lang: str | None, norms_spec: str | None,
            min_sets: int | None, n_random: int, missing: str, seed: int) -> list[dict]:
    """Seed 003 §6 for every overlap run: shared neurons tested in the unseen language."""
    from ..analysis.affective import shared_neurons, unseen_language_from_store
    from ..core.store import ActivationStore
    from ._common import print_table

    if norms_spec is None:
        raise InputError("--unseen needs --unseen-norms (ratings of the held-out language)")
    _, norms = _load_norm_spec(norms_spec, "word", None, True)
    out = []
    with ActivationStore.open(store_path) as st:
        if lang is None:
            if len(st.languages) != 1:
                raise InputError(f"{store_path} has languages {st.languages}; "
                                 "choose one with --unseen-lang")
            lang = st.languages[0]
        for run in result["runs"]:
            if len(run["sets"]) < 2:
                continue
            chosen = shared_neurons(run["sets"], min_sets)
            if not chosen:
                continue
            test = unseen_language_from_store(
                st, norms, run["variable"], lang, run["layer"], list(chosen),
                n_random=n_random, seed=seed, missing=missing,
            )
            base = test.baseline
            rows = [(str(r["neuron"]), len(chosen[r["neuron"]]), r["beta"], r["t"], r["p"],
                     base["beta"], base["t"], base["p"]) for r in test.neurons]
            print_table(
                f"{run['label']} (layer {run['layer']}) in unseen language {lang!r}: "
                f"single neurons vs mean of {base['n']} random neurons",
                ["neuron", "languages", "B", "t", "p", "B_b", "t_b", "p_b"], rows,
            )
            out.append({"run": run["label"], "language": lang, "layer": run["layer"],
                        "members": {str(k): v for k, v in chosen.items()},
                        **test.to_dict()})
    return out
