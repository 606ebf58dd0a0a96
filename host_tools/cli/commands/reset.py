"""`ember reset` (hard: boot.py and main.py run as at power-on) and `ember soft-reset`."""

from __future__ import annotations

import sys

from host_tools.boards.profiles import load_profile
from host_tools.cli.context import Context
from host_tools.link.reset import hard_reset, soft_reset
from host_tools.sim import registry


def cmd_reset(ctx: Context) -> int:
    board = ctx.board
    # A virtual board's pty has no RTS line to pulse: machine.reset() resets it.
    virtual = registry.find(ctx.port) is not None
    profile = load_profile(board) if board is not None and not virtual else None
    method = profile.link.reset if profile is not None else "machine"
    # a native-USB board (usb-cdc) leaves the bus at a reset and comes back
    hard_reset(ctx.link, method=method,
               reenumerates=profile is not None and profile.link.kind == "usb-cdc")
    if not ctx.quiet:
        print(f"reset {ctx.port} ({'RTS' if method == 'rts' else 'machine.reset()'}); "
              "boot.py and main.py run", file=sys.stderr)
    return 0


def cmd_soft_reset(ctx: Context) -> int:
    soft_reset(ctx.link)
    if not ctx.quiet:
        print(f"soft reset {ctx.port}: a fresh heap, at the REPL (main.py not run)",
              file=sys.stderr)
    return 0
