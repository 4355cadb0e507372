"""``interlingua plugins``: list registered plugins and show their parameters."""

from __future__ import annotations

import json
import warnings

import click

from interlingua.registry import get_registry
from interlingua.registry.commands import console, err_console, make_table
from interlingua.registry.manager import KINDS, PluginLoadWarning


def _registry():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginLoadWarning)
        registry = get_registry()
    messages = list(registry.failures)
    messages += [str(w.message) for w in caught if str(w.message) not in messages]
    return registry, messages


def _report_failures(messages: list[str]) -> None:
    for message in messages:
        err_console.print("warning: " + message, style="yellow", markup=False, soft_wrap=True)


@click.group(invoke_without_command=True)
@click.option("--kind", type=click.Choice(KINDS), help="Only plugins of this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def plugins(ctx: click.Context, kind: str | None, as_json: bool) -> None:
    """List plugins: kind, name, provider, version and summary."""
    if ctx.invoked_subcommand is not None:
        return
    registry, failures = _registry()
    infos = registry.list(kind)
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        _report_failures(failures)
        return
    rows = []
    for info in infos:
        reason = info.unavailable_reason
        summary = info.summary if reason is None else f"[unavailable: {reason}] {info.summary}"
        if info.conflicts:
            summary = f"[conflict: also {', '.join(info.conflicts)}] " + summary
        rows.append((info.kind, info.name, info.provider, info.version or "—", summary))
    console.print(make_table("interlingua plugins",
                             ["kind", "name", "provider", "version", "summary"], rows,
                             text_columns=5))
    _report_failures(failures)


@plugins.command("show")
@click.argument("name")
@click.option("--kind", type=click.Choice(KINDS), help="Kind, if the name is ambiguous.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def show(name: str, kind: str | None, as_json: bool) -> None:
    """Show one plugin's parameters (defaults and help) and declared properties.

    NAME may be ``kind:name`` (e.g. ``metric:cka``).
    """
    from interlingua.core.errors import UnknownPluginError

    registry, failures = _registry()
    if ":" in name and kind is None:
        kind, name = name.split(":", 1)
    if kind is None:
        matches = [i for i in registry.list() if i.name == name]
        if len(matches) > 1:
            kinds = ", ".join(i.kind for i in matches)
            raise UnknownPluginError(f"{name!r} names plugins of several kinds ({kinds}); "
                                     "use --kind or kind:name")
        if not matches:
            from interlingua.registry.manager import _unknown

            raise UnknownPluginError(_unknown("plugin", name, sorted({i.name for i in
                                                                      registry.list()})))
        info = matches[0]
    else:
        info = registry.info(kind, name)
    data = info.to_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from rich.markup import escape

    console.print(f"[bold]{escape(info.kind)} {escape(info.name)}[/bold] — "
                  f"{escape(info.summary)}")
    console.print(f"provider: {info.provider} {info.version}", markup=False)
    if data["unavailable_reason"]:
        console.print(f"[red]unavailable:[/red] {escape(data['unavailable_reason'])}")
    for key in ("input_kind", "inputs", "symmetric", "higher_is_more_similar", "invariances",
                "value_range", "streaming"):
        if key in data:
            console.print(f"{key}: {data[key]}", markup=False)
    rows = [
        (p["name"], p["type"] or "any", json.dumps(p["default"]),
         p["help"] + (f" (one of {', '.join(map(str, p['choices']))})" if p["choices"] else ""))
        for p in data["params"]
    ]
    if rows:
        console.print(make_table("parameters", ["name", "type", "default", "help"], rows,
                                 text_columns=4))
    else:
        console.print("no parameters")
    _report_failures(failures)
