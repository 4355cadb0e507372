"""Helpers shared by the contract checks of :mod:`interlingua.testing`."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from interlingua.core.errors import InterlinguaError


def fail(plugin: Any, message: str) -> AssertionError:
    """An ``AssertionError`` naming the plugin (an instance or a class) and the problem."""
    label = plugin.__name__ if isinstance(plugin, type) else type(plugin).__name__
    return AssertionError(f"{label} ({getattr(plugin, 'name', '?')}): {message}")


def close(a: float, b: float, rtol: float, atol: float) -> bool:
    """``math.isclose`` where two NaNs are equal."""
    if math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


def check_declarations(plugin: Any, base: type) -> None:
    """Name, summary, parameter help, ``get_params`` round trip, a lazy ``__init__``."""
    if not isinstance(plugin, base):
        raise fail(plugin, f"is not an instance of interlingua.core.{base.__name__}")
    if not isinstance(plugin.name, str) or not plugin.name:
        raise fail(plugin, "has no name")
    if not plugin.describe():
        raise fail(plugin, "has no summary (set `summary` or a docstring)")
    for p in plugin.params:
        if not p.help:
            raise fail(plugin, f"parameter {p.name!r} has no help text")
        try:
            json.dumps(p.default)
        except TypeError:
            raise fail(plugin, f"default of {p.name!r} is not JSON-serialisable") from None
    params = plugin.get_params()
    if set(params) != {p.name for p in plugin.params}:
        raise fail(plugin, "get_params() does not return exactly the declared parameters")
    clone = type(plugin)(**params)
    if clone.get_params() != params:
        raise fail(plugin, "constructing with get_params() does not reproduce the parameters")
    public = {k for k in vars(clone) if not k.startswith("_")}
    extra = public - set(params)
    if extra:
        raise fail(plugin, f"__init__ sets attributes beyond its parameters: {sorted(extra)} "
                            "(do the work in fit/compute)")


def expect_error(plugin: Any, what: str, call: Callable[[], Any]) -> None:
    """``call()`` must raise a ValueError / InterlinguaError with a message."""
    try:
        call()
    except (ValueError, InterlinguaError) as exc:
        if not str(exc):
            raise fail(plugin, f"{what}: raised {type(exc).__name__} without a message") from None
        return
    except Exception as exc:
        raise fail(plugin, f"{what}: raised {type(exc).__name__}: {exc} instead of a clear "
                            "ValueError / InterlinguaError") from None
    raise fail(plugin, f"{what}: no error raised")


__all__ = ["check_declarations", "close", "expect_error", "fail"]
