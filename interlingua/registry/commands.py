"""The toolkit of command authors (built-in families and third-party packages alike):
rich tables and consoles, result files written through :mod:`interlingua.core.outputs`,
the ``-f/--overwrite`` option, the comma-list option type, and click options generated
from a plugin's declared :class:`~interlingua.core.params.Param` list, so that a
command never re-declares a plugin's defaults (``plugins show NAME`` and ``--help``
agree by construction)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interlingua.core.errors import InputError
from interlingua.core.outputs import (
    atomic_output,
    atomic_write_text,
    check_output_dir,
    check_outputs,
)
from interlingua.core.params import Param
from interlingua.core.result import to_jsonable
from interlingua.core.suggest import did_you_mean


def _console(stderr: bool = False) -> Console:
    con = Console(stderr=stderr, highlight=False)
    # Logs and pipes get wide tables rather than numbers cropped to 80 columns.
    if not con.is_terminal and "COLUMNS" not in os.environ:
        con.width = max(con.width, 160)
    return con


console = _console()
err_console = _console(stderr=True)


def format_value(value: Any, digits: int = 4) -> str:
    """Compact text for a table cell."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value != 0 and (abs(value) < 10 ** -digits or abs(value) >= 1e6):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, float) for v in value
    ):
        return f"[{format_value(value[0], digits)}, {format_value(value[1], digits)}]"
    return str(value)


def make_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    text_columns: int = 1,
) -> Table:
    """A rich table; the first ``text_columns`` columns are left-aligned text that does
    not wrap, the rest right-aligned (numbers)."""
    # Cells and headers are data, not markup: "cka[debiased=True]" must print as is.
    # A table at least as wide as its title keeps the title on one line.
    table = Table(title=escape(title) if title else None, header_style="bold cyan",
                  title_justify="left", min_width=len(title) + 2 if title else None)
    cells = [[escape(c if isinstance(c, str) else format_value(c)) for c in row]
             for row in rows]
    for i, column in enumerate(columns):
        text = i < text_columns
        # Numbers are never wrapped or cropped (a split number misreads).
        width = max([len(r[i]) for r in cells if i < len(r)] + [1])
        table.add_column(escape(column), justify="left" if text else "right",
                         no_wrap=not text or i < len(columns) - 1, overflow="fold",
                         min_width=None if text else width)
    for row in cells:
        table.add_row(*row)
    return table


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a rich table (first column left-aligned, numbers formatted)."""
    console.print(make_table(title, columns, rows))


#: The ``-f/--overwrite`` flag of every command that writes files.
overwrite_option = click.option(
    "-f", "--overwrite", is_flag=True,
    help="Replace existing output files (inputs are never overwritten).",
)


def write_json(path: str | os.PathLike, obj: Any, *, overwrite: bool = False,
               inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Write JSON atomically (non-finite floats become null).

    Parameters
    ----------
    path : path-like
        Destination (parent directories are created).
    obj : Any
        Made JSON-ready with :func:`~interlingua.core.result.to_jsonable`.
    overwrite : bool
        Replace an existing file.
    inputs : iterable of path-like
        The command's inputs, never written (:func:`~interlingua.core.outputs.atomic_output`).
    """
    text = json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text, inputs=inputs, overwrite=overwrite)


def write_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]], *,
              overwrite: bool = False,
              inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Write a list of flat dicts as CSV (columns = union of keys, first-seen order),
    atomically; ``overwrite`` and ``inputs`` as for :func:`write_json`."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with atomic_output(path, inputs=inputs, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: to_jsonable(v) for k, v in row.items()})
    return Path(path)


def result_paths(out: str | os.PathLike, stem: str, *, with_csv: bool = True,
                 with_png: bool = False) -> list[Path]:
    """The files :func:`write_outputs` writes for ``out``: ``[json, csv?, png?]``.

    ``out`` ending in ``.json`` is the JSON file (CSV and PNG beside it); anything
    else is a directory receiving ``<stem>.json``, ``<stem>.csv``, ``<stem>.png``.
    """
    out = Path(out)
    json_path = out if out.suffix.lower() == ".json" else out / f"{stem}.json"
    paths = [json_path]
    if with_csv:
        paths.append(json_path.with_suffix(".csv"))
    if with_png:
        paths.append(json_path.with_suffix(".png"))
    return paths


def check_results(out: str | os.PathLike, stem: str, *, with_csv: bool = True,
                  with_png: bool = False,
                  extra: Iterable[str | os.PathLike | None] = (),
                  inputs: Iterable[str | os.PathLike | None] = (),
                  overwrite: bool = False) -> list[Path]:
    """Pre-flight of :func:`write_outputs` (and of ``extra`` files such as a plot):
    refuse before any work when an output exists (without ``overwrite``), is an input,
    or ``out`` is a file where a directory is needed. Returns :func:`result_paths`."""
    inputs = list(inputs)
    paths = result_paths(out, stem, with_csv=with_csv, with_png=with_png)
    if Path(out).suffix.lower() != ".json":
        check_output_dir(out, inputs)
    check_outputs([*paths, *extra], inputs, overwrite=overwrite)
    return paths


