"""Loading plugin inputs named on the command line.

Input types (declared by metrics through ``Metric.input_types()``):

``matrix``
    ``.npy`` (never pickled), ``.csv``, ``.tsv``/``.txt`` (whitespace), or a store
    spec ``STORE.h5:LAYER[:LEVEL][@LANG]`` (level ``words`` or ``sentences``,
    default ``sentences``). Two sentence-level specs of one store with different
    languages are paired by ``pair_id``.
``vector``
    ``.npy``, ``.csv``, ``.txt`` with one number per row.
``concepts``
    JSON written by ``Concepts.save``.
``dictionary``
    Moses / MUSE / TSV dictionary (``Dictionary.read``).
``sets``
    JSON object ``{"name": [ids, ...], ...}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import FormatError, InputError

_STORE_SPEC = re.compile(
    r"^(?P<path>.+?\.(?:h5|hdf5))(?::(?P<layer>[^:@]+))?(?::(?P<level>words|sentences))?"
    r"(?:@(?P<lang>[^@:]+))?$"
)


@dataclass
class StoreSpec:
    path: Path
    layer: str | None
    level: str
    lang: str | None

    @classmethod
    def parse(cls, text: str) -> StoreSpec | None:
        match = _STORE_SPEC.match(text)
        if not match:
            return None
        return cls(Path(match["path"]), match["layer"], match["level"] or "sentences",
                   match["lang"])


def _load_array(text: str, ndim: int) -> np.ndarray:
    path = Path(text)
    if not path.is_file():
        raise InputError(f"{text}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".csv":
            arr = np.loadtxt(path, delimiter=",", ndmin=ndim, dtype=np.float64)
        elif suffix in (".tsv", ".txt", ".dat"):
            arr = np.loadtxt(path, ndmin=ndim, dtype=np.float64)
        else:
            raise InputError(f"{text}: unsupported file type {suffix!r} (use .npy, .csv, .tsv, "
                             ".txt or a store spec STORE.h5:LAYER[:LEVEL][@LANG])")
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise FormatError(f"{text}: cannot read numbers ({exc})") from None
    if ndim == 1 and arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    return arr


def load_matrices(specs: list[str]) -> list[np.ndarray]:
    """Load every ``matrix`` input, pairing store specs by ``pair_id`` where needed."""
    from interlingua.core.store import ActivationStore

    parsed = [StoreSpec.parse(s) for s in specs]
    out: list[np.ndarray | None] = [None] * len(specs)
    store_specs = [(i, p) for i, p in enumerate(parsed) if p is not None]
    by_path: dict[Path, list[tuple[int, StoreSpec]]] = {}
    for i, spec in store_specs:
        if spec.layer is None:
            raise InputError(f"{specs[i]}: name a layer, e.g. {spec.path}:6:sentences@en")
        by_path.setdefault(spec.path.resolve(), []).append((i, spec))
    for _, group in by_path.items():
        with ActivationStore.open(group[0][1].path) as store:
            langs = [s.lang for _, s in group]
            paired = len(group) == 2 and all(langs) and langs[0] != langs[1]
            if paired:
                if any(s.level != "sentences" for _, s in group):
                    raise InputError(
                        "word-level rows of two languages are not paired; use the "
                        "sentences level (STORE.h5:LAYER:sentences@LANG)"
                    )
                rows_a, rows_b = store.parallel_rows(langs[0], langs[1])
                for (i, spec), rows in zip(group, (rows_a, rows_b)):
                    out[i] = store.layer(spec.layer, spec.level)[rows]
                continue
            for i, spec in group:
                layer = store.layer(spec.layer, spec.level)
                if spec.lang is None:
                    out[i] = layer[:]
                elif spec.level == "sentences":
                    out[i] = layer[store.sentence_rows(spec.lang)]
                else:
                    out[i] = layer[store.word_rows(spec.lang)]
    for i, spec in enumerate(parsed):
        if spec is None:
            out[i] = _load_array(specs[i], 2)
    return [np.asarray(a) for a in out]


def input_paths(specs: list[str] | tuple[str, ...]) -> list[Path]:
    """The files named by input specs (a store spec names its store), e.g. to make
    sure no output is written over an input."""
    paths = []
    for text in specs:
        spec = StoreSpec.parse(text)
        paths.append(spec.path if spec is not None else Path(text))
    return paths


def read_json(path: str | Path) -> Any:
    """Parse a UTF-8 JSON file, with one-line errors for missing or malformed files."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path}: not a JSON file ({exc})") from None


def load_sets(text: str) -> dict[str, list[int]]:
    data = read_json(text)
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise FormatError(f"{text}: expected a JSON object mapping set names to lists of ids")
    return data


def load_inputs(types: tuple[str, ...], specs: list[str]) -> list[Any]:
    """Load positional inputs ``specs`` according to the declared ``types``."""
    if len(specs) != len(types):
        raise InputError(
            f"expected {len(types)} input(s) ({', '.join(types)}), got {len(specs)}"
        )
    from interlingua.core.concepts import Concepts
    from interlingua.core.dictionary import Dictionary

    values: list[Any] = [None] * len(specs)
    matrix_idx = [i for i, t in enumerate(types) if t == "matrix"]
    if matrix_idx:
        for i, arr in zip(matrix_idx, load_matrices([specs[i] for i in matrix_idx])):
            values[i] = arr
    for i, (kind, spec) in enumerate(zip(types, specs)):
        if kind == "matrix":
            continue
        if kind == "vector":
            values[i] = _load_array(spec, 1)
        elif kind == "concepts":
            values[i] = Concepts.read(spec)
        elif kind == "dictionary":
            values[i] = Dictionary.read(spec)
        elif kind == "sets":
            values[i] = load_sets(spec)
        elif kind == "path":
            values[i] = spec
        else:
            raise InputError(f"the CLI cannot load inputs of type {kind!r}")
    return values
