"""Regenerate ``bible_en_es.tsv``: verse-aligned English–Spanish Bible pairs.

Sources (both public domain), read with Debian's SWORD tools::

    apt-get install diatheke sword-text-web sword-text-sparv
    python examples/data/make_bible_sample.py [--pairs 3000] [--seed 0]

* English: World English Bible (SWORD module ``engWEB2015eb``).
* Spanish: Reina-Valera 1909 (SWORD module ``spaRV1909eb``).

Cleaning: section headings and psalm superscriptions (the lines between a verse and
the next verse reference, including the stale headings diatheke repeats inside
ranges) are dropped; Strong's numbers (``<G5209>``) are removed and verses still
carrying markup (a few OSIS titles) are left out; words the module itself glues
together at a tag boundary ("díjoleDios") are split where a lower-case letter meets
an upper-case one (glued lower-case pairs such as "quequisieres" remain); footnotes
are requested inline (``-o f``) and removed whole, which also restores the space
that plain output loses where a footnote marker stood ("Godcreated"); line breaks
inside poetic verses and indentation become single spaces. Only verses present and non-empty in both
translations are kept; a seeded sample of them, in canonical order, is written as a
TSV whose header row holds the language codes (the format ``interlingua extract``
reads; the row number becomes the pair id), with the verse references in
``bible_en_es.refs``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODULES = {"en": "engWEB2015eb", "es": "spaRV1909eb"}
_VERSE = re.compile(r"^\s*((?:[1-3] )?[A-Z][A-Za-z ]+? \d+:\d+): ?(.*)$")
_FOOTNOTE = re.compile(r"\s*\[\d+:\d+[^\]]*\]\s*")
_STRONGS = re.compile(r"\s*<[GH]\d+>")
_RESIDUE = re.compile(r"[<>\[\]{}]|swordFootnote")
_GLUED = re.compile(r"(?<=[a-záéíóúüñ])(?=[A-ZÁÉÍÓÚÑ])")


def read_module(module: str) -> dict[str, str]:
    """Verse reference -> cleaned text for one SWORD module."""
    out = subprocess.run(
        ["diatheke", "-b", module, "-f", "plain", "-o", "f", "-k",
         "Genesis 1:1-Revelation 22:21"],
        check=True, capture_output=True, text=True,
    ).stdout
    verses: dict[str, list[str]] = {}
    current: list[str] | None = None
    continued = False  # the last line was appended to a verse as a continuation
    for line in out.splitlines():
        match = _VERSE.match(line)
        if match:
            # An indented reference follows a heading line; if no blank line separated
            # them, that heading was appended to the previous verse: take it back.
            if line.startswith(" ") and continued and current:
                current.pop()
            current = verses.setdefault(match[1], [])
            current.append(match[2])
            continued = False
        elif not line.strip():
            current = None  # a blank line ends a verse; what follows is a heading
            continued = False
        elif current is not None and not line.startswith(f"({module})"):
            current.append(line)
            continued = True
    cleaned = {}
    for ref, parts in verses.items():
        text = _STRONGS.sub("", _FOOTNOTE.sub(" ", " ".join(parts)))
        text = _GLUED.sub(" ", re.sub(r"\s+", " ", text)).strip()
        # Verses still carrying markup residue (OSIS titles, notes) are left out.
        if text and not _RESIDUE.search(text):
            cleaned[ref] = text
    return cleaned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "bible_en_es.tsv")
    args = parser.parse_args()
    if not shutil.which("diatheke"):
        raise SystemExit("diatheke not found: apt-get install diatheke sword-text-web "
                         "sword-text-sparv")
    texts = {lang: read_module(module) for lang, module in MODULES.items()}
    shared = [ref for ref in texts["en"] if ref in texts["es"]]
    if len(shared) < args.pairs:
        raise SystemExit(f"only {len(shared)} aligned verses")
    rng = np.random.default_rng(args.seed)
    chosen = sorted(rng.choice(len(shared), size=args.pairs, replace=False))
    refs = [shared[i] for i in chosen]
    for ref in refs:
        for lang in MODULES:
            if "\t" in texts[lang][ref]:
                raise SystemExit(f"tab inside {lang} {ref}")
    lines = ["\t".join(MODULES)] + ["\t".join(texts[lang][ref] for lang in MODULES)
                                    for ref in refs]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.out.with_suffix(".refs").write_text("\n".join(refs) + "\n", encoding="utf-8")
    print(f"{len(shared)} aligned verses; wrote {len(refs)} pairs to {args.out}")


if __name__ == "__main__":
    main()
