"""Progress bars on stderr (rich): bytes, rate and time left; silent if quiet."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from host_tools.link.interface import Progress as ProgressCallback


@contextmanager
def progress_bar(label: str, quiet: bool) -> Iterator[ProgressCallback | None]:
    """Yields a (done, total) callback drawing a bar, or None when quiet or when stderr is
    not a terminal (a log or a pipe gets no bar, and no blank line where it was)."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    columns = (label, BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())  # bytes, rate and time left
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update
