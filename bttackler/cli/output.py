"""Output that survives a pipe and a narrow terminal.

* :class:`DropOnBrokenPipe`: ``bttackler run ... | head`` closes the pipe after a few lines;
  the run keeps going with its output dropped (the store and ``trials`` have everything)
  instead of dying mid-search with its trials left ``running``.
* :func:`print_rows`: a table on a terminal; plain tab-separated rows, one line per row, when
  stdout is a pipe or a file (``bttackler trials RUN | wc -l`` counts trials).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table


class DropOnBrokenPipe:
    """A text stream that forwards to ``stream`` until the reader goes away, then drops."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.dropped = False

    def write(self, text: str) -> int:
        if not self.dropped:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.dropped:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.dropped = True
        # The interpreter flushes the real stdout at exit too: point its descriptor at
        # /dev/null so that flush has nowhere to fail.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def isatty(self) -> bool:
        return False if self.dropped else self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def keep_running_if_the_pipe_closes() -> None:
    """Make ``sys.stdout`` a :class:`DropOnBrokenPipe` (once)."""
    if not isinstance(sys.stdout, DropOnBrokenPipe):
        sys.stdout = DropOnBrokenPipe(sys.stdout)  # type: ignore[assignment]


def is_terminal() -> bool:
    return sys.stdout.isatty()


def print_rows(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    whole: Sequence[str] = (),
) -> None:
    """A rich table on a terminal; otherwise a ``# title`` line, a header and one
    tab-separated line per row (tabs and newlines inside cells become spaces). Cells of the
    ``whole`` columns (paths) are never split across lines on a terminal."""
    if is_terminal():
        table = Table(title=title)
        for col in columns:
            table.add_column(col, overflow="fold", no_wrap=col in whole)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    print(f"# {title}")
    print("\t".join(columns))
    for row in rows:
        print("\t".join(" ".join(str(cell).split()) for cell in row))


def line(text: str) -> None:
    """One line that is never wrapped (paths and commands stay copy-pastable)."""
    Console(soft_wrap=True).print(text, highlight=False)
