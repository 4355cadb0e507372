"""Progress reporting: a small protocol in core, implemented by the user interface.

Library code (pipelines, extractors, clustering) never imports a UI library. It takes
a ``progress`` argument — anything with :meth:`Progress.task` — and reports through it::

    def run(items, progress: Progress | None = None):
        with as_progress(progress).task("clustering", total=len(items)) as task:
            for item in items:
                ...
                task.advance()

:data:`SILENT` reports nothing. The command line passes the rich implementation
(:func:`rich_progress`, one bar per task on stderr), and so can a notebook.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Task(Protocol):
    """One unit of long work with a known (or unknown: ``None``) total."""

    def advance(self, steps: float = 1, **fields: Any) -> None:
        """Count ``steps`` more done; ``fields`` update extra columns (e.g. ``rate``)."""

    def update(self, *, total: float | None = None, description: str | None = None) -> None:
        """Change the total or the description."""


@runtime_checkable
class Progress(Protocol):
    """Something that can show tasks (see the module docstring)."""

    def task(self, description: str, total: float | None = None,
             **fields: Any) -> contextlib.AbstractContextManager[Task]:
        """A context manager yielding a :class:`Task`; the task ends with the block."""


class _SilentTask:
    def advance(self, steps: float = 1, **fields: Any) -> None:
        return None

    def update(self, *, total: float | None = None, description: str | None = None) -> None:
        return None


class _Silent:
    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None,
             **fields: Any) -> Iterator[Task]:
        yield _SilentTask()


#: A :class:`Progress` that shows nothing.
SILENT: Progress = _Silent()


def as_progress(progress: Progress | bool | None) -> Progress:
    """``None``/``False`` → :data:`SILENT`; ``True`` → :func:`rich_progress`; else as is."""
    if progress is None or progress is False:
        return SILENT
    if progress is True:
        return rich_progress()
    return progress


class _RichTask:
    def __init__(self, bar: Any, task_id: Any) -> None:
        self._bar, self._id = bar, task_id

    def advance(self, steps: float = 1, **fields: Any) -> None:
        self._bar.update(self._id, advance=steps, **fields)

    def update(self, *, total: float | None = None, description: str | None = None) -> None:
        changes: dict[str, Any] = {}
        if total is not None:
            changes["total"] = total
        if description is not None:
            changes["description"] = description
        self._bar.update(self._id, **changes)


class _RichProgress:
    def __init__(self, *, transient: bool, rate: bool, console: Any) -> None:
        self.transient, self.rate, self.console = transient, rate, console

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None,
             **fields: Any) -> Iterator[Task]:
        if self.rate:
            fields.setdefault("rate", "")
        with make_progress(transient=self.transient, rate=self.rate,
                           console=self.console) as bar:
            yield _RichTask(bar, bar.add_task(description, total=total, **fields))


def rich_progress(*, transient: bool = False, rate: bool = False,
                  console: Any = None) -> Progress:
    """The rich implementation of :class:`Progress` (bars on stderr)."""
    return _RichProgress(transient=transient, rate=rate, console=console)


def make_progress(*, enabled: bool = True, transient: bool = False, rate: bool = False,
                  console: Any = None) -> Any:
    """A ``rich.progress.Progress`` on stderr: description, bar, n/total, elapsed,
    remaining; with ``rate=True`` a ``{task.fields[rate]}`` column (e.g. "812 tok/s").
    ``rich`` is imported on first use only.

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


__all__ = ["SILENT", "Progress", "Task", "as_progress", "make_progress", "rich_progress"]
