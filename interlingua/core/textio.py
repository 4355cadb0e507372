"""Line-oriented UTF-8 reading with errors that name the file and line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from interlingua.core.errors import FormatError


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` (1-based, newline stripped) of a UTF-8 text file.

    Raises
    ------
    FormatError
        If the file is missing or a line is not valid UTF-8 (the message gives the line).
    """
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FormatError(
                    f"{path}:{number}: not valid UTF-8 (byte {raw[exc.start]:#04x} at column "
                    f"{exc.start + 1}); convert the file to UTF-8, e.g. with iconv"
                ) from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield number, line.rstrip("\r\n")
