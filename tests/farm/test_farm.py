"""The HIL suite through labgrid: places taken only while free, a lost exporter ends the
run naming its place, an interrupted run releases its places, farm down leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.farm import local, processes
from host_tools.farm.coordinator import Coordinator
from host_tools.farm.state import FarmState

from .conftest import BOARD, CHILD_SIGNAL, Signal, farm_missing, finish, run_pytest

EMBER = str(Path(sys.executable).parent / "ember")
GONE_TIMEOUT_S = 10.0

ON_THE_BOARD = '''
def test_on_the_board(board):
    assert board.eval("1 + 1") == 2
    print("PORT", board.port)
'''


def holders(farm: FarmState) -> dict[str, str | None]:
    with Coordinator(farm.coordinator) as coordinator:
        return {name: place.acquired for name, place in coordinator.places().items()}


def test_a_place_held_by_another_client_is_not_taken(farm: FarmState, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = (one.place for one in farm.boards)
    with monkeypatch.context() as other:
        other.setenv("LG_USERNAME", "someone-else")
        with Coordinator(farm.coordinator) as coordinator:
            coordinator.acquire(first)
    (tmp_path / "test_one.py").write_text(ON_THE_BOARD)

    code, output = finish(run_pytest(farm, tmp_path, "farm-*", "-s", "test_one.py"))

    assert code == 0, output
    assert f"1 place(s) used: {second}" in output
    port = next(one.tcp_port for one in farm.boards if one.place == second)
    assert f"PORT rfc2217://127.0.0.1:{port}?" in output
    held = holders(farm)
    assert held[first] is not None and held[first].endswith("/someone-else")
    assert held[second] is None  # released at the end

    # Two workers need two places: one is held, so the run refuses in one line.
    code, output = finish(run_pytest(farm, tmp_path, "farm-*", "-n", "2", "test_one.py"))
    assert code != 0
    assert "1 of 2 place(s) matching 'farm-*' free" in output
    assert f"{first} (held by " in output
    assert holders(farm)[second] is None

    # `ember --labgrid`: the free place, by its board= tag, released after the command.
    env = {**os.environ, "LG_COORDINATOR": farm.coordinator}
    one_off = subprocess.run(
        [EMBER, "--labgrid", "farm-*", "exec", "import sys; print(sys.platform)"],
        capture_output=True, text=True, timeout=60, env=env)
    assert (one_off.returncode, one_off.stdout.strip()) == (0, "rp2"), one_off.stderr
    assert holders(farm)[second] is None
    busy = subprocess.run([EMBER, "--labgrid", first, "exec", "1"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert busy.returncode == 1
    assert busy.stderr.startswith(f"ember: 0 of 1 place(s) matching '{first}' free")
    assert len(busy.stderr.strip().splitlines()) == 1


def test_a_place_whose_exporter_dies_fails_its_tests_and_ends_the_run(
        farm: FarmState, tmp_path: Path) -> None:
    place = farm.boards[0].place
    (tmp_path / "test_lost.py").write_text(CHILD_SIGNAL + '''
def test_first(board):
    assert board.eval("1") == 1
    assert report_and_wait() == b"go"

def test_second(board):
    board.eval("2")

def test_third(board):
    board.eval("3")
''')
    signal_ = Signal()
    run = run_pytest(farm, tmp_path, place, "-vv", "test_lost.py", env=signal_.env)
    try:
        signal_.wait_started(run)
        assert processes.stop(farm.exporter_pid)
        with Coordinator(farm.coordinator) as coordinator:
            assert local.wait_place_gone(coordinator, place, GONE_TIMEOUT_S)
        signal_.go()
        code, output = finish(run)
    finally:
        signal_.close()

    assert code != 0, output
    assert "test_lost.py::test_first PASSED" in output, output
    assert "test_lost.py::test_second ERROR" in output
    assert "test_third" not in output  # the run ended: never started
    assert (f"labgrid place {place}: its NetworkSerialPort ember-farm/{place}/"
            "NetworkSerialPort/NetworkSerialPort is gone from the coordinator (exporter "
            "ember-farm down?); the run stops") in output
    assert "1 passed" in output and "1 error" in output


def test_an_interrupted_run_releases_its_places(farm: FarmState, tmp_path: Path) -> None:
    # A worker that dies: the controller holds the places, and releases them at the end.
    (tmp_path / "test_crash.py").write_text('''
import os, signal

def test_crash(board):
    assert board.eval("1") == 1
    os.kill(os.getpid(), signal.SIGKILL)
''')
    code, output = finish(run_pytest(farm, tmp_path, "farm-*", "-n", "2",
                                     "--max-worker-restart", "0", "test_crash.py"))
    assert code != 0 and "crashed" in output, output
    assert holders(farm) == {one.place: None for one in farm.boards}, output

    (tmp_path / "test_block.py").write_text(CHILD_SIGNAL + '''
def test_block(board):
    assert board.eval("1") == 1
    report_and_wait()
''')
    signal_ = Signal()
    run = run_pytest(farm, tmp_path, "farm-*", "-n", "2", "test_block.py", env=signal_.env)
    try:
        signal_.wait_started(run)
        held = holders(farm)
        assert all(holder is not None for holder in held.values()), held  # both, -n 2
        run.send_signal(signal.SIGTERM)
        code, output = finish(run)
    finally:
        signal_.close()
    assert code != 0, output
    assert holders(farm) == {one.place: None for one in farm.boards}, output


def _children(pids: list[int]) -> list[int]:
    """Every process below `pids` now (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(text.rpartition(")")[2].split()[1])
    found, frontier = [], list(pids)
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


def test_farm_up_and_down_leave_no_process_behind(tmp_path: Path) -> None:
    reason = farm_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"in CI: {reason}")
        pytest.skip(reason)
    state = ["--state", str(tmp_path / "farm")]
    up = subprocess.run([EMBER, "farm", "up", "--boards", "2", "--board", BOARD, *state],
                        capture_output=True, text=True, timeout=60)
    try:
        assert up.returncode == 0, up.stderr
        assert up.stdout.startswith("export LG_COORDINATOR=127.0.0.1:")
        status = json.loads(subprocess.run([EMBER, "farm", "status", "--json", *state],
                                           capture_output=True, text=True,
                                           timeout=30).stdout)
        assert all(status["alive"].values())
        pids = [int(pid) for pid in status["alive"]]
        everything = pids + _children(pids)
        again = subprocess.run([EMBER, "farm", "up", *state], capture_output=True,
                               text=True, timeout=60)
        assert again.returncode == 1
        assert again.stderr.startswith("ember: a farm is already up")
        assert len(again.stderr.strip().splitlines()) == 1
    finally:
        down = subprocess.run([EMBER, "farm", "down", *state], capture_output=True,
                              text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert [pid for pid in everything if processes.alive(pid)] == []
    twice = subprocess.run([EMBER, "farm", "down", *state], capture_output=True,
                           text=True, timeout=30)
    assert twice.returncode == 0 and "no farm is up" in twice.stderr
