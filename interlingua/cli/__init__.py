"""The ``interlingua`` command.

Sub-commands live in their own modules and are imported only when used, so
``interlingua plugins`` starts quickly (no torch, transformers, h5py or sklearn).
Errors are printed as one line with a non-zero exit code; ``--debug`` (or
``INTERLINGUA_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from interlingua._version import __version__

#: The commands of the top level: the group itself, plugin listing, the generic runner
#: and store commands ("module:attribute", imported on first use). Every other command
#: is added by its family (or a third-party package) through the ``register_commands``
#: hook.
COMMANDS: dict[str, str] = {
    "plugins": "interlingua.cli.plugins:plugins",
    "info": "interlingua.cli.store:info",
    "run": "interlingua.cli.run:run",
    "import-neurox": "interlingua.cli.store:import_neurox",
    "export-neurox": "interlingua.cli.store:export_neurox",
}


class LazyGroup(click.Group):
    """The top-level group: its own commands are imported on first use; plugin
    commands are added through the ``register_commands`` hook when first needed."""

    _plugin_commands_loaded = False

    def _load_plugin_commands(self) -> None:
        if not self._plugin_commands_loaded:
            self._plugin_commands_loaded = True
            from interlingua.registry import get_registry

            get_registry().add_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is not None:
            module_name, attr = target.split(":")
            return getattr(importlib.import_module(module_name), attr)
        self._load_plugin_commands()
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="interlingua")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """Measure how much of a multilingual model is shared across languages."""


def _interrupt_text(exc: BaseException) -> str:
    """The message of a Ctrl-C: a command may re-raise ``KeyboardInterrupt(message)``
    (click wraps it in ``Abort``) to say what was kept and how to continue."""
    cause = exc if isinstance(exc, KeyboardInterrupt) else exc.__cause__
    text = str(cause) if isinstance(cause, KeyboardInterrupt) else ""
    return text or "Interrupted."


def _one_line_warnings(err: Any) -> Callable[..., None]:
    """A ``warnings.showwarning`` printing interlingua's own warning categories (e.g.
    :class:`~interlingua.registry.PluginLoadWarning`) as one ``warning: ...`` line;
    other warnings keep Python's format."""
    previous = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if getattr(category, "__module__", "").startswith("interlingua."):
            from rich.markup import escape

            err.print(f"[yellow]warning:[/yellow] {escape(str(message))}", soft_wrap=True)
        else:
            previous(message, category, filename, lineno, file, line)

    return show


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    from rich.console import Console

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("INTERLINGUA_DEBUG") == "1"
    err = Console(stderr=True, highlight=False)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warnings(err)
        return _main(args, debug, err)


def _main(args: list[str], debug: bool, err: Any) -> int:
    try:
        code = cli.main(args=args, prog_name="interlingua", standalone_mode=False)
        return int(code or 0)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        if debug:
            raise
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        from rich.markup import escape

        err.print(f"[red]{escape(_interrupt_text(exc))}[/red]", soft_wrap=True)
        return 130
    except Exception as exc:
        if debug:
            raise
        from interlingua.core.errors import InterlinguaError

        text = str(exc) if isinstance(exc, InterlinguaError) else f"{type(exc).__name__}: {exc}"
        hint = "" if isinstance(exc, InterlinguaError) else " (run with --debug for the traceback)"
        from rich.markup import escape

        err.print(f"[bold red]Error:[/bold red] {escape(text)}{hint}", soft_wrap=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
