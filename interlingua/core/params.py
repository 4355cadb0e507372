"""Declared parameters of plugins.

Plugins list their parameters as :class:`Param` objects. The base class
:class:`Configurable` turns them into keyword arguments of ``__init__`` that are only
stored (scikit-learn style: no work in ``__init__``), exposes ``get_params`` /
``set_params``, and lets the CLI parse ``key=value`` strings and show help.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from interlingua.core.errors import InputError
from interlingua.core.suggest import did_you_mean


@dataclass(frozen=True)
class Param:
    """One declared parameter of a plugin.

    Parameters
    ----------
    name : str
        Keyword name.
    default : Any
        Default value (must be JSON-serialisable so results can record it).
    help : str
        One line shown by ``interlingua plugins show``.
    type : type, optional
        ``int``, ``float``, ``bool``, ``str`` or ``None`` (free JSON value). Used to
        parse command-line strings and to check values.
    choices : tuple, optional
        Allowed values.
    """

    name: str
    default: Any
    help: str
    type: type | None = None
    choices: tuple | None = None

    def parse(self, text: str) -> Any:
        """Convert a command-line string into a value of this parameter."""
        if self.type is bool:
            low = text.strip().lower()
            if low in {"1", "true", "yes", "on"}:
                return True
            if low in {"0", "false", "no", "off"}:
                return False
            raise InputError(f"parameter {self.name!r}: expected true/false, got {text!r}")
        if self.type in (int, float):
            try:
                value = self.type(text)
            except ValueError:
                raise InputError(
                    f"parameter {self.name!r}: expected {self.type.__name__}, got {text!r}"
                ) from None
            return value
        if self.type is str:
            return text
        if text.lower() in {"none", "null"}:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    def check(self, value: Any) -> Any:
        """Validate (and lightly coerce) a Python value for this parameter."""
        if value is None:
            return value
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.type is not None and not isinstance(value, self.type):
            if not (self.type is float and isinstance(value, float)):
                raise InputError(
                    f"parameter {self.name!r}: expected {self.type.__name__}, "
                    f"got {type(value).__name__} {value!r}"
                )
        if self.choices is not None and value not in self.choices:
            raise InputError(
                f"parameter {self.name!r}: {value!r} is not one of "
                + ", ".join(repr(c) for c in self.choices)
            )
        return value


class Configurable:
    """Base of every plugin class: declared parameters stored without work.

    Subclasses set ``params: ClassVar[tuple[Param, ...]]``. ``Cls(**kw)`` sets one
    attribute per parameter (default when not given) and nothing else.
    """

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **params: Any) -> None:
        declared = {p.name: p for p in self.params}
        unknown = set(params) - set(declared)
        if unknown:
            bad = sorted(unknown)[0]
            hint = did_you_mean(bad, declared)
            known = ", ".join(declared) or "none"
            raise InputError(
                f"{type(self).__name__}: unknown parameter {bad!r}{hint} (parameters: {known})"
            )
        for name, spec in declared.items():
            value = params[name] if name in params else spec.default
            setattr(self, name, spec.check(value))

    @classmethod
    def param_spec(cls, name: str) -> Param:
        for p in cls.params:
            if p.name == name:
                return p
        hint = did_you_mean(name, [p.name for p in cls.params])
        raise InputError(f"{cls.__name__} has no parameter {name!r}{hint}")

    def get_params(self) -> dict[str, Any]:
        """Current parameter values, in declaration order."""
        return {p.name: getattr(self, p.name) for p in self.params}

    def set_params(self, **params: Any) -> Configurable:
        """Change parameters (validated like in ``__init__``); returns ``self``."""
        for key, value in params.items():
            setattr(self, key, self.param_spec(key).check(value))
        return self

    def __repr__(self) -> str:
        changed = [
            f"{p.name}={getattr(self, p.name)!r}"
            for p in self.params
            if getattr(self, p.name) != p.default
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    @classmethod
    def describe(cls) -> str:
        """One-line summary: ``summary`` or the docstring's first line."""
        if cls.summary:
            return cls.summary
        doc = (inspect.getdoc(cls) or "").strip()
        return doc.splitlines()[0].strip() if doc else ""