def write_outputs(
    out: str | os.PathLike,
    json_obj: Any,
    csv_rows: Sequence[dict[str, Any]] | None = None,
    stem: str = "results",
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike | None] = (),
) -> list[Path]:
    """Write results: ``out`` ending in ``.json`` is the JSON file (CSV beside it);
    anything else is a directory receiving ``<stem>.json`` and ``<stem>.csv``.

    Each file is written atomically; an existing one is refused unless ``overwrite``
    and the ``inputs`` are never written (run :func:`check_results` first)."""
    inputs = list(inputs)
    json_path, csv_path = result_paths(out, stem)
    written = [write_json(json_path, json_obj, overwrite=overwrite, inputs=inputs)]
    if csv_rows:
        written.append(write_csv(csv_path, csv_rows, overwrite=overwrite, inputs=inputs))
    return written


def parse_key_values(items: Sequence[str], what: str = "--param") -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}`` with a clear error for malformed items."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{what} expects key=value, got {item!r}")
        out[key.strip()] = value
    return out


def parse_plugin_params(factory: Any, items: Sequence[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings with the types declared by the plugin's params."""
    raw = parse_key_values(items)
    declared = {p.name: p for p in getattr(factory, "params", ())}
    out: dict[str, Any] = {}
    for key, text in raw.items():
        if key not in declared:
            hint = did_you_mean(key, declared)
            names = ", ".join(declared) or "none"
            raise InputError(f"unknown parameter {key!r}{hint} (parameters: {names})")
        out[key] = declared[key].parse(text)
    return out


def parse_json_values(items: Sequence[str], what: str = "--arg") -> dict[str, Any]:
    """``key=value`` where value is read as JSON when possible, else as a string."""
    out: dict[str, Any] = {}
    for key, text in parse_key_values(items, what).items():
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


# -- option types and options generated from declared parameters ----------------------
class ListType(click.ParamType):
    """A comma-separated list option: ``--layers 0,6,-1`` → ``["0", "6", "-1"]``.

    Empty items are dropped; ``item_type`` (e.g. ``int``) converts each item. A value
    that is already a list (a default) passes through.
    """

    name = "list"

    def __init__(self, item_type: type = str) -> None:
        self.item_type = item_type

    def convert(self, value: Any, param: Any, ctx: Any) -> list[Any] | None:
        if value is None:
            return None
        items = value if isinstance(value, (list, tuple)) else \
            [part.strip() for part in str(value).split(",")]
        out = []
        for item in items:
            if item == "":
                continue
            try:
                out.append(self.item_type(item))
            except (TypeError, ValueError):
                self.fail(f"{item!r} is not a valid {self.item_type.__name__}", param, ctx)
        return out

    def get_metavar(self, param: Any, ctx: Any = None) -> str:
        return "A,B,..."


#: The shared comma-list option type (strings).
LIST = ListType()


def _param_option(spec: Param, flags: tuple[str, ...]) -> Any:
    kwargs: dict[str, Any] = {"help": spec.help, "show_default": True}
    if spec.type is bool:
        base = flags[-1][2:]
        return click.option(f"--{base}/--no-{base}", spec.name, default=bool(spec.default),
                            **kwargs)
    if spec.choices is not None:
        kwargs["type"] = click.Choice([str(c) for c in spec.choices])
        kwargs["default"] = None if spec.default is None else str(spec.default)
        kwargs["callback"] = lambda ctx, param, value: (
            None if value is None else spec.check(spec.parse(value)))
    elif spec.type in (int, float, str):
        kwargs["type"] = spec.type
        kwargs["default"] = spec.default
    elif isinstance(spec.default, (list, tuple)):
        kwargs["type"] = LIST
        kwargs["default"] = ",".join(str(v) for v in spec.default) or None
    else:  # free JSON value: parsed like `--param name=value`
        kwargs["type"] = str
        kwargs["default"] = None if spec.default is None else json.dumps(spec.default)
        kwargs["callback"] = lambda ctx, param, value: (
            spec.default if value is None else spec.parse(value))
    return click.option(*flags, spec.name, **kwargs)


def param_options(factory: Any, *, only: Sequence[str] | None = None,
                  exclude: Sequence[str] = (),
                  flags: dict[str, str | tuple[str, ...]] | None = None) -> Any:
    """Decorator adding one click option per declared parameter of ``factory``.

    Defaults, help texts, types and choices come from the plugin's ``params``; the
    command receives each value under the parameter's name (see
    :func:`plugin_kwargs`).

    Parameters
    ----------
    factory : plugin class
        Anything with a ``params`` tuple of :class:`~interlingua.core.params.Param`.
    only, exclude : sequence of str
        Which parameters become options (default: all).
    flags : dict, optional
        Parameter name → option flag, or tuple of flags (e.g. ``("-k", "--n-clusters")``),
        when it should differ from ``--name-with-dashes``.
    """
    declared = list(getattr(factory, "params", ()))
    names = [p.name for p in declared]
    for name in list(only or ()) + list(exclude):
        if name not in names:
            raise ValueError(f"{getattr(factory, '__name__', factory)} has no parameter "
                             f"{name!r}{did_you_mean(name, names)}")
    chosen = [p for p in declared
              if (only is None or p.name in only) and p.name not in exclude]
    flags = flags or {}

    def decorate(func: Any) -> Any:
        for spec in reversed(chosen):
            given = flags.get(spec.name, "--" + spec.name.replace("_", "-"))
            func = _param_option(spec, (given,) if isinstance(given, str) else tuple(given))(
                func)
        return func

    return decorate


def plugin_kwargs(factory: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The entries of a command's ``values`` that are parameters of ``factory``."""
    names = {p.name for p in getattr(factory, "params", ())}
    return {k: v for k, v in values.items() if k in names}

