"""Hook specifications (pluggy) — the contract between interlingua and its plugins.

Every plugin-kind hook receives a ``register`` callback (``register_commands``
receives the ``interlingua`` click group). Call it with a plugin class (a subclass
of the kind's base class from :mod:`interlingua.core`) or with a factory callable and
an explicit ``name=``::

    import interlingua as il

    @il.hookimpl
    def register_metrics(register):
        register(MyMetric)
"""

from __future__ import annotations

import pluggy

PROJECT = "interlingua"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_extractors(register):
    """Register Extractor plugins: ``register(ExtractorClass)``."""


@hookspec
def register_discoverers(register):
    """Register ConceptDiscoverer plugins: ``register(DiscovererClass)``."""


@hookspec
def register_aligners(register):
    """Register Aligner plugins: ``register(AlignerClass)``."""


@hookspec
def register_metrics(register):
    """Register Metric plugins: ``register(MetricClass)``."""


@hookspec
def register_commands(cli):
    """Add commands to the ``interlingua`` click group: ``cli.add_command(command)``
    or ``@cli.command()`` (as in llm and datasette). Import heavy libraries inside the
    command functions, so that ``interlingua --help`` stays quick."""


#: kind -> name of the hook that registers plugins of that kind
HOOKS = {
    "extractor": "register_extractors",
    "discoverer": "register_discoverers",
    "aligner": "register_aligners",
    "metric": "register_metrics",
}
