"""Helpers shared by the CLI commands: rich output, result files, parameters."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..core.errors import InputError
from ..core.result import to_jsonable


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


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write JSON atomically (non-finite floats become null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> Path:
    """Write a list of flat dicts as CSV (columns = union of keys, first-seen order)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: to_jsonable(v) for k, v in row.items()})
    os.replace(tmp, path)
    return path


def write_outputs(
    out: str | os.PathLike,
    json_obj: Any,
    csv_rows: Sequence[dict[str, Any]] | None = None,
    stem: str = "results",
) -> list[Path]:
    """Write results: ``out`` ending in ``.json`` is the JSON file (CSV beside it);
    anything else is a directory receiving ``<stem>.json`` and ``<stem>.csv``."""
    out = Path(out)
    if out.suffix.lower() == ".json":
        json_path, csv_path = out, out.with_suffix(".csv")
    else:
        out.mkdir(parents=True, exist_ok=True)
        json_path, csv_path = out / f"{stem}.json", out / f"{stem}.csv"
    written = [write_json(json_path, json_obj)]
    if csv_rows:
        written.append(write_csv(csv_path, csv_rows))
    return written


def make_progress(transient: bool = False, rate_unit: str | None = None) -> Any:
    """The shared rich progress bar (:func:`interlingua.core.progress.make_progress`)."""
    from ..core.progress import make_progress as _make

    return _make(transient=transient, rate=bool(rate_unit), console=err_console)


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
            import difflib

            close = difflib.get_close_matches(key, declared, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
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
