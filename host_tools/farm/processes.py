"""The farm's background processes: free loopback ports, starting a program detached with
its log, waiting (bounded) until it serves, and stopping it by pid (host_tools/pids.py
says whether it still runs)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from host_tools.farm.errors import FarmError
from host_tools.pids import alive, wait_gone

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.02


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def spawn(command: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Starts `command` in a session of its own (it outlives `ember farm up`, as a service
    would), its output appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                cwd=cwd, start_new_session=True)


def wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str,
               log: Path, timeout: float = START_TIMEOUT_S) -> None:
    """Returns once `ready()` holds; a FarmError with the log's tail if the process ends or
    the time runs out first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise FarmError(f"{what} exited with {process.returncode} at start (log {log}): "
                            + tail(log))
        if time.monotonic() > deadline:
            raise FarmError(f"{what} did not come up within {timeout:g} s (log {log}): "
                            + tail(log))
        time.sleep(POLL_S)


def listening(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts TCP connections on host:port (read from /proc on Linux,
    so that a probe does not open a ser2net port's device)."""
    try:  # gRPC listens on an IPv6 socket mapping IPv4 (::ffff:127.0.0.1): both tables
        table = Path("/proc/net/tcp").read_text() + Path("/proc/net/tcp6").read_text()
    except OSError:
        with socket.socket() as probe:
            probe.settimeout(1.0)
            return probe.connect_ex((host, port)) == 0
    wanted = f":{port:04X}"
    for line in table.splitlines():
        if not line.strip() or line.split()[0] == "sl":
            continue
        fields = line.split()
        if fields[1].endswith(wanted) and fields[3] == "0A":  # 0A: LISTEN
            return True
    return False


def tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def stop(pid: int, timeout: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True if the process is gone at the end."""
    if not alive(pid):
        return True
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    if wait_gone(pid, timeout):
        return True
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    return wait_gone(pid, timeout)
