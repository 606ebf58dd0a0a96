"""Starts and stops virtual boards: the API behind `ember sim` and the pytest plugin."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools.boards import BoardProfile, load_profile
from host_tools.errors import SimError
from host_tools.sim import registry
from host_tools.sim.interpreter import find_micropython
from host_tools.sim.registry import SimRecord

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
# The virtual board's own Python code (boards/virtual: the flash driver, the machine module)
# lives on the interpreter's heap, where a board keeps the same in C and flash. Measured:
# gc.mem_alloc() after boot and one exec is 8192 bytes against 1120 on the bare interpreter.
# The interpreter gets this much on top of the profile's heap, so that what is left for
# programs is the profile's (objects are still 64-bit: twice a 32-bit board's, the safe side).
SIM_OWN_HEAP = 7 * 1024


def default_baud(profile: BoardProfile) -> int | None:
    """A UART-linked board's virtual link runs at its baud; a USB CDC one is unthrottled."""
    return profile.link.baud if profile.link.kind == "uart" else None


def start(
    board: str,
    *,
    baud: int | None = -1,
    state_dir: Path | None = None,
    power_cut_after: int | None = None,
    uarts: tuple[int, ...] = (1,),
    noise: float = 0.0,
    noise_seed: int = 0,
    heap_bytes: int | None = None,
) -> SimRecord:
    """Starts a virtual board in the background and returns its record once it is up.

    `baud=-1` takes the profile's default, `None` or 0 means unthrottled. Without
    `state_dir`, the board's flash lives in a temporary directory removed at stop.
    `heap_bytes` overrides the profile's heap (a test that must fit a smaller board); either
    way the interpreter gets SIM_OWN_HEAP more, for the simulator's own code.
    """
    profile = load_profile(board)
    find_micropython()  # fail here, with the install hint, rather than in the background
    if baud == -1:
        baud = default_baud(profile)
    ephemeral = state_dir is None
    state = Path(tempfile.mkdtemp(prefix=f"ember-{profile.name}-")) if ephemeral else state_dir
    assert state is not None
    state.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "host_tools.sim.supervisor",
        "--board", profile.name,
        "--heap-bytes", str((heap_bytes or profile.heap_bytes) + SIM_OWN_HEAP),
        "--fs-bytes", str(profile.fs_bytes),
        "--block-size", str(profile.block_size),
        "--state", str(state),
        "--uarts", ",".join(str(n) for n in uarts),
    ]  # fmt: skip
    if baud:
        command += ["--baud", str(baud)]
    if power_cut_after is not None:
        command += ["--power-cut-after", str(power_cut_after)]
    if ephemeral:
        command.append("--ephemeral")
    if noise:
        command += ["--noise", repr(noise), "--noise-seed", str(noise_seed)]
    read_end, write_end = os.pipe()
    command += ["--ready-fd", str(write_end)]
    log_path = state / "supervisor.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(write_end,),
            start_new_session=True,  # outlives `ember sim start`, like a board on the desk
            cwd=Path(__file__).resolve().parents[2],
        )
    os.close(write_end)
    try:
        line = _read_line(read_end, START_TIMEOUT_S)
    finally:
        os.close(read_end)
    if not line:
        _reap(process)
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise SimError(
            f"virtual {profile.name} did not start (log {log_path}): " + " | ".join(tail)
        )
    return SimRecord.from_json(line)


def _read_line(fd: int, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return ""
        chunk = os.read(fd, 4096)
        if not chunk:
            return ""
        data += chunk
    return data.decode()


def _reap(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=STOP_TIMEOUT_S)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if select.select([pidfd], [], [], timeout_s)[0]:
            return True
    finally:
        os.close(pidfd)
    return False


def stop(record: SimRecord) -> None:
    """Stops a virtual board and waits (bounded) until its processes and ptys are gone."""
    try:
        os.kill(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        registry.withdraw(record.pid)
        return
    if not _wait_gone(record.pid, STOP_TIMEOUT_S):
        os.kill(record.pid, signal.SIGKILL)
        _wait_gone(record.pid, STOP_TIMEOUT_S)
        registry.withdraw(record.pid)
    # A supervisor started by this process is our child: reap it so no zombie is left.
    try:
        os.waitpid(record.pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop_port(port: str) -> SimRecord:
    record = registry.find(port)
    if record is None:
        running = ", ".join(r.port for r in registry.running()) or "none"
        raise SimError(f"no virtual board on {port} (running: {running})")
    stop(record)
    return record


def stop_all() -> list[SimRecord]:
    records = registry.running()
    for record in records:
        stop(record)
    return records


def power_cut(record: SimRecord) -> None:
    """Cuts the virtual board's power now: the interpreter dies, the port goes silent."""
    os.kill(record.pid, signal.SIGUSR1)


class VirtualBoard:
    """`with VirtualBoard("rp2-pico") as sim: sim.port` starts a board and always stops it."""

    def __init__(self, board: str, **options: object) -> None:
        self.board = board
        self.options = options
        self.record: SimRecord | None = None

    @property
    def port(self) -> str:
        if self.record is None:
            raise SimError("virtual board not started")
        return self.record.port

    def __enter__(self) -> VirtualBoard:
        self.record = start(self.board, **self.options)  # type: ignore[arg-type]
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.record is not None:
            stop(self.record)
            self.record = None

    def power_cut(self) -> None:
        if self.record is not None:
            power_cut(self.record)
