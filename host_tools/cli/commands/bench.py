"""`ember bench loop|push|faults|firmware`: the benchmarks, as a table or one JSON object."""

from __future__ import annotations

import json

from host_tools.cli.context import Context

BENCHES = ("loop", "push", "faults", "firmware")


def cmd_bench(ctx: Context) -> int:
    args = ctx.args
    if args.bench == "loop":
        from host_tools.bench.loop import ROUND_TRIPS, run_loop_bench

        result = run_loop_bench(port=args.port, board=args.board,
                                round_trips=args.round_trips or ROUND_TRIPS)
    elif args.bench == "firmware":
        from host_tools.bench.firmware import run_firmware_bench

        result = run_firmware_bench(board=args.board or "esp8266-generic",
                                    micropython=args.micropython)
    elif args.bench == "faults":
        from host_tools.bench.faults import run_fault_campaign

        counts = (5, 3, 3) if args.small else (50, 10, 10)
        result = run_fault_campaign(*counts)
    else:
        from host_tools.bench.push import run_push_bench

        result = run_push_bench(baud=args.baud)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:24} {value}")
    return 0
