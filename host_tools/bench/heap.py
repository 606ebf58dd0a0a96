"""The smallest heap each ping-pong runs in, found on the bare MicroPython unix interpreter.

`ember bench loop` on a virtual board adds these figures. A board's heap size is fixed,
so this measures on the interpreter that virtual boards run, started bare (no simulator
code on its heap) with `-X heapsize=N`: ember installed as .mpy and each workload program
(firmware/bench/heap/) compiled to .mpy, as a user's program is pushed. A binary search
over N in 256-byte steps finds where a run stops printing "ok", then the next 1 KB above
is checked too: fragmentation can make a slightly larger heap fail, and the figure is the
size from which every step runs.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from host_tools.errors import DeviceError, EmberError
from host_tools.install.runtime import build_tree, ember_build_dir
from host_tools.mpy.compiler import Target
from host_tools.paths import FIRMWARE_DIR, RUNTIME_DIR
from host_tools.sim.interpreter import find_micropython

WORKLOADS_DIR = FIRMWARE_DIR / "bench" / "heap"
# JSON key -> workload program (firmware/bench/heap/<name>.py)
WORKLOADS = {
    "pingpong_heap_bytes": "ember_socket",
    "pingpong_pipe_heap_bytes": "ember_pipe",
    "asyncio_pingpong_heap_bytes": "asyncio_socket",
}
STEP = 256
LOW = 4 * 1024
HIGH = 64 * 1024
RUN_TIMEOUT_S = 3.0  # a run that dies inside an asyncio task can wait forever: a failure


def interpreter_target(micropython: Path) -> Target:
    """The .mpy target of the local interpreter, as it reports it."""
    out = subprocess.run([str(micropython), "-c", "import sys; print(sys.implementation._mpy)"],
                         capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=True)
    return Target.from_sys_mpy(int(out.stdout.strip()))


def runs_in(micropython: Path, path: str, program: str, heap_bytes: int) -> bool:
    """True when `program` prints "ok" in a heap of heap_bytes; False when it runs out of
    memory (or hangs, as asyncio can once a task dies of it). Any other failure, a taken
    loopback port say, is retried, then raised: it says nothing about the heap."""
    env = dict(os.environ, MICROPYPATH=path)
    argv = [str(micropython), "-X", f"heapsize={heap_bytes}", "-m", program]
    for _ in range(3):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                                 env=env)
        except subprocess.TimeoutExpired:
            return False
        if out.stdout.strip().endswith("ok"):
            return True
        if any(DeviceError.from_traceback(text).kind == "MemoryError"
               for text in (out.stderr, out.stdout)):
            return False
    raise EmberError(f"bench heap: {program} failed in {heap_bytes} bytes, not for memory:\n"
                     f"{(out.stdout + out.stderr).strip()}")


def smallest_heap(micropython: Path, path: str, program: str) -> int:
    """The smallest heap (a multiple of STEP) from which the program runs, up to 1 KB above."""
    if not runs_in(micropython, path, program, HIGH):
        raise EmberError(f"bench heap: {program} does not run even in {HIGH} bytes of heap")
    low, high = LOW // STEP, HIGH // STEP  # in steps: fails at low (assumed), runs at high
    while high - low > 1:
        mid = (low + high) // 2
        if runs_in(micropython, path, program, mid * STEP):
            high = mid
        else:
            low = mid
    for above in range(high + 1, high + 1 + 1024 // STEP):
        if not runs_in(micropython, path, program, above * STEP):
            high = above + 1  # a failure just above: the figure is past it
    return high * STEP


@contextmanager
def prepared() -> Iterator[tuple[Path, str]]:
    """(interpreter, MICROPYPATH) with ember and the workloads built as .mpy for it; the
    package is linked in a temporary folder for as long as the context lasts."""
    micropython = find_micropython()
    target = interpreter_target(micropython)
    runtime = build_tree([RUNTIME_DIR], target, target.build_label, subdir="runtime",
                         root=ember_build_dir()).out_dir
    programs = build_tree([WORKLOADS_DIR], target, target.build_label,
                          subdir="bench-heap", root=ember_build_dir()).out_dir
    with tempfile.TemporaryDirectory(prefix="ember-heap-") as tmp:
        (Path(tmp) / "ember").symlink_to(runtime)  # the package, as /lib/ember on a board
        # .frozen first, as on a board: asyncio is the interpreter's own
        yield micropython, os.pathsep.join([".frozen", tmp, str(programs)])


def measure_heaps() -> dict[str, int]:
    """{JSON key: smallest heap in bytes} for each workload in WORKLOADS."""
    with prepared() as (micropython, path):
        return {key: smallest_heap(micropython, path, program)
                for key, program in WORKLOADS.items()}
