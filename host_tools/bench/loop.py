"""`ember bench loop`: the runtime against asyncio and a hand-written ipoll loop, on a board."""

from __future__ import annotations

import json
from contextlib import ExitStack

from host_tools.bench.heap import measure_heaps
from host_tools.deploy import install_runtime
from host_tools.link import Link
from host_tools.paths import FIRMWARE_DIR
from host_tools.sim.launcher import VirtualBoard

BENCH_SCRIPT = FIRMWARE_DIR / "bench" / "bench_loop.py"
DEFAULT_BOARD = "rp2-pico"


def run_loop_bench(port: str | None = None, board: str | None = None,
                   round_trips: int = 2000) -> dict[str, object]:
    """Runs firmware/bench/bench_loop.py on the board (a virtual one unless port is given),
    with the runtime installed as .mpy as users install it; returns its JSON. On a virtual
    board, adds the smallest heap each ping-pong runs in (host_tools/bench/heap.py)."""
    virtual = port is None
    with ExitStack() as stack:
        if virtual:
            board = board or DEFAULT_BOARD
            port = stack.enter_context(VirtualBoard(board, baud=None)).port
        link = stack.enter_context(Link(port))
        install_runtime(link, board=board)
        link.raw_repl(soft_reset=True)  # a clean heap for the measurements
        code = BENCH_SCRIPT.read_text() + f"\nrun({round_trips})\n"
        # The script is written for running as __main__ too: strip that call.
        code = code.replace('if __name__ == "__main__":\n    run()\n', "")
        out = link.exec(code, timeout=600).decode()
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    result["board"] = board or "unknown"
    if virtual:
        result.update(measure_heaps())
    return result
