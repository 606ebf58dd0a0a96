"""Whether a process is alive, and waiting (bounded) until it has ended: for the virtual
boards' supervisors and the farm's services alike."""

from __future__ import annotations

import os
import select
import time
from pathlib import Path

POLL_S = 0.005  # where there is no pidfd: how often to ask


def alive(pid: int) -> bool:
    """Whether `pid` runs: a child of ours that has ended is reaped here and counts as gone,
    as does a zombie that is not ours."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done != pid
    except ChildProcessError:
        return _state(pid) not in ("Z", "X", "")


def _state(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return status.rpartition(")")[2].split()[0]


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Whether `pid` has ended within `timeout_s`: a pidfd where the system has one (Linux),
    else asking every few milliseconds."""
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return True
        try:
            select.select([pidfd], [], [], timeout_s)
        finally:
            os.close(pidfd)
        return not alive(pid)
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True
