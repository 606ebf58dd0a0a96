"""What a command handler works with: the parsed options, and lazily the resolved port, an
opened Link (closed when the command ends) and the board's profile name.

The one place the CLI meets `Link`: handlers take the link from their Context.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

from host_tools.boards.detect import check_profile, profile_for_port, resolve_port
from host_tools.cli.progress import progress_bar
from host_tools.farm.places import PlaceInfo, sigterm_as_interrupt
from host_tools.install import runtime as deploy
from host_tools.link.interface import Progress
from host_tools.link.session import Link


def build_dir(args: argparse.Namespace) -> Path:
    """Where the user's compiled files go: --build-dir, else ./build."""
    return deploy.project_build_dir(Path(args.build_dir) if args.build_dir else None)


def board_name(args: argparse.Namespace, link: Link | None) -> str | None:
    """--board (checked against the board), else the profile of a virtual or USB-matched
    board on the port."""
    if args.board:
        if link is not None:
            check_profile(link, args.board)
        return args.board
    return profile_for_port(link.port) if link is not None else None


def write_out(data: bytes) -> None:
    """Streams a board's output to stdout as it comes (without the raw REPL's end marks)."""
    sys.stdout.buffer.write(data.replace(b"\x04", b""))
    sys.stdout.buffer.flush()


class Context:
    """One command's options and board. `with Context(args) as ctx:` closes the Link, if
    one was opened, when the command ends."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._port: str | None = None
        self._link: Link | None = None
        self._board: str | None = None
        self._board_found = False
        self._place: tuple[PlaceInfo, str] | None = None  # --labgrid: held, and where
        self._previous_sigterm: object = None

    @property
    def quiet(self) -> bool:
        return bool(self.args.quiet)

    @property
    def build_dir(self) -> Path:
        return build_dir(self.args)

    @property
    def port(self) -> str:
        """The port, resolved on first use (a LinkError if there is none or several)."""
        if self._port is None:
            if getattr(self.args, "labgrid", None):
                self._port = self._hold_place(self.args.labgrid).url
            else:
                self._port = resolve_port(self.args.port)
        return self._port

    def _hold_place(self, pattern: str) -> PlaceInfo:
        """--labgrid: the place acquired until the command ends (SIGTERM, like Ctrl-C,
        ends it through close(), so the place is released either way)."""
        from host_tools.farm import places

        self._previous_sigterm = signal.signal(signal.SIGTERM, sigterm_as_interrupt)
        place, address = places.hold_one(pattern)
        self._place = (place, address)
        if not self.args.board and place.board:
            self._board, self._board_found = place.board, True  # the place's board= tag
        return place

    @property
    def link(self) -> Link:
        """The Link to --port (else $EMBER_PORT, else the single board found), opened on
        first use; a --board that is not the board on it is refused then, for every verb."""
        if self._link is None:
            self._link = Link(self.port).open()
            if self.args.board:
                self.board  # noqa: B018 - a --board that is not this board: refused now
        return self._link

    @property
    def board(self) -> str | None:
        """The board's profile name (see board_name), on the opened link; found once."""
        if not self._board_found:
            self._board = board_name(self.args, self.link)
            self._board_found = True
        return self._board

    def progress(self, label: str) -> AbstractContextManager[Progress | None]:
        """A progress bar on stderr for one step; nothing with --quiet."""
        return progress_bar(label, self.quiet)

    def close(self) -> None:
        link, self._link = self._link, None
        try:
            if link is not None:
                link.close()
        finally:
            self._release_place()

    def _release_place(self) -> None:
        held, self._place = self._place, None
        if held is not None:
            from host_tools.farm import places

            failed = places.let_go(*held)
            if failed:
                print(f"ember: warning: not released: {'; '.join(failed)}", file=sys.stderr)
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)  # type: ignore[arg-type]
            self._previous_sigterm = None

    def __enter__(self) -> Context:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


Handler = Callable[[Context], int]
