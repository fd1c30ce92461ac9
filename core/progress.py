"""Progress bars of the long CLI commands (export, verify-recordings, verify-log, reindex): rich, on
stderr, drawn only on a terminal and never with --quiet, so stdout stays the command's result and
a script or a pipe sees no bar."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

#: `advance(n)`: n more bytes (or items) done.
Advance = Callable[[int], None]
Unit = Literal["bytes", "items"]


@dataclass(frozen=True, slots=True)
class ProgressBars:
    """Whether to draw, and the bars themselves; pass QUIET where nobody watches."""

    show: bool

    @classmethod
    def for_terminal(cls, quiet: bool, stream: TextIO | None = None) -> ProgressBars:
        """Bars when `stream` (stderr) is a terminal and the user did not ask for --quiet."""
        stream = stream if stream is not None else sys.stderr
        return cls(not quiet and stream.isatty())

    @contextlib.contextmanager
    def bar(self, label: str, total: int | None, unit: Unit = "items") -> Iterator[Advance]:
        """One bar on stderr while the block runs; yields `advance(n)`. `total` None: unknown."""
        columns: tuple[ProgressColumn, ...] = (
            (TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
            if unit == "bytes"
            else (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        )
        with Progress(*columns, console=Console(stderr=True), disable=not self.show) as progress:
            task = progress.add_task(label, total=total)
            yield lambda n: progress.advance(task, n)


QUIET = ProgressBars(False)
