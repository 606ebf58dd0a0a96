"""`ember flash` as one sequence: a firmware image first (if given), then ember's code onto
the rebooted board, as a ROMFS image (with the app) or as the runtime under /lib/ember."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from host_tools.boards.detect import profile_for_port
from host_tools.install import romfs
from host_tools.install import runtime as deploy
from host_tools.install.romfs import RomfsDeployment
from host_tools.install.run import ProgressBars, no_progress
from host_tools.link.session import Link
from host_tools.push.session import PushResult


class Board(Protocol):
    """The board being flashed: its port, and a Link opened only when first asked for
    (after the image is written and the board has rebooted)."""

    @property
    def port(self) -> str: ...

    @property
    def link(self) -> Link: ...

    @property
    def board(self) -> str | None:
        """The profile name of the board on the link (--board, checked against it)."""
        ...


@dataclass(frozen=True)
class Flashed:
    """What flash_board did: the image written, and where ember's code went."""

    image: Path | None = None  # the firmware image written first, if any
    romfs: RomfsDeployment | None = None  # the ROMFS image, when one was asked for
    runtime: PushResult | None = None  # the runtime files synced (None: ROMFS, or frozen)

    @property
    def frozen(self) -> bool:
        """The firmware has the runtime frozen in: nothing was installed."""
        return self.romfs is None and self.runtime is None


def flash_board(target: Board, *, image: Path | None = None,
                romfs_sources: list[Path] | None = None, flasher_board: str | None = None,
                quiet: bool = False, on_flashed: Callable[[Path], None] | None = None,
                progress: ProgressBars = no_progress) -> Flashed:
    """Writes image with the board's flasher (its profile: flasher_board, else the one known
    for the port), calling on_flashed once the board is back; then builds romfs_sources
    (None: no ROMFS; [] means .) and the runtime into a ROMFS image and mounts it, or else
    installs the runtime (nothing where the firmware has it frozen in)."""
    if image is not None:
        from host_tools.install import flash

        flash.write_firmware(target.port, image,
                             board=flasher_board or profile_for_port(target.port), quiet=quiet)
        if on_flashed is not None:
            on_flashed(image)
    link, board = target.link, target.board
    if romfs_sources is not None:
        with progress("deploying ROMFS") as bar:
            placed = romfs.install_romfs(link, romfs_sources or [Path(".")], board=board,
                                         progress=bar)
        return Flashed(image=image, romfs=placed)
    with progress("installing runtime") as bar:
        result = deploy.install_runtime(link, board=board, progress=bar)
    return Flashed(image=image, runtime=result)
