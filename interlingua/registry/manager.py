"""Plugin discovery and lookup.

Built-in plugins (the modules named in :data:`DEFAULT_PLUGINS`, one family package of
:mod:`interlingua.plugins` each) and third-party plugins (entry-point group
``interlingua``) go through the very same hooks. A built-in module that fails to import
is an error (a bug in interlingua); a third-party one is a warning. The
environment variable ``INTERLINGUA_LOAD_PLUGINS`` is an allow-list of third-party
plugins (entry-point or distribution names, comma separated); set but empty, no
third-party plugin is loaded; a name in it that matches no installed plugin is
reported as a warning. A plugin that fails to import or to register is reported as a
warning and skipped.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from interlingua._version import __version__
from interlingua.core.errors import DuplicatePluginError, PluginError, UnknownPluginError
from interlingua.core.interfaces import PLUGIN_BASES, Plugin
from interlingua.core.params import Param
from interlingua.core.suggest import closest
from interlingua.registry import hookspecs

ENTRY_POINT_GROUP = "interlingua"
ALLOW_LIST_ENV = "INTERLINGUA_LOAD_PLUGINS"
BUILTIN_PROVIDER = "interlingua"
KINDS = tuple(hookspecs.HOOKS)

#: The built-in plugin modules, registered exactly like third-party ones. Listed, not
#: scanned: a module is a built-in because it is named here.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "interlingua.plugins.extraction.hf",
    "interlingua.plugins.extraction.neurox",
    "interlingua.plugins.extraction.cli",
    "interlingua.plugins.similarity.anc",
    "interlingua.plugins.similarity.cka",
    "interlingua.plugins.similarity.cca",
    "interlingua.plugins.similarity.procrustes",
    "interlingua.plugins.similarity.retrieval",
    "interlingua.plugins.similarity.mutual_knn",
    "interlingua.plugins.similarity.cli",
    "interlingua.plugins.concepts.kmeans",
    "interlingua.plugins.concepts.agglomerative",
    "interlingua.plugins.concepts.calign",
    "interlingua.plugins.concepts.colap",
    "interlingua.plugins.concepts.cli",
    "interlingua.plugins.concepts.dictionary_command",
    "interlingua.plugins.affective.probe",
    "interlingua.plugins.affective.superexact",
    "interlingua.plugins.affective.cli",
    "interlingua.plugins.affective.overlap_command",
    "interlingua.plugins.demo.cli",
    "interlingua.plugins.neurons.lape_metric",
    "interlingua.plugins.neurons.cli",
    "interlingua.plugins.neurons.lens_cli",
    "interlingua.plugins.neurons.lape_anc_cli",
    "interlingua.plugins.neurons.ablation_cli",
)


class PluginLoadWarning(UserWarning):
    """A third-party plugin could not be imported or registered and was skipped."""


@dataclass
class PluginInfo:
    """What the registry knows about one registered plugin."""

    kind: str
    name: str
    provider: str
    version: str
    summary: str
    factory: Callable[..., Any] = field(repr=False)
    params: tuple[Param, ...] = ()
    builtin: bool = False
    conflicts: list[str] = field(default_factory=list)

    @property
    def unavailable_reason(self) -> str | None:
        check = getattr(self.factory, "unavailable_reason", None)
        if callable(check):
            try:
                return check()
            except Exception as exc:  # a broken check must not break listings
                return f"availability check failed: {exc}"
        return None

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None

    def metadata(self) -> dict[str, Any]:
        """Declared metric properties (empty for other kinds)."""
        cls = self.factory
        if self.kind != "metric" or not isinstance(cls, type):
            return {}
        # Read from a default instance: properties may depend on parameters, and
        # __init__ does no work by contract.
        try:
            obj: Any = cls()
        except Exception:
            obj = cls
        invariances = obj.invariances if not isinstance(obj.invariances, property) else ()
        return {
            "input_kind": obj.input_kind,
            "inputs": list(cls.input_types()),
            "symmetric": obj.symmetric,
            "higher_is_more_similar": obj.higher_is_more_similar,
            "invariances": sorted(invariances),
            "value_range": list(obj.value_range) if obj.value_range else None,
            "streaming": cls.accumulator is not PLUGIN_BASES["metric"].accumulator,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "provider": self.provider,
            "version": self.version,
            "summary": self.summary,
            "available": self.available,
            "unavailable_reason": self.unavailable_reason,
            "params": [
                {"name": p.name, "default": p.default, "help": p.help,
                 "type": p.type.__name__ if p.type else None,
                 "choices": list(p.choices) if p.choices else None}
                for p in self.params
            ],
            **self.metadata(),
        }


class Registry:
    """All plugins of one process, loaded once."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[str] = []
        self._providers: dict[str, tuple[str, str, bool]] = {}
        self._plugins: dict[tuple[str, str], PluginInfo] = {}
        self._load_builtins()
        if load_entry_points:
            self._load_entry_points()
        self._collect()

    # -- loading -------------------------------------------------------------------
    def _load_builtins(self) -> None:
        for qualname in DEFAULT_PLUGINS:
            try:
                module = importlib.import_module(qualname)
            except Exception as exc:  # a broken built-in is a bug: never skip it quietly
                raise PluginError(
                    f"built-in plugin module {qualname} failed to import: {exc!r}"
                ) from exc
            self.pm.register(module, name=qualname)
            self._providers[qualname] = (BUILTIN_PROVIDER, __version__, True)

    def _load_entry_points(self) -> None:
        allow = os.environ.get(ALLOW_LIST_ENV)
        allowed = None if allow is None else {a.strip() for a in allow.split(",") if a.strip()}
        known: set[str] = set()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            dist_name = dist.name if dist is not None else ep.name
            version = dist.version if dist is not None else "?"
            known.update((ep.name, dist_name))
            if allowed is not None and ep.name not in allowed and dist_name not in allowed:
                continue
            try:
                module = ep.load()
                self.pm.register(module, name=f"entrypoint:{ep.name}")
            except Exception as exc:
                self._fail(f"plugin {ep.name!r} from {dist_name} {version} failed to load: {exc!r}")
                continue
            self._providers[f"entrypoint:{ep.name}"] = (dist_name, version, False)
        # A typo in the allow-list would otherwise silently load nothing; warn like a
        # plugin that fails to load (and carry on).
        for name in sorted((allowed or set()) - known):
            match = closest(name, sorted(known), cutoff=0.5)
            hint = f" Did you mean {match!r}?" if match else ""
            self._fail(
                f"{ALLOW_LIST_ENV} names {name!r}, but no installed plugin has that "
                f"entry-point or distribution name.{hint} Installed: "
                f"{', '.join(sorted(known)) or 'none'}",
                suffix=" — ignored",
            )

    def register_module(self, module: Any, provider: str = "local", version: str = "") -> None:
        """Register an already-imported plugin object (for tests and notebooks)."""
        name = f"local:{provider}:{id(module)}"
        self.pm.register(module, name=name)
        self._providers[name] = (provider, version, False)
        self._collect(only=name)

    def add_commands(self, group: Any) -> None:
        """Let every plugin add its commands to the click ``group``
        (``register_commands`` hook); a third-party failure is warned and skipped."""
        for impl in self.pm.hook.register_commands.get_hookimpls():
            provider, _version, builtin = self._providers.get(
                impl.plugin_name, (impl.plugin_name, "", False))
            try:
                impl.function(cli=group)
            except Exception as exc:
                if builtin:
                    raise
                self._fail(f"plugin {provider} failed in register_commands: "
                           f"{type(exc).__name__}: {exc}")

    def _fail(self, message: str, suffix: str = " — skipped") -> None:
        self.failures.append(message)
        warnings.warn(message + suffix, PluginLoadWarning, stacklevel=3)

    def _collect(self, only: str | None = None) -> None:
        for kind, hook_name in hookspecs.HOOKS.items():
            hook = getattr(self.pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                if only is not None and impl.plugin_name != only:
                    continue
                provider, version, builtin = self._providers.get(
                    impl.plugin_name, (impl.plugin_name, "", False)
                )
                register = self._make_register(kind, provider, version, builtin)
                try:
                    impl.function(register=register)
                except DuplicatePluginError:
                    raise
                except Exception as exc:
                    self._fail(
                        f"plugin {provider} failed in {hook_name}: {type(exc).__name__}: {exc}"
                    )

    def _make_register(
        self, kind: str, provider: str, version: str, builtin: bool
    ) -> Callable[..., None]:
        base = PLUGIN_BASES[kind]

        def register(obj: Any, name: str | None = None, summary: str | None = None) -> None:
            if isinstance(obj, type):
                if not issubclass(obj, base):
                    raise PluginError(
                        f"{obj.__qualname__} registered as a {kind} must subclass "
                        f"interlingua.core.{base.__name__}"
                    )
                plugin_name = name or obj.name
                params = obj.params
                text = summary or obj.describe()
            elif callable(obj):
                plugin_name = name or getattr(obj, "name", None)
                params = tuple(getattr(obj, "params", ()))
                doc = (getattr(obj, "__doc__", "") or "").strip()
                text = summary or (doc.splitlines()[0] if doc else "")
            else:
                raise PluginError(f"cannot register {obj!r}: not a class or factory")
            if not plugin_name or not isinstance(plugin_name, str):
                raise PluginError(f"{obj!r} registered as a {kind} has no name")
            info = PluginInfo(kind, plugin_name, provider, version, text, obj, params, builtin)
            key = (kind, plugin_name)
            if key in self._plugins:
                first = self._plugins[key]
                first.conflicts.append(provider)
                warnings.warn(
                    f"{kind} {plugin_name!r} is registered twice: by {first.provider} and by "
                    f"{provider}; using it raises an error until one is removed",
                    PluginLoadWarning,
                    stacklevel=2,
                )
                return
            self._plugins[key] = info

        return register

    # -- lookup --------------------------------------------------------------------
    def list(self, kind: str | None = None) -> list[PluginInfo]:
        if kind is not None and kind not in KINDS:
            raise UnknownPluginError(_unknown("kind", kind, KINDS))
        infos = [i for i in self._plugins.values() if kind is None or i.kind == kind]
        return sorted(infos, key=lambda i: (KINDS.index(i.kind), i.name))

    def info(self, kind: str, name: str) -> PluginInfo:
        if kind not in KINDS:
            raise UnknownPluginError(_unknown("kind", kind, KINDS))
        info = self._plugins.get((kind, name))
        if info is None:
            names = sorted(n for k, n in self._plugins if k == kind)
            raise UnknownPluginError(_unknown(kind, name, names))
        if info.conflicts:
            raise DuplicatePluginError(
                f"{kind} {name!r} is registered by more than one provider: "
                + ", ".join([info.provider, *info.conflicts])
                + "; uninstall one or restrict INTERLINGUA_LOAD_PLUGINS"
            )
        return info

    def create(self, kind: str, name: str, **params: Any) -> Plugin:
        info = self.info(kind, name)
        reason = info.unavailable_reason
        if reason:
            raise PluginError(f"{kind} {name!r} is not available: {reason}")
        instance = info.factory(**params)
        base = PLUGIN_BASES[kind]
        if not isinstance(instance, base):
            raise PluginError(
                f"{kind} {name!r} from {info.provider} returned {type(instance).__name__}, "
                f"not a {base.__name__}"
            )
        # Lets messages about the instance name who provided it (plugin_label).
        instance._registry_provider = info.provider
        return instance


def _unknown(kind: str, name: str, available: Any) -> str:
    available = list(available)
    match = closest(name, available, cutoff=0.5)
    hint = f" Did you mean {match!r}?" if match else ""
    listing = ", ".join(available) if available else "none registered"
    return f"unknown {kind} {name!r}.{hint} Available: {listing}"


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry (built on first use)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry()
    return _REGISTRY


def reset_registry() -> None:
    """Forget loaded plugins (e.g. after changing ``INTERLINGUA_LOAD_PLUGINS``)."""
    global _REGISTRY
    _REGISTRY = None


def list_plugins(kind: str | None = None) -> list[PluginInfo]:
    """Registered plugins, optionally of one kind, sorted by kind and name."""
    return get_registry().list(kind)


def get_plugin(kind: str, name: str, **params: Any) -> Plugin:
    """Instantiate plugin ``name`` of ``kind`` with keyword parameters."""
    return get_registry().create(kind, name, **params)


def get_metric(name: str, **params: Any):
    """Instantiate the metric ``name`` (e.g. ``get_metric("cka", debiased=True)``)."""
    return get_plugin("metric", name, **params)


def get_aligner(name: str, **params: Any):
    """Instantiate the aligner ``name``."""
    return get_plugin("aligner", name, **params)


def get_discoverer(name: str, **params: Any):
    """Instantiate the concept discoverer ``name``."""
    return get_plugin("discoverer", name, **params)


def get_extractor(name: str, **params: Any):
    """Instantiate the extractor ``name``."""
    return get_plugin("extractor", name, **params)
