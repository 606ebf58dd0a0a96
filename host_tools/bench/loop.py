"""`ember bench loop`: the runtime against asyncio and a hand-written ipoll loop, on a board."""

from __future__ import annotations

import json
from contextlib import ExitStack

from host_tools.bench.heap import measure_heaps
from host_tools.errors import CommandError
from host_tools.files.board_files import BoardFiles
from host_tools.install.runtime import (
    board_target,
    build_tree,
    ember_build_dir,
    install_runtime,
    pushable,
)
from host_tools.link import device_code
from host_tools.link.session import Link
from host_tools.paths import FIRMWARE_DIR
from host_tools.push.session import plan, push
from host_tools.sim.launcher import VirtualBoard

BENCH_SCRIPT = FIRMWARE_DIR / "bench" / "bench_loop.py"
BENCH_DEST = "/.ember/bench"  # ember's own folder: never listed or deleted as project files
# A board with networking: the three loops move messages over loopback sockets there
# (firmware/bench/bench_loop.py); ember's virtual rp2-pico, like the board, has no socket.
DEFAULT_BOARD = "rp2-pico-w"
# Round trips per timed run: 20000 (40000 events, ~0.3 s for ember on a virtual board)
# makes three runs of the bench agree within 3 %; 2000 (27 ms a run) spread them by 30 %.
ROUND_TRIPS = 20000


def run_loop_bench(port: str | None = None, board: str | None = None,
                   round_trips: int = ROUND_TRIPS) -> dict[str, object]:
    """Runs firmware/bench/bench_loop.py on the board (a virtual one unless port is given),
    with the runtime its firmware has frozen in, else installed as .mpy as users install it
    (`runtime` says which); returns its JSON. On a virtual board, adds the smallest heap
    each ping-pong runs in (host_tools/bench/heap.py)."""
    virtual = port is None
    with ExitStack() as stack:
        if virtual:
            board = board or DEFAULT_BOARD
            port = stack.enter_context(VirtualBoard(board, baud=None)).port
        link = stack.enter_context(Link(port))
        runtime = "mpy" if install_runtime(link, board=board) is not None else "frozen"
        # The script goes compiled, as a user's program does: compiling 400 lines on the
        # board would take more heap than an ESP8266 has to spare.
        target, label = board_target(link, board)
        built = build_tree([BENCH_SCRIPT], target, label, subdir="bench", root=ember_build_dir())
        push(link, plan(pushable(built), BENCH_DEST), dest=BENCH_DEST)
        result = _run_bench(link, round_trips)
        result["native"] = _native_run(link, target.arch, round_trips)
    result["board"] = board or "unknown"
    result["runtime"] = runtime
    if virtual:
        result.update(measure_heaps())
    # Memory is measured on 32-bit boards: the first-use figures come from the board's
    # 32-bit virtual firmware (frozen, and as .mpy), whatever board the loop ran on.
    from host_tools.bench.firmware import ember_first_use

    result.update(ember_first_use(board or DEFAULT_BOARD))
    return result


# What the `native` object holds: the same keys as the top level's for ember's own figures.
NATIVE_KEYS = {"ember_events_per_s": "events_per_s", "ratio_vs_raw_poll": "ratio_vs_raw_poll",
               "ratio_vs_asyncio": "ratio_vs_asyncio",
               "alloc_bytes_per_event": "alloc_bytes_per_event", "transport": "transport",
               "pipe_latency_us": "pipe_latency_us",
               "pipe_irq_latency_us": "pipe_irq_latency_us",
               "import_bytes": "import_bytes", "first_use_bytes": "first_use_bytes",
               "raw_poll_ceiling": "raw_poll_ceiling"}


def _run_bench(link: Link, round_trips: int) -> dict[str, object]:
    link.raw_repl(soft_reset=True)  # a clean heap for the measurements
    out = device_code.output_of(link, "host/runner.py", "call_module", BENCH_DEST,
                                "bench_loop", "run", round_trips, timeout=600)
    assert isinstance(out, bytes)
    result: dict[str, object] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def _native_run(link: Link, arch: str | None, round_trips: int) -> dict[str, object]:
    """The bench again with ember's native module (_ember) in /lib, so that the runtime
    takes its C Pipe and Signal; removed afterwards. Where it cannot be built for the
    board's arch, says why instead."""
    from host_tools.install import micropython_source
    from host_tools.mpy import natmod
    from host_tools.testing.board import NATIVE_DEST, NATIVE_DIR

    if arch is None:
        return {"error": "the board runs no native code"}
    try:
        built = natmod.build(NATIVE_DIR, arch, micropython_source.resolve(None))
    except (natmod.NativeBuildError, CommandError) as error:
        return {"error": str(error)}
    dest = f"{NATIVE_DEST}/_ember.mpy"
    push(link, plan([(built, "_ember.mpy")], NATIVE_DEST), dest=NATIVE_DEST)
    try:
        run = _run_bench(link, round_trips)
    finally:
        BoardFiles(link).rm(dest, force=True)  # the board as it was
    native = {name: run.get(key) for key, name in NATIVE_KEYS.items()}
    native["size_bytes"] = built.stat().st_size
    native["arch"] = arch
    return native
