"""`ember watch`: push what changed on every save, soft-reset, run the entry script and
stream its output, until Ctrl-C.

File events come from watchfiles (the library uvicorn and others use; written by hand
here is only the loop around it). While the script runs, its output is read between
file-event checks, so an app that runs forever is stopped (Ctrl-C on the board) when a
file changes, and started again on the new code. Edits that come in a burst (an editor
saving several files) are taken as one change.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from host_tools.errors import EmberError
from host_tools.install import runtime as deploy
from host_tools.link.interface import BoardLink
from host_tools.link.program import Program
from host_tools.mpy import compiler

POLL_MS = 50  # how often output is read and file events are looked at
STOP_TIMEOUT_S = 3.0  # a script interrupted for new code must have ended by then


@dataclass
class Round:
    """One change taken: what was sent, and when the script started again."""

    changed: list[str]
    sent: int
    started_at: float  # time.monotonic() when the script was started on the board


def watch(link: BoardLink, sources: list[Path], entry: Path, *, board: str | None,
          dest: str = "/", build_dir: Path | None = None,
          on_output: Callable[[bytes], None], on_round: Callable[[Round], None],
          on_error: Callable[[EmberError], None],
          stop: threading.Event | None = None) -> None:
    """Pushes sources and runs `entry`, then again after every change, until `stop` is
    set or KeyboardInterrupt; a build or push error (a syntax error, say) is reported to
    on_error and the watch goes on, waiting for the fix."""
    stop = stop or threading.Event()
    program: Program | None = None
    watched = [str(p) for p in [*sources, entry] if p.exists()]
    # the build folder is written by every push: its events are not the user's edits
    ignored = [str(build_dir or deploy.project_build_dir(None))]
    changed: list[str] = ["(start)"]
    try:
        for events in watchfiles.watch(*watched, stop_event=stop, yield_on_timeout=True,
                                       rust_timeout=POLL_MS, debounce=POLL_MS,
                                       raise_interrupt=True,
                                       watch_filter=watchfiles.DefaultFilter(
                                           ignore_paths=ignored)):
            if events:
                changed = sorted({_shown(path, sources) for _, path in events})
            if changed:
                if program is not None:
                    program.stop(STOP_TIMEOUT_S)
                    program = None
                program = _round(link, sources, entry, board, dest, build_dir, changed,
                                 on_output, on_round, on_error)
                changed = []
            if program is not None:
                program = _pump(program, on_error)
    finally:
        if program is not None and not program.done:
            program.stop(STOP_TIMEOUT_S)


def _round(link: BoardLink, sources: list[Path], entry: Path, board: str | None, dest: str,
           build_dir: Path | None, changed: list[str], on_output: Callable[[bytes], None],
           on_round: Callable[[Round], None],
           on_error: Callable[[EmberError], None]) -> Program | None:
    try:
        # The entry script is compiled first (and thrown away: its source is what runs), so
        # a syntax error in it is said with its file and line before the board is touched.
        target, _ = deploy.board_target(link, board)
        with tempfile.TemporaryDirectory(prefix="ember-watch-") as out:
            compiler.compile_file(entry, target, Path(out), root=entry.parent)
        _, result = deploy.push_project(link, sources, board=board, dest=dest,
                                        build_dir=build_dir)
        link.raw_repl(soft_reset=True)  # a clean heap and globals for the new code
        program = link.start(entry.read_bytes(), on_output=on_output)
    except EmberError as error:
        on_error(error)
        return None
    on_round(Round(changed, len(result.sent), time.monotonic()))
    return program


def _pump(program: Program, on_error: Callable[[EmberError], None]) -> Program | None:
    """Reads what the script printed since the last look; None once it has ended."""
    try:
        program.read(POLL_MS / 1000)
    except EmberError as error:
        on_error(error)
        return None
    if not program.done:
        return program
    error = program.device_error()
    if error is not None:
        on_error(error)
    return None


def _shown(path: str, sources: list[Path]) -> str:
    for source in sources:
        root = source if source.is_dir() else source.parent
        try:
            return str(Path(path).relative_to(root.resolve()))
        except ValueError:
            continue
    return path

