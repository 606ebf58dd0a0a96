"""MicroPython's own test suite as a judge of the virtual board: run-tests.py, unpatched.

`tests/run-tests.py -t port:PTY` drives a board through its raw REPL exactly as a board
maintainer runs it against hardware. It runs here from the MicroPython source the firmware
was built from, over a representative subset, and must neither hang nor fail a test that is
not on the short list below of differences a real board also has (or that this board has
for a reason given there).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.errors import CommandError
from host_tools.install import micropython_source
from host_tools.sim.launcher import VirtualBoard

from .conftest import QEMU_BOARD

SUITE_TIMEOUT_S = 420  # about 110 s here; a hang is the failure this bound catches
TEST_DIRS = ("basics", "micropython", "extmod")
INCLUDE = ("basics/", "micropython/", "extmod/select", "extmod/asyncio", "extmod/vfs_lfs")
AT_LEAST = 600  # tests performed: fewer means the board skipped what it should run

# Each failure the board may show, and why it is not the board's fault.
KNOWN_DIFFERENCES = {
    # Polls 6000 integer file descriptors and expects the host kernel's EINVAL. A board's
    # select.poll refuses integers, so the test prints SKIP there; the virtual board's poll
    # takes descriptors (it waits on its console and UART ptys that way) and runs out of
    # heap building a 6000-entry table instead.
    "extmod/select_poll_fd.py": "integer descriptors in select.poll",
}


def _source_tests() -> Path:
    try:
        return micropython_source.resolve(None).root / "tests"
    except CommandError as error:
        pytest.skip(f"no MicroPython source to take run-tests.py from: {error}")


def _summary(output: str, label: str) -> list[str]:
    match = re.search(rf"^\d+ tests {label}: (.*)$", output, re.MULTILINE)
    return match.group(1).split() if match else []


# On the bare-metal qemu board the same run takes about 165 s on 2 busy cores (673 tests
# passed, none failed, when measured); `make test` runs a part of it there, the whole of it
# with EMBER_QEMU_SUITE=full.
QEMU_INCLUDE = ("micropython/", "extmod/select", "extmod/asyncio", "basics/gen",
                "basics/exception")
QEMU_AT_LEAST = 140


def test_run_tests_passes_on_the_virtual_board(tmp_path: Path) -> None:
    _run_suite(tmp_path, "rp2-pico", INCLUDE, AT_LEAST)


@pytest.mark.usefixtures("needs_qemu")
def test_run_tests_passes_on_the_qemu_board(tmp_path: Path) -> None:
    full = os.environ.get("EMBER_QEMU_SUITE") == "full"
    _run_suite(tmp_path, QEMU_BOARD, INCLUDE if full else QEMU_INCLUDE,
               AT_LEAST if full else QEMU_AT_LEAST)


def _run_suite(tmp_path: Path, board_name: str, include: tuple[str, ...],
               at_least: int) -> None:
    tests = _source_tests()
    with VirtualBoard(board_name, baud=None) as board:
        command = [sys.executable, "run-tests.py", "-t", f"port:{board.port}",
                   "-r", str(tmp_path / "results"), "-d", *TEST_DIRS]
        for pattern in include:
            command += ["-i", pattern]
        try:
            result = subprocess.run(command, cwd=tests, capture_output=True, text=True,
                                    timeout=SUITE_TIMEOUT_S)
        except subprocess.TimeoutExpired as hung:
            out = hung.stdout.decode(errors="replace") if isinstance(hung.stdout, bytes) \
                else (hung.stdout or "")
            raise AssertionError(f"run-tests.py hung on the virtual board (over "
                                 f"{SUITE_TIMEOUT_S} s); last lines:\n{out[-1500:]}") from None
    output = result.stdout + result.stderr
    performed = re.search(r"^(\d+) tests performed", output, re.MULTILINE)
    assert performed, output[-2000:]
    assert int(performed.group(1)) >= at_least, output[-2000:]
    failed = set(_summary(output, "failed"))
    unexpected = failed - set(KNOWN_DIFFERENCES)
    diffs = "".join(
        f"\n--- {name}\n" + _diff(tmp_path / "results", name) for name in sorted(unexpected))
    assert not unexpected, f"failed on virtual {board_name}: {sorted(unexpected)}{diffs}"


def _diff(results: Path, name: str) -> str:
    stem = name.replace("/", "_")
    expected, got = results / f"{stem}.exp", results / f"{stem}.out"
    if not (expected.is_file() and got.is_file()):
        return "(no output kept)"
    return f"expected:\n{expected.read_text()[-600:]}\ngot:\n{got.read_text()[-600:]}"
