"""`ember flash`: a firmware image (if given), then the runtime or a ROMFS image."""

from __future__ import annotations

from pathlib import Path

from host_tools.cli.context import Context
from host_tools.install import runtime as deploy


def cmd_flash(ctx: Context) -> int:
    from host_tools.install.flash_board import flash_board

    args = ctx.args

    def flashed(image: Path) -> None:  # printed as typed, before the runtime goes on
        if not args.quiet:
            print(f"flashed {args.firmware}; the board has rebooted")

    result = flash_board(ctx, image=Path(args.firmware) if args.firmware else None,
                         romfs_sources=([Path(p) for p in args.romfs]
                                        if args.romfs is not None else None),
                         flasher_board=args.board, quiet=args.quiet, on_flashed=flashed,
                         progress=ctx.progress)
    if args.quiet:
        return 0
    if result.romfs is not None:
        placed = result.romfs
        where = ("a RAM copy (no ROMFS partition)" if placed.kind == "ram"
                 else f"the ROMFS partition ({placed.capacity} bytes)")
        print(f"ROMFS image of {placed.size} bytes mounted at {placed.mount_point}: {where}")
    elif result.runtime is None:
        print("runtime frozen into the board's firmware: nothing to install")
    else:
        print(f"runtime installed in {deploy.RUNTIME_DEST}: {len(result.runtime.sent)} sent, "
              f"{len(result.runtime.unchanged)} unchanged")
    return 0
