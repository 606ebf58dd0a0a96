"""`ember boards`: the connected and the virtual boards."""

from __future__ import annotations

import json

from host_tools.boards import profiles as boards
from host_tools.cli.context import Context
from host_tools.sim import registry


def cmd_boards(ctx: Context) -> int:
    detected = boards.detect_ports()
    sims = registry.running()
    if ctx.args.json:
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
