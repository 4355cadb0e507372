"""Import and export of NeuroX activation files.

NeuroX (Dalvi et al.) writes two formats:

* HDF5: one dataset per sentence, named ``"0"`` … ``"N-1"``, shaped
  ``(layers, words, dim)``, plus a dataset ``sentence_to_index`` holding one JSON
  string that maps each sentence (its words joined by spaces; repeated sentences get
  a `` (Occurrence k)`` suffix) to its index as a string.
* JSONL: one line per sentence, ``{"linex_index": i, "features": [{"token": w,
  "layers": [{"index": l, "values": [...]}, ...]}, ...]}``; values rounded to 8 digits.

Layer ``l`` of a NeuroX file becomes layer ``str(l)`` of the store (for NeuroX's
transformers extractor, 0 is the embedding layer, as in our stores).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from interlingua.core.errors import FormatError, InputError, StoreError
from interlingua.core.h5files import open_hdf5
from interlingua.core.outputs import atomic_output, check_outputs
from interlingua.core.store import ActivationStore, SentenceRecord, layer_sort_key
from interlingua.core.textio import iter_lines

_OCCURRENCE = re.compile(r"^(?P<text>.*) \(Occurrence \d+\)$")


def _batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_shape(source: Path, index: int, acts: np.ndarray, first: np.ndarray) -> None:
    """Every sentence of a NeuroX file needs the layers and width of the first one."""
    if acts.shape[0] != first.shape[0]:
        raise FormatError(
            f"{source}: sentence {index} has activations for {acts.shape[0]} layer(s), but "
            f"sentence 0 has {first.shape[0]}; every sentence needs the same layers "
            "(was the file written by two different extractions?)"
        )
    if acts.shape[2] != first.shape[2]:
        raise FormatError(
            f"{source}: sentence {index} has {acts.shape[2]}-dimensional activations, but "
            f"sentence 0 has {first.shape[2]}; every sentence needs the same width"
        )


def _write_store(
    sentences: Iterator[tuple[list[str], np.ndarray]],
    output: str | os.PathLike,
    *,
    source: Path,
    lang: str,
    model: str,
    extractor: str,
    dtype: str,
    overwrite: bool,
    batch_sentences: int = 256,
) -> Path:
    # The source is never the output (an import over its own NeuroX file would
    # replace it); existence is checked by the store writer.
    check_outputs([output], [source], overwrite=True)
    store = ActivationStore.create(
        output, model=model, extractor=extractor, dtype=dtype, overwrite=overwrite,
        word_aggregation="neurox", attrs={"imported_from": "neurox"},
    )
    n_layers = None
    first: np.ndarray | None = None
    seen = 0
    try:
        for batch in _batched(sentences, batch_sentences):
            records = [SentenceRecord(words=words, lang=lang) for words, _ in batch]
            acts = [a for _, a in batch]
            if first is None:
                first = acts[0]
                n_layers = first.shape[0]
            for k, a in enumerate(acts):
                _check_shape(source, seen + k, a, first)
            seen += len(acts)
            layers = {}
            for layer in range(n_layers):
                words = np.concatenate([a[layer] for a in acts], axis=0)
                sents = np.stack([
                    a[layer].mean(axis=0) if a.shape[1] else np.zeros(a.shape[2], np.float32)
                    for a in acts
                ])
                layers[str(layer)] = {"words": words, "sentences": sents}
            store.append(records, layers)
        if n_layers is None:
            raise InputError("the NeuroX file holds no sentences")
        store.finalize()
    except BaseException:
        # A failed import leaves nothing behind rather than a half-converted store.
        store.abort()
        raise
    return Path(output)


def import_neurox_hdf5(
    path: str | os.PathLike,
    output: str | os.PathLike,
    *,
    lang: str,
    model: str = "",
    sentences: Sequence[Sequence[str]] | None = None,
    dtype: str = "float32",
    overwrite: bool = False,
) -> Path:
    """Convert a NeuroX HDF5 activation file into an interlingua store.

    Parameters
    ----------
    path : path-like
        NeuroX ``.hdf5`` file.
    output : path-like
        Store to write.
    lang : str
        Language of all sentences (NeuroX files carry none).
    sentences : sequence of word lists, optional
        The tokenised sentences, if the file's ``sentence_to_index`` map is not to be
        trusted; by default words are recovered from that map.
    """
    path = Path(path)
    if not h5py.is_hdf5(str(path)):
        raise StoreError(f"{path} is not an HDF5 file")
    with open_hdf5(path, fix="export it from NeuroX again") as f:
        if "sentence_to_index" not in f:
            raise StoreError(f"{path} is not a NeuroX activation file (no sentence_to_index)")
        mapping = json.loads(f["sentence_to_index"][0])
        index_to_text = {int(idx): text for text, idx in mapping.items()}
        keys = sorted(int(k) for k in f if k != "sentence_to_index" and k.isdigit())
        if keys != list(range(len(keys))):
            raise StoreError(f"{path}: sentence datasets are not numbered 0..N-1")

        def rows() -> Iterator[tuple[list[str], np.ndarray]]:
            for i in keys:
                acts = np.asarray(f[str(i)], dtype=np.float32)
                if acts.ndim != 3:
                    raise StoreError(f"{path}: dataset {i} has shape {acts.shape}, expected 3-D")
                if sentences is not None:
                    words = [str(w) for w in sentences[i]]
                else:
                    if i not in index_to_text:
                        raise StoreError(
                            f"{path}: sentence {i} is missing from sentence_to_index; "
                            "pass the tokenised sentences explicitly"
                        )
                    text = index_to_text[i]
                    words = text.split(" ")
                    match = _OCCURRENCE.match(text)
                    if len(words) != acts.shape[1] and match:
                        words = match["text"].split(" ")
                if len(words) != acts.shape[1]:
                    raise StoreError(
                        f"{path}: sentence {i} has {len(words)} words but activations for "
                        f"{acts.shape[1]}"
                    )
                yield words, acts

        return _write_store(rows(), output, source=path, lang=lang, model=model,
                            extractor="neurox-import", dtype=dtype, overwrite=overwrite)


def import_neurox_json(
    path: str | os.PathLike,
    output: str | os.PathLike,
    *,
    lang: str,
    model: str = "",
    dtype: str = "float32",
    overwrite: bool = False,
) -> Path:
    """Convert a NeuroX JSONL activation file into an interlingua store."""
    path = Path(path)

    def rows() -> Iterator[tuple[list[str], np.ndarray]]:
        expected = 0
        for number, line in iter_lines(path):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(line)
                index = int(obj["linex_index"])
                features = obj["features"]
                words = [str(feat["token"]) for feat in features]
                layer_values = [
                    [layer["values"] for layer in sorted(feat["layers"], key=lambda x: x["index"])]
                    for feat in features
                ]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise FormatError(f"{where}: not a NeuroX activation line ({exc})") from None
            if index != expected:
                raise FormatError(f"{where}: linex_index {index}, expected {expected}")
            expected += 1
            try:
                acts = np.asarray(layer_values, dtype=np.float32)  # (words, layers, dim)
            except ValueError as exc:
                raise FormatError(f"{where}: ragged activation values ({exc})") from None
            if acts.ndim != 3:
                raise FormatError(f"{where}: sentence without words or with ragged layers")
            yield words, acts.transpose(1, 0, 2)

    return _write_store(rows(), output, source=path, lang=lang, model=model,
                        extractor="neurox-import", dtype=dtype, overwrite=overwrite)


def _export_layers(store: ActivationStore, layers: Sequence[str] | None) -> list[str]:
    names = list(layers) if layers is not None else [
        n for n in store.layers if "/" not in n and "words" in store.levels(n)
    ]
    if not names:
        raise InputError("no word-level layers to export")
    names = sorted((str(n) for n in names), key=layer_sort_key)
    dims = {store.layer(n).dim for n in names}
    if len(dims) != 1:
        raise InputError(f"NeuroX files need layers of one width; got widths {sorted(dims)}")
    return names


def _iter_sentence_activations(
    store: ActivationStore, names: Sequence[str], batch: int = 512
) -> Iterator[tuple[int, list[str], np.ndarray]]:
    offsets = store.sentences.word_offsets
    words = store.words.text
    views = [store.layer(n) for n in names]
    for s0 in range(0, store.n_sentences, batch):
        s1 = min(s0 + batch, store.n_sentences)
        w0, w1 = offsets[s0], offsets[s1]
        block = np.stack([v[w0:w1] for v in views])  # (layers, words, dim)
        for s in range(s0, s1):
            a, b = offsets[s] - w0, offsets[s + 1] - w0
            yield s, [str(w) for w in words[offsets[s] : offsets[s + 1]]], block[:, a:b]


def export_neurox_hdf5(
    store: ActivationStore, path: str | os.PathLike, *, layers: Sequence[str] | None = None
) -> Path:
    """Write the store's word-level rows in NeuroX's HDF5 layout (readable by
    ``neurox.data.loader.load_activations``)."""
    path = Path(path)
    names = _export_layers(store, layers)
    mapping: dict[str, str] = {}
    with atomic_output(path, inputs=[store.path], overwrite=True) as tmp, \
            h5py.File(tmp, "w") as f:
        for s, words, acts in _iter_sentence_activations(store, names):
            f.create_dataset(str(s), data=acts.astype(np.float32))
            sentence = " ".join(words)
            key, count = sentence, 1
            while key in mapping:
                count += 1
                key = f"{sentence} (Occurrence {count})"
            mapping[key] = str(s)
        ds = f.create_dataset("sentence_to_index", (1,), dtype=h5py.string_dtype("utf-8"))
        ds[0] = json.dumps(mapping)
    return path


def export_neurox_json(
    store: ActivationStore, path: str | os.PathLike, *, layers: Sequence[str] | None = None
) -> Path:
    """Write the store's word-level rows as NeuroX JSONL (values rounded to 8 digits)."""
    path = Path(path)
    names = _export_layers(store, layers)
    with atomic_output(path, inputs=[store.path], overwrite=True) as tmp, \
            open(tmp, "w", encoding="utf-8") as fh:
        for s, words, acts in _iter_sentence_activations(store, names):
            features = [
                {"token": word, "layers": [
                    {"index": li, "values": [round(float(x), 8) for x in acts[li, wi]]}
                    for li in range(acts.shape[0])
                ]}
                for wi, word in enumerate(words)
            ]
            fh.write(json.dumps({"linex_index": s, "features": features}) + "\n")
    return path


__all__ = ["export_neurox_hdf5", "export_neurox_json", "import_neurox_hdf5", "import_neurox_json"]
