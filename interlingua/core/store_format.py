"""Constants, small types and row checks of the activation store format.

Everything the reader (:mod:`.store`), the writer (:mod:`.store_writer`), the segment
assembly (:mod:`.store_assembly`) and the checksums (:mod:`.checksums`) share lives
here, so those modules import in one direction only (each imports only modules
below it)::

    store                              reading (ActivationStore)
    store_writer                       writing (StoreWriter)
    store_placed_writer                rows written in place (a StoreWriter mixin)
    store_views, store_partial,        layer/table views; the ``<store>.partial/``
    store_assembly, store_placement    directory; assembly of the finished file;
                                       the file's layer datasets written by offset
    checksums, locking                 SHA-256 digests; the writer lock
    store_format                       this module

It also holds :func:`check_layer_rows`, the validation of appended rows. This module
imports nothing of :mod:`interlingua` but :mod:`.errors`. ``FORMAT``,
``FORMAT_VERSION``, ``LEVELS``, :class:`SentenceRecord` and :func:`layer_sort_key` are
re-exported by :mod:`interlingua.core.store`, where users import them from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from interlingua.core.errors import InputError, StoreError

#: Value of the root attribute ``format`` of every store.
FORMAT = "interlingua-activations"
#: Newest format version this interlingua writes and reads.
FORMAT_VERSION = 1
#: Row levels of a layer.
LEVELS = ("words", "sentences")
#: HDF5 dtype of the text columns (variable-length UTF-8).
STR_DTYPE = h5py.string_dtype("utf-8")
_STR = STR_DTYPE  # the name used before this module existed
#: Datasets of ``/sentences`` and ``/words`` every store has.
SENTENCE_FIELDS = ("text", "lang", "pair_id", "target", "word_offsets")
WORD_FIELDS = ("text", "sentence")
#: Layer names: path-like segments of letters, digits, "_", "-" and "." ("6", "encoder/3").
LAYER_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*(/[A-Za-z0-9_\-][A-Za-z0-9_.\-]*)*")


@dataclass
class SentenceRecord:
    """Metadata of one sentence written to a store.

    Attributes
    ----------
    words : list of str
        The sentence's words (one activation row per word at word level).
    lang : str
        Language code.
    pair_id : int
        Same id = translations of each other; -1 = not part of a parallel pair.
    text : str, optional
        Original text; defaults to the words joined by spaces.
    target : int
        Index (into ``words``) of a flagged word for word-in-context probing; -1 = none.
    """

    words: list[str]
    lang: str
    pair_id: int = -1
    text: str | None = None
    target: int = -1

    def __post_init__(self) -> None:
        self.words = [str(w) for w in self.words]
        if self.text is None:
            self.text = " ".join(self.words)


def layer_sort_key(name: str) -> tuple:
    """Natural order of layer names: "0" < "2" < "10"; "encoder/…" before "decoder/…".

    Parameters
    ----------
    name : str
        A layer name such as ``"3"`` or ``"decoder/11"``.

    Returns
    -------
    tuple
        A key for :func:`sorted`.
    """
    parts = []
    for part in name.split("/"):
        order = {"encoder": 0, "decoder": 1}.get(part, 2)
        parts.append((0, int(part), "") if part.isdigit() else (1, order, part))
    return tuple(parts)


def all_finite(values: np.ndarray) -> bool:
    """Whether every value is finite, in one read without a full-size temporary.

    The float64 sum of float16/float32 values cannot overflow (at most 3.4e38 each,
    far fewer than 1e270 of them), so it is finite exactly when every value is; NaN and
    inf propagate. Other types (or a non-finite sum of float64 values, which may be an
    overflow) take the elementwise check.
    """
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: the answer is no
        total = values.sum(dtype=np.float64) if values.dtype in (np.float16, np.float32) \
            else None
    if total is not None and np.isfinite(total):
        return True
    if values.dtype.kind in "iub":
        return True
    return bool(np.isfinite(values).all())


def check_layer_rows(
    layers: dict[str, dict[str, Any]], n_sent: int, n_words: int, *, float16: bool = False,
    copy: bool = True,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, int]]]:
    """Check one batch of layer rows and cast them to their storage dtype.

    Parameters
    ----------
    layers : dict
        ``{layer_name: {"words": (n_words, d), "sentences": (n_sent, d)}}``.
    n_sent, n_words : int
        Sentences and words of the batch.
    float16 : bool
        Store word rows as float16 (sentence rows are always float32).
    copy : bool
        Copy rows already in their storage dtype (``False``: keep the caller's arrays).

    Returns
    -------
    arrays : dict
        The rows, cast (``{layer: {level: array}}``).
    schema : dict
        ``{layer: {level: width}}``.

    Raises
    ------
    InputError
        No layer, a bad layer name or level, wrong shapes, NaN/inf values, values
        overflowing float16 (each naming the layer).
    """
    if not layers:
        raise InputError("append needs at least one layer")
    storage = np.float16 if float16 else np.float32
    schema: dict[str, dict[str, int]] = {}
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, levels in layers.items():
        name = str(name)
        if not LAYER_NAME.fullmatch(name):
            raise InputError(f"invalid layer name {name!r}")
        out[name], schema[name] = {}, {}
        for level, values in levels.items():
            if level not in LEVELS:
                raise InputError(f"layer {name!r}: unknown level {level!r} (words/sentences)")
            try:
                arr = np.asarray(values)
            except (TypeError, ValueError) as exc:
                raise InputError(f"layer {name!r} ({level}): {exc}") from None
            expected = n_words if level == "words" else n_sent
            if arr.ndim != 2 or arr.shape[0] != expected:
                raise InputError(
                    f"layer {name!r} ({level}): expected shape ({expected}, d), got {arr.shape}"
                )
            if not all_finite(arr):
                raise InputError(f"layer {name!r} ({level}): contains NaN or infinite values")
            target = storage if level == "words" else np.float32
            with np.errstate(over="ignore"):
                cast = arr.astype(target, copy=copy or arr.dtype != target)
            if cast.dtype != arr.dtype and not all_finite(cast):
                raise InputError(f"layer {name!r} ({level}): values exceed the float16 range "
                                 "(±65504); store as float32")
            out[name][level] = cast
            schema[name][level] = int(arr.shape[1])
    return out, schema


def describe_schema(schema: dict[str, dict[str, int]]) -> str:
    """``"0: sentences[8], words[8]; 1: ..."`` (for error messages)."""
    return "; ".join(
        f"{name}: " + ", ".join(f"{lv}[{dim}]" for lv, dim in sorted(levels.items()))
        for name, levels in sorted(schema.items())
    )


def open_h5(path: Path, mode: str) -> h5py.File:
    """Open an HDF5 file that should be a store, with one-line errors.

    Parameters
    ----------
    path : Path
        The file.
    mode : str
        h5py mode (``"r"``, ``"a"``, ...).

    Returns
    -------
    h5py.File

    Raises
    ------
    StoreError
        Missing file, a directory, not HDF5, or corrupt / truncated.
    """
    if not path.exists():
        raise StoreError(f"{path}: no such file")
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not an activation store")
    if not h5py.is_hdf5(str(path)):
        raise StoreError(f"{path} is not an HDF5 file (not an interlingua activation store)")
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        raise StoreError(
            f"{path} cannot be opened; the file is corrupt or truncated ({exc})"
        ) from None


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LAYER_NAME",
    "LEVELS",
    "SENTENCE_FIELDS",
    "STR_DTYPE",
    "WORD_FIELDS",
    "SentenceRecord",
    "all_finite",
    "check_layer_rows",
    "describe_schema",
    "layer_sort_key",
    "open_h5",
]
