"""The `ember` command: parses arguments, calls one function per verb, prints the result."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from host_tools import boards
from host_tools.errors import EmberError
from host_tools.sim import launcher, registry

Handler = Callable[[argparse.Namespace], int]


def cmd_boards(args: argparse.Namespace) -> int:
    detected = boards.detect_ports()
    sims = registry.running()
    if args.json:
        print(
            json.dumps(
                {
                    "connected": [
                        {"port": d.device, "description": d.description, "boards": list(d.boards)}
                        for d in detected
                    ],
                    "virtual": [
                        {"port": s.port, "board": s.board, "pid": s.pid, "uarts": s.uarts}
                        for s in sims
                    ],
                }
            )
        )
        return 0
    if not detected and not sims:
        print("no boards connected and no virtual boards running")
    for d in detected:
        names = ", ".join(d.boards) or "unknown board"
        print(f"{d.device}\t{names}\t{d.description}")
    for s in sims:
        baud = f"{s.baud} baud" if s.baud else "unthrottled"
        print(f"{s.port}\tvirtual {s.board}\t{baud}, state {s.state_dir}")
    return 0


def cmd_sim_start(args: argparse.Namespace) -> int:
    board = args.sim_board or args.board
    if not board:
        raise EmberError("sim start needs --board NAME (one of: "
                         + ", ".join(boards.profile_names()) + ")")
    baud = -1 if args.baud is None else (args.baud or None)
    record = launcher.start(
        board,
        baud=baud,
        state_dir=Path(args.state) if args.state else None,
        power_cut_after=args.power_cut_after,
    )
    print(record.to_json() if args.json else record.port)
    return 0


def cmd_sim_stop(args: argparse.Namespace) -> int:
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


def cmd_sim_list(args: argparse.Namespace) -> int:
    for record in registry.running():
        print(record.to_json() if args.json else f"{record.port}\t{record.board}\t{record.pid}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ember", description=__doc__)
    parser.add_argument("--port", default=os.environ.get("EMBER_PORT"),
                        help="serial port or pyserial URL (default: $EMBER_PORT, else detect)")
    parser.add_argument("--board", help="board profile name (boards/NAME.toml)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("boards", help="list connected and virtual boards")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_boards)

    sim = verbs.add_parser("sim", help="virtual boards").add_subparsers(
        dest="sim_verb", required=True, metavar="SIM_VERB")
    p = sim.add_parser("start", help="start a virtual board; prints its port")
    p.add_argument("--board", dest="sim_board", help="board profile to stand in for")
    p.add_argument("--baud", type=int, help="throttle the link to this baud (0: unthrottled)")
    p.add_argument("--state", help="directory for the flash image (kept after stop)")
    p.add_argument("--power-cut-after", type=int, metavar="BYTES",
                   help="cut the power after this many bytes from the host")
    p.add_argument("--json", action="store_true", help="print port, UARTs, pid as JSON")
    p.set_defaults(handler=cmd_sim_start)
    p = sim.add_parser("stop", help="stop a virtual board")
    p.add_argument("sim_port", nargs="?", metavar="PORT")
    p.add_argument("--all", action="store_true")
    p.set_defaults(handler=cmd_sim_stop)
    p = sim.add_parser("list", help="list running virtual boards")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_sim_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except EmberError as error:
        print(f"ember: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ember: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
