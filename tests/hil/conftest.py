"""Fixtures for end-to-end tests that drive a virtual board through its serial port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from host_tools.boards.profiles import load_profile
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --ember-labgrid the board under test is a remote place: a test that starts its
    own virtual boards (their supervisor, ptys, power cuts) is skipped before any of its
    fixtures is set up; a test on the plugin's `board` fixture runs on the place."""
    if not config.getoption("ember_labgrid"):
        return
    skip = pytest.mark.skip(reason="starts local virtual boards: --ember-labgrid runs only "
                                   "tests on the place's board")
    here = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(here):  # the hook sees the whole session's items
            continue
        module = getattr(item, "module", None)
        on_plugin_board = ("board" in getattr(item, "fixturenames", ())
                           and getattr(module, "board", None) is None)
        if not on_plugin_board:
            item.add_marker(skip)


@pytest.fixture
def board_name(request: pytest.FixtureRequest) -> str:
    """The profile the suite runs on: --ember-board (default rp2-pico)."""
    return str(request.config.getoption("ember_board"))


def on_qemu(board_name: str) -> bool:
    """Whether the board is the bare-metal one (QEMU), not a unix virtual board."""
    return load_profile(board_name).port == "qemu"


QEMU_BOARD = "qemu-mps2-an385"


def qemu_missing() -> str:
    """Why the qemu board cannot run here ('' when it can): QEMU or the Arm toolchain absent."""
    from host_tools.install import qemu_firmware
    from host_tools.sim import qemu_supervisor

    try:
        qemu_supervisor.find_qemu()
        qemu_firmware.check_toolchain()
    except (qemu_supervisor.QemuMissing, qemu_firmware.ToolchainMissing):
        return ("the qemu board needs Debian's gcc-arm-none-eabi libnewlib-arm-none-eabi "
                "qemu-system-arm (make test installs them as root)")
    return ""


@pytest.fixture
def needs_qemu() -> None:
    """Skips a qemu board test where its packages cannot be had; in CI (CI set) it fails."""
    reason = qemu_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture
def unix_board(board_name: str) -> None:
    """For a test of what only the unix virtual boards have (the supervisor's REPL play, a
    machine module with pins and UARTs, the PyPI fallback): skipped on the qemu board."""
    if on_qemu(board_name):
        pytest.skip(f"{board_name}: a test of the unix virtual board's own machinery")


@pytest.fixture
def sim(board_name: str) -> Iterator[VirtualBoard]:
    """A fresh, unthrottled virtual board of --ember-board, stopped after the test."""
    with VirtualBoard(board_name, baud=None) as board:
        yield board


class Console:
    """A raw serial view of the board's console, reading with deadlines (never sleeping)."""

    def __init__(self, port: str | None = None) -> None:
        if port is not None:
            self.serial = serial.serial_for_url(port, timeout=0.05)
        self.seen = b""

    @classmethod
    def over(cls, port: serial.SerialBase) -> Console:
        """A view of a port that is already open (closing stays with its owner)."""
        console = cls()
        port.timeout = 0.05
        console.serial = port
        return console

    def write(self, data: bytes) -> None:
        self.serial.write(data)

    def expect(self, wanted: bytes, timeout: float = 30.0) -> bytes:
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {wanted!r}, got {self.seen[-300:]!r}")
            self.seen += self.serial.read(4096)
        before, _, self.seen = self.seen.partition(wanted)
        return before

    def friendly_prompt(self) -> None:
        self.write(b"\r\x03\x02")  # ctrl-C, ctrl-B: out of anything, into the friendly REPL
        self.expect(b">>> ")
        self.serial.reset_input_buffer()
        self.seen = b""

    def close(self) -> None:
        self.serial.close()
