"""``interlingua overlap PROBE.json [PROBE2.json ...]`` (seed 003 §5–7): the top-k
neurons per language of one or more probe results (e.g. two models × two variables) →
super exact test, MPO (eq. 2) and the mixed model of performance on MPO; with
``--unseen``, the shared neurons tested in a held-out language (§6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from interlingua.core.errors import FormatError, InputError
from interlingua.plugins.affective.cli import (
    _heatmap,
    _load_norm_spec,
    _norm_paths,
    _superexact_tables,
)
from interlingua.plugins.affective.probe import AffectiveProbe
from interlingua.registry.commands import overwrite_option, param_options
from interlingua.registry.hookspecs import hookimpl


@click.command("overlap", context_settings={"show_default": True})
@click.argument("probe_files", nargs=-1, required=True, metavar="PROBE.json...",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--layer", "layers", multiple=True,
              help="Layer per probe file (one value = all files; default: each best layer).")
@param_options(AffectiveProbe, only=("top_k",))
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
@overwrite_option
def overlap(probe_files: tuple[Path, ...], layers: tuple[str, ...], top_k: int, top: int,
            unseen_store: Path | None, unseen_lang: str | None, unseen_norms: str | None,
            unseen_min_sets: int | None, random_neurons: int, missing: str, seed: int,
            out: Path, no_plot: bool, overwrite: bool) -> None:
    """Cross-lingual neuron overlap of probe results (seed 003 §5, §7).

    Top-k neurons per language → super exact test (FE, p of every intersection),
    MPO per language (eq. 2), and, over all files (e.g. two models × valence and
    arousal), the mixed model performance ~ MPO with a random intercept for language
    and uncorrelated random intercepts and slopes for model and variable.
    """
    from interlingua.core.outputs import check_outputs
    from interlingua.plugins.affective.overlap import overlap_analysis
    from interlingua.plugins.affective.probe_result import LayerwiseProbe
    from interlingua.registry.commands import check_results, console, print_table, write_outputs

    if unseen_store is not None and unseen_norms is None:
        raise InputError("--unseen needs --unseen-norms (ratings of the held-out language)")
    write = {"overwrite": overwrite,
             "inputs": [*probe_files, unseen_store, *_norm_paths((unseen_norms,))]}
    check_results(out, "overlap", **write)

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
    pngs = {} if no_plot else _overlap_pngs(out, result["runs"])
    check_outputs(pngs.values(), write["inputs"], overwrite=overwrite)  # before writing
    written_png = []
    for i, run in enumerate(result["runs"]):
        title = f"{run['label']} (layer {run['layer']}, top {top_k} of {run['background']})"
        if "superexact" not in run:
            console.print(f"{title}: {run['note']}")
            continue
        _superexact_tables(run["superexact"], top, title)
        if i in pngs:
            written_png.append(_heatmap(run["superexact"], pngs[i],
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
    written = write_outputs(out, result, records, stem="overlap", **write)
    console.print("wrote " + ", ".join(str(p) for p in [*written, *written_png]))


def _overlap_pngs(out: Path, runs: list[dict[str, Any]]) -> dict[int, Path]:
    """Heat map per run with a super exact test: ``overlap-LABEL.png`` in the output
    directory (beside a .json ``out``); repeated labels get ``-2``, ``-3``, ..."""
    base = out if out.suffix.lower() != ".json" else out.parent
    paths: dict[int, Path] = {}
    for i, run in enumerate(runs):
        if "superexact" not in run:
            continue
        stem = f"overlap-{run['label']}".replace(":", "-").replace("/", "_")
        name, n = f"{stem}.png", 1
        while base / name in paths.values():
            n += 1
            name = f"{stem}-{n}.png"
        paths[i] = base / name
    return paths


def _unseen(result: dict[str, Any], store_path: Path, lang: str | None, norms_spec: str | None,
            min_sets: int | None, n_random: int, missing: str, seed: int) -> list[dict]:
    """Seed 003 §6 for every overlap run: shared neurons tested in the unseen language."""
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.affective.overlap import shared_neurons
    from interlingua.plugins.affective.unseen_language import unseen_language_from_store
    from interlingua.registry.commands import print_table

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


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(overlap)
