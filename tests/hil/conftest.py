"""Fixtures for end-to-end tests that drive a virtual board through its serial port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.sim.launcher import VirtualBoard

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
COMMAND_TIMEOUT_S = 30


def mpremote(port: str, *args: str, timeout: float = COMMAND_TIMEOUT_S,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs the stock `mpremote connect PORT ...` command, bounded in time."""
    result = subprocess.run(
        [MPREMOTE, "connect", port, *args],
        capture_output=True, text=True, timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"mpremote {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result


@pytest.fixture
def sim() -> Iterator[VirtualBoard]:
    """A fresh, unthrottled virtual rp2-pico, stopped after the test."""
    with VirtualBoard("rp2-pico", baud=None) as board:
        yield board
