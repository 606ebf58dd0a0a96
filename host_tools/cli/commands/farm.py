"""`ember farm up|down|status`: a local labgrid farm of virtual boards on loopback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from host_tools.cli.context import Context
from host_tools.farm import local, processes, state
from host_tools.farm.coordinator import COORDINATOR_ENV
from host_tools.farm.errors import FarmError

DEFAULT_BOARD = "rp2-pico"


def _folder(ctx: Context) -> Path:
    return Path(ctx.args.state) if ctx.args.state else state.default_dir()


def cmd_farm_up(ctx: Context) -> int:
    args = ctx.args
    say = (lambda _: None) if ctx.quiet else (lambda line: print(line, file=sys.stderr))
    farm = local.up(args.boards, args.board or DEFAULT_BOARD, _folder(ctx),
                    prefix=args.prefix, say=say)
    if args.json:
        print(farm.to_json())
    else:  # the one stdout line, for `eval "$(ember farm up)"`
        print(f"export {COORDINATOR_ENV}={farm.coordinator}")
    return 0


def cmd_farm_down(ctx: Context) -> int:
    folder = _folder(ctx)
    farm = local.down(folder)
    if not ctx.quiet:
        if farm is None:
            print(f"ember: no farm is up ({folder})", file=sys.stderr)
        else:
            print(f"stopped the farm: coordinator {farm.coordinator}, "
                  f"{len(farm.boards)} place(s)", file=sys.stderr)
    return 0


def cmd_farm_status(ctx: Context) -> int:
    folder = _folder(ctx)
    farm = state.load(folder)
    if farm is None:
        raise FarmError(f"no farm is up ({folder}): `ember farm up --boards N`")
    alive = {pid: processes.alive(pid) for pid in farm.pids()}
    if ctx.args.json:
        print(json.dumps({"state": json.loads(farm.to_json()),
                          "alive": {str(pid): up for pid, up in alive.items()}},
                         sort_keys=True))
        return 0
    def mark(pid: int) -> str:
        return "running" if alive.get(pid) else "gone"
    print(f"coordinator\t{farm.coordinator}\t{mark(farm.coordinator_pid)}")
    print(f"exporter\t{farm.exporter_name}\t{mark(farm.exporter_pid)}")
    print(f"ser2net\t{folder / 'ser2net.yaml'}\t{mark(farm.ser2net_pid)}")
    for one in farm.boards:
        print(f"{one.place}\tboard={one.board}\t{one.pty} -> rfc2217 port {one.tcp_port}"
              f"\t{mark(one.sim_pid)}")
    return 0 if all(alive.values()) else 1
