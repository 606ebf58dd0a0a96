"""Running a script on a board as `ember run` does: build, push, soft reset, stream output.

A Ctrl-C on the host (KeyboardInterrupt) stops the script on the board too, and what the
board still prints while it stops is passed on before returning.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from host_tools.install import runtime as deploy
from host_tools.link.interface import BoardLink, Progress

# A progress display for one step, by its label: a context giving a (done, total)
# callback, or None to show nothing.
ProgressBars = Callable[[str], AbstractContextManager[Progress | None]]

FINISHED = 0
INTERRUPTED = 130  # the script was stopped by Ctrl-C (the shell's status for SIGINT)


def no_progress(label: str) -> AbstractContextManager[Progress | None]:
    """ProgressBars that show nothing."""
    return nullcontext(None)


def run_script(link: BoardLink, script: Path, *, board: str | None = None,
               with_sources: list[Path] | None = None, reset: bool = True,
               build_dir: Path | None = None,
               on_output: Callable[[bytes], None] | None = None,
               progress: ProgressBars = no_progress) -> int:
    """Compiles script for the board (a syntax error stops here, before the board is
    touched), builds and pushes with_sources, soft-resets unless reset is False (a clean
    heap and globals, as mpremote run has) and runs the script, its output streamed to
    on_output. Returns FINISHED, or INTERRUPTED after a KeyboardInterrupt; a device
    traceback raises DeviceError."""
    target, label = deploy.board_target(link, board)
    deploy.build_tree([script], target, label, subdir="run", root=build_dir)
    if with_sources:
        with progress("pushing") as bar:
            deploy.push_project(link, with_sources, board=board, progress=bar,
                                build_dir=build_dir)
    if reset:
        link.raw_repl(soft_reset=True)
    try:
        link.exec(script.read_bytes(), on_output=on_output, timeout=None)
    except KeyboardInterrupt:  # Link.exec stopped it on the board and passed on its end
        return INTERRUPTED
    return FINISHED
