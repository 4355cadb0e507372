"""The one rich progress bar used by every long-running step (extraction, probing,
clustering, comparisons). ``rich`` is imported on first use only."""

from __future__ import annotations

from typing import Any


def make_progress(*, enabled: bool = True, transient: bool = False, rate: bool = False,
                  console: Any = None) -> Any:
    """A ``rich.progress.Progress`` on stderr: description, bar, n/total, elapsed,
    remaining; with ``rate=True`` a ``{task.fields[rate]}`` column (e.g. "812 tok/s").

    Parameters
    ----------
    enabled : bool
        ``False`` gives a disabled bar (same API, prints nothing).
    transient : bool
        Remove the bar when done.
    console : rich.console.Console, optional
        Where to draw (default: a stderr console).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
    ]
    if rate:
        columns.append(TextColumn("{task.fields[rate]}", justify="right"))
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    return Progress(*columns, console=console or Console(stderr=True), transient=transient,
                    disable=not enabled)
