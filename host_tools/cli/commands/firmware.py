"""`ember firmware build`: MicroPython for a board with ember frozen in (cached)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from host_tools.boards import profiles as boards
from host_tools.cli.context import Context
from host_tools.errors import CommandError


def cmd_firmware_build(ctx: Context) -> int:
    from host_tools.install import firmware_build

    args = ctx.args
    if not args.board:
        raise CommandError("firmware build needs --board NAME (one of: "
                           + ", ".join(boards.profile_names()) + ")")
    c_modules = [Path(d) for d in args.c_modules]
    if args.dry_run and not args.virtual:
        print(" ".join(firmware_build.port_command(args.board, args.micropython,
                                                   jobs=args.jobs, extra=args.extra,
                                                   c_modules=c_modules)))
        return 0
    result = firmware_build.build_firmware(args.board, args.micropython, virtual=args.virtual,
                                           jobs=args.jobs, extra=args.extra,
                                           c_modules=c_modules)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        state = "cached" if result.cached else f"built in {result.seconds:.1f} s"
        print(result.image)
        if not args.quiet:
            print(f"{result.board} ({result.target}, MicroPython {result.micropython}): "
                  f"{state}; text {result.text} B, data {result.data} B, bss {result.bss} B",
                  file=sys.stderr)
    return 0
