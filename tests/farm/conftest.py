"""A local labgrid farm per test (coordinator, ser2net, exporter, virtual boards), always
brought down; and a pytest run on it in a child process, bounded in time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.farm import local, processes, ser2net
from host_tools.farm.coordinator import labgrid_installed
from host_tools.farm.errors import Ser2netMissing
from host_tools.farm.state import FarmState

BOARD = "rp2-pico"
RUN_TIMEOUT_S = 120.0
SIGNAL_TIMEOUT_S = 60.0


def farm_missing() -> str:
    """Why a farm cannot run here ('' when it can)."""
    if not labgrid_installed():
        return "labgrid is not installed (pip install -e '.[farm]'; make farm-test does)"
    try:
        ser2net.find()
    except Ser2netMissing as error:
        return str(error)
    return ""


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[FarmState]:
    """A 2-board farm in tmp_path, down after the test; in CI a missing part fails."""
    reason = farm_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"in CI: {reason}")
        pytest.skip(reason)
    folder = tmp_path / "farm"
    farm = local.up(2, BOARD, folder)
    try:
        yield farm
    finally:
        local.down(folder)
    assert not [pid for pid in farm.pids() if processes.alive(pid)]


def run_pytest(farm: FarmState, folder: Path, pattern: str, *args: str,
               env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Starts `pytest --ember-labgrid PATTERN ARGS` on the farm, in `folder` (its own
    rootdir: the suite's conftest is not in it)."""
    (folder / "pytest.ini").write_text("[pytest]\n")
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--ember-labgrid", pattern, "--ember-labgrid-coordinator", farm.coordinator, *args],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})})


def finish(run: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        output, _ = run.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        run.kill()
        output, _ = run.communicate()
        raise AssertionError(
            f"the pytest run did not end in {RUN_TIMEOUT_S:g} s:\n{output}") from None
    return run.returncode, output


class Signal:
    """A loopback socket a test in the child run reports to ("started") and waits on
    ("go"): synchronisation without sleeping, every wait bounded."""

    def __init__(self) -> None:
        self.server = socket.create_server((processes.LOOPBACK, 0))
        self.server.settimeout(SIGNAL_TIMEOUT_S)
        self.peer: socket.socket | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"EMBER_TEST_SIGNAL_PORT": str(self.server.getsockname()[1])}

    def wait_started(self, run: subprocess.Popen[str]) -> None:
        try:
            self.peer, _ = self.server.accept()
        except TimeoutError:
            run.kill()
            raise AssertionError(
                "the child test never reported: " + run.communicate()[0]) from None
        self.peer.settimeout(SIGNAL_TIMEOUT_S)
        assert self.peer.recv(16) == b"started"

    def go(self) -> None:
        assert self.peer is not None
        self.peer.sendall(b"go")

    def close(self) -> None:
        if self.peer is not None:
            self.peer.close()
        self.server.close()


# What a test in the child run calls to report and wait (written into its test file).
CHILD_SIGNAL = '''
import os, socket

def report_and_wait():
    peer = socket.create_connection(
        ("127.0.0.1", int(os.environ["EMBER_TEST_SIGNAL_PORT"])), timeout=60)
    peer.sendall(b"started")
    answer = peer.recv(16)
    peer.close()
    return answer
'''
