"""Fingerprints of extraction settings, checked before an extraction is resumed.

A resumed extraction appends rows to rows written earlier, so everything that
determines a row's values must be what it was: the model (its files, or its hub
revision), the extractor, aggregation, pooling, layers, dtypes, prefix, maximum
length, batching, device and the numerical libraries. An extractor describes these
as *fields*; :func:`make_fingerprint` records them (JSON) and their SHA-256 as the
root attributes ``fingerprint`` / ``fingerprint_sha256`` when the store is created,
and :func:`check_resume` — the one place where resuming is vetted — refuses a resume
whose fields differ, naming every differing field, and a corpus that is not the one
the committed rows came from.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlingua.core.errors import StoreError

if TYPE_CHECKING:
    from interlingua.core.store_writer import StoreWriter

#: Root attribute holding the fingerprint fields (JSON) and the one holding their hash.
ATTR, HASH_ATTR = "fingerprint", "fingerprint_sha256"
# Stores written before fingerprints: fields compared with these root attributes.
_LEGACY_ATTRS = {"extractor": "extractor", "word_aggregation": "word_aggregation",
                 "sentence_pooling": "sentence_pooling", "dtype": "dtype",
                 "max_length": "max_length", "prefix": "prefix", "layers": "layers_selected",
                 "sort_window": "sort_window", "model_dtype": "model_dtype"}


def model_files(directory: str | os.PathLike) -> dict[str, list[int]]:
    """``{relative path: [size, mtime_ns]}`` of the files of a local model directory.

    Hidden files and directories (``.git``, ``.cache``) are left out; symbolic links
    (hub cache snapshots) are followed.
    """
    root = Path(directory)
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        st = path.stat()
        out[rel.as_posix()] = [int(st.st_size), int(st.st_mtime_ns)]
    return out


def model_identity(name: str, source: str | os.PathLike, revision: str = "") -> dict[str, Any]:
    """What identifies the weights a model name resolved to.

    Parameters
    ----------
    name : str
        The model as the user gave it (path, hub id, ``builtin:<name>``).
    source : path-like or str
        Where it was loaded from: a local directory (also the resolved directory of a
        ``builtin:`` model) or a hub id.
    revision : str
        For hub models: the resolved commit (or the requested revision).

    Returns
    -------
    dict
        Local directory: ``kind="local"``, its absolute ``path`` and :func:`model_files`
        (names, sizes, modification times); hub model: ``kind="hub"``, ``name`` and
        ``revision``.
    """
    local = Path(source).expanduser()
    if local.is_dir():
        return {"kind": "local", "name": str(name), "path": str(local.resolve()),
                "files": model_files(local)}
    return {"kind": "hub", "name": str(source), "revision": str(revision or "")}


def make_fingerprint(fields: dict[str, Any]) -> dict[str, str]:
    """Root attributes recording ``fields``: ``{"fingerprint": json, "fingerprint_sha256": …}``."""
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return {ATTR: text, HASH_ATTR: hashlib.sha256(text.encode("utf-8")).hexdigest()}


def _model_difference(old: Any, new: dict[str, Any]) -> str | None:
    if not isinstance(old, dict) or old.get("kind") != new.get("kind"):
        where = old.get("path") or old.get("name") if isinstance(old, dict) else old
        return f"model differs (stored {where!r}, now {new.get('path') or new.get('name')!r})"
    if new["kind"] == "hub":
        if old.get("name") != new["name"]:
            return f"model differs (stored {old.get('name')!r}, now {new['name']!r})"
        if old.get("revision") != new["revision"]:
            return (f"model revision differs (stored {old.get('revision') or 'unknown'!r}, "
                    f"now {new['revision'] or 'unknown'!r})")
        return None
    if old.get("path") != new["path"]:
        return f"model directory differs (stored {old.get('path')!r}, now {new['path']!r})"
    before, after = old.get("files") or {}, new["files"]
    if before == after:
        return None
    changed = [f for f in after if f in before and list(before[f]) != list(after[f])]
    added = [f for f in after if f not in before]
    removed = [f for f in before if f not in after]
    parts = [f"{label}: {', '.join(files[:5])}{' …' if len(files) > 5 else ''}"
             for label, files in (("changed", changed), ("added", added),
                                  ("removed", removed)) if files]
    return f"model weights differ (files of {new['path']} {'; '.join(parts)})"


def differences(stored: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    """Human-readable differences between stored and current fingerprint fields.

    Another extractor is reported alone: its other fields are not comparable.
    """
    if "extractor" in stored and stored["extractor"] != fields.get("extractor"):
        return [f"extractor differs (stored {stored['extractor']!r}, "
                f"now {fields.get('extractor')!r})"]
    out = []
    for key, value in fields.items():
        old = stored.get(key)
        if key == "model":
            problem = _model_difference(old, value)
            if problem:
                out.append(problem)
        elif key not in stored:
            out.append(f"{key} was not recorded (now {value!r})")
        elif old != value:
            out.append(f"{key} differs (stored {old!r}, now {value!r})")
    out += [f"{key} differs (stored {stored[key]!r}, now not set)"
            for key in stored if key not in fields]
    return out


def _legacy_differences(attrs: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    out = []
    model = fields.get("model") or {}
    if "model" in attrs and attrs["model"] != model.get("name", attrs["model"]):
        out.append(f"model differs (stored {attrs['model']!r}, now {model.get('name')!r})")
    for key, attr in _LEGACY_ATTRS.items():
        if key in fields and attrs.get(attr) is not None:
            value = json.dumps(fields[key]) if key == "layers" else fields[key]
            if str(attrs[attr]) != str(value):
                out.append(f"{key} differs (stored {attrs[attr]!r}, now {value!r})")
    return out


def check_resume(writer: StoreWriter, fields: dict[str, Any], texts: Sequence[str]) -> None:
    """Refuse to resume ``writer`` unless the settings and the corpus are the same.

    Parameters
    ----------
    writer : StoreWriter
        The resumed writer (its attributes hold the fingerprint of its creation).
    fields : dict
        The current fingerprint fields (as passed to :func:`make_fingerprint` at
        creation).
    texts : sequence of str
        The corpus' sentence texts, in order; the committed ones must be its prefix.

    Raises
    ------
    StoreError
        One line: ``cannot resume <store>: <field> differs (stored …, now …); …``.
    """
    attrs = writer.attrs
    name = writer.path.name
    fields = json.loads(json.dumps(fields))  # tuples -> lists, as stored
    if ATTR in attrs:
        diffs = differences(json.loads(attrs[ATTR]), fields)
    else:  # written before fingerprints existed: compare what the attributes record
        diffs = _legacy_differences(attrs, fields)
    if diffs:
        raise StoreError(f"cannot resume {name}: {'; '.join(diffs)}; resume with the "
                         "settings it was created with, or start again with --overwrite")
    done = writer.progress
    if done > len(texts):
        raise StoreError(f"cannot resume {name}: it holds {done} sentences but the corpus "
                         f"has only {len(texts)}; is it the same corpus?")
    if done:
        import h5py

        position = 0
        for segment in writer.segments:
            with h5py.File(segment, "r") as f:
                stored = f["sentences/text"].asstr()[:].tolist()
            for offset, text in enumerate(stored):
                if text != texts[position + offset]:
                    raise StoreError(
                        f"cannot resume {name}: sentence {position + offset} differs from "
                        f"the corpus ({text[:50]!r} vs {texts[position + offset][:50]!r}); "
                        "is it the same corpus?"
                    )
            position += len(stored)


def resume_checked(path: str | os.PathLike, fields: dict[str, Any], texts: Sequence[str], *,
                   discard_damaged: bool = False) -> StoreWriter:
    """Resume the store at ``path`` after :func:`check_resume`; closed again on refusal.

    Parameters
    ----------
    path : path-like
        The store being resumed.
    fields, texts
        As for :func:`check_resume`.
    discard_damaged : bool
        Drop a damaged segment and those after it (they are recomputed).
    """
    from interlingua.core.store import ActivationStore

    writer = ActivationStore.resume(path, discard_damaged=discard_damaged)
    try:
        check_resume(writer, fields, texts)
    except BaseException:
        writer.close()
        raise
    return writer


__all__ = ["check_resume", "differences", "make_fingerprint", "model_files", "model_identity",
           "resume_checked"]
