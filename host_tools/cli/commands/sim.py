"""`ember sim start|stop|list`: virtual boards."""

from __future__ import annotations

import sys
from pathlib import Path

from host_tools.boards import profiles as boards
from host_tools.cli.context import Context
from host_tools.errors import EmberError
from host_tools.sim import launcher, registry


def cmd_sim_start(ctx: Context) -> int:
    args = ctx.args
    board = args.board
    if not board:
        raise EmberError("sim start needs --board NAME (one of: "
                         + ", ".join(boards.profile_names()) + ")")
    baud = -1 if args.baud is None else (args.baud or None)
    record = launcher.start(
        board,
        baud=baud,
        state_dir=Path(args.state) if args.state else None,
        power_cut_after=args.power_cut_after,
        noise=args.noise,
        noise_seed=args.noise_seed,
        firmware=Path(args.firmware) if args.firmware else None,
    )
    if record.warning and not args.quiet:
        print(f"ember: {record.warning}", file=sys.stderr)
    print(record.to_json() if args.json else record.port)
    return 0


def cmd_sim_stop(ctx: Context) -> int:
    args = ctx.args
    if args.all:
        stopped = launcher.stop_all()
        if not args.quiet:
            for record in stopped:
                print(f"stopped {record.port} ({record.board})", file=sys.stderr)
        return 0
    if not args.sim_port:
        raise EmberError("sim stop needs a PORT or --all")
    launcher.stop_port(args.sim_port)
    return 0


def cmd_sim_list(ctx: Context) -> int:
    for record in registry.running():
        print(record.to_json() if ctx.args.json
              else f"{record.port}\t{record.board}\t{record.pid}")
    return 0
