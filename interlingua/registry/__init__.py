"""Plugin registry: pluggy hookspecs, discovery of built-in and third-party plugins."""

from interlingua.registry.hookspecs import hookimpl, hookspec
from interlingua.registry.manager import (
    ALLOW_LIST_ENV,
    ENTRY_POINT_GROUP,
    PluginInfo,
    PluginLoadWarning,
    Registry,
    get_aligner,
    get_discoverer,
    get_extractor,
    get_metric,
    get_plugin,
    get_registry,
    list_plugins,
    reset_registry,
)

__all__ = [
    "ALLOW_LIST_ENV",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "PluginLoadWarning",
    "Registry",
    "get_aligner",
    "get_discoverer",
    "get_extractor",
    "get_metric",
    "get_plugin",
    "get_registry",
    "hookimpl",
    "hookspec",
    "list_plugins",
    "reset_registry",
]
