"""`ember bench faults`: power cuts, line noise, disconnects and bad input on virtual boards.

Every trial checks the promise: each file on the board is a complete old or new version,
and every bad input is answered by a one-line `ember: ...` error in bounded time.
"""

from __future__ import annotations

import hashlib
import os
import pty
import random
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from host_tools.errors import EmberError
from host_tools.link import device_code
from host_tools.link.session import Link
from host_tools.push.session import LocalFile, plan, push
from host_tools.sim.launcher import VirtualBoard

EMBER = str(Path(sys.executable).parent / "ember")
BOARD = "rp2-pico"
CAMPAIGN_TIMEOUT_S = 60.0


@dataclass
class Versions:
    """Two versions of one small project; trials push them in turn."""

    root: Path
    files: int = 6
    digests: dict[str, set[str]] = field(default_factory=dict)

    def write(self, version: int) -> list[LocalFile]:
        folder = self.root / f"v{version}"
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(self.files):
            data = random.Random(version * 1000 + index).randbytes(1500 + 700 * index)
            (folder / f"f{index}.bin").write_bytes(data)
            self.digests.setdefault(f"/f{index}.bin", set()).add(
                hashlib.sha256(data).hexdigest()
            )
        return plan([folder])


def board_files(port: str) -> dict[str, str]:
    with Link(port) as link:
        held = device_code.call(link, "host/runner.py", "files_with_digests", timeout=30)
    assert isinstance(held, dict)
    return held


def corrupt_files(port: str, versions: Versions) -> int:
    """Files that are neither version (a missing file counts as corrupt too)."""
    held = board_files(port)
    return sum(1 for path, known in versions.digests.items() if held.get(path) not in known)


def _quick_push(port: str, files: list[LocalFile], attempts: int = 1) -> bool:
    try:
        with Link(port) as link:
            push(link, files, attempts=attempts, reply_timeout=1.5)
        return True
    except EmberError:
        return False


def power_cut_trials(trials: int, rng: random.Random, workdir: Path) -> dict[str, int]:
    versions = Versions(workdir / "cut")
    sets = [versions.write(0), versions.write(1)]
    push_bytes = sum(f.size for f in sets[0]) + 2500  # frames, lines and the quick start
    state = workdir / "cut-flash"
    with VirtualBoard(BOARD, baud=None, state_dir=state) as board, Link(board.port) as link:
        push(link, sets[0])
    corrupt = 0
    for trial in range(trials):
        files = sets[(trial + 1) % 2]
        cut_at = rng.randint(50, push_bytes)  # spread over whole pushes, the start included
        with VirtualBoard(BOARD, baud=None, state_dir=state, power_cut_after=cut_at) as board:
            _quick_push(board.port, files)
        with VirtualBoard(BOARD, baud=None, state_dir=state) as board:
            corrupt += corrupt_files(board.port, versions) > 0
            if not _quick_push(board.port, files, attempts=3):  # the next push completes
                corrupt += 1
    return {"power_cut_trials": trials, "power_cut_corrupt": corrupt}


def noise_trials(trials: int, rng: random.Random, workdir: Path,
                 rate: float = 2e-4) -> dict[str, int]:
    versions = Versions(workdir / "noise")
    sets = [versions.write(0), versions.write(1)]
    state = workdir / "noise-flash"
    with VirtualBoard(BOARD, baud=None, state_dir=state) as board, Link(board.port) as link:
        push(link, sets[0])  # the receiver is installed on a clean link, as `ember flash` does
    corrupt = completed = 0
    for trial in range(trials):
        seed = rng.randrange(1 << 30)
        with VirtualBoard(BOARD, baud=None, state_dir=state, noise=rate,
                          noise_seed=seed) as board:
            completed += _quick_push(board.port, sets[(trial + 1) % 2], attempts=3)
        with VirtualBoard(BOARD, baud=None, state_dir=state) as board:
            corrupt += corrupt_files(board.port, versions) > 0
    return {"noise_trials": trials, "noise_rate": rate, "noise_corrupt": corrupt,
            "noise_completed": completed}


def disconnect_trials(trials: int, rng: random.Random, workdir: Path) -> dict[str, int]:
    """The host side vanishes mid-push (cable pulled, laptop asleep): `ember push` is killed
    at a random moment; the next push must complete and every file stay old or new."""
    versions = Versions(workdir / "disconnect")
    sets = [versions.write(0), versions.write(1)]
    folders = [workdir / "disconnect" / "v0", workdir / "disconnect" / "v1"]
    corrupt = 0
    with VirtualBoard(BOARD, baud=115200) as board:
        with Link(board.port) as link:
            push(link, sets[0])
        for trial in range(trials):
            folder = folders[(trial + 1) % 2]
            process = subprocess.Popen([EMBER, "--port", board.port, "push", str(folder),
                                        "--source", "-q"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            try:
                process.wait(timeout=rng.uniform(0.3, 2.5))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
            if not _quick_push(board.port, plan([folder]), attempts=3):
                corrupt += 1
            corrupt += corrupt_files(board.port, versions) > 0
    return {"disconnect_trials": trials, "disconnect_corrupt": corrupt}


@contextmanager
def fake_device(answer: bytes | None) -> Iterator[str]:
    """A pty that answers every write with `answer` (None: never answers)."""
    master, slave = pty.openpty()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 4096)
                    if answer is not None:
                        os.write(master, answer)
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield os.ttyname(slave)
    finally:
        stop.set()
        thread.join(timeout=5)
        os.close(master)
        os.close(slave)


def _clear_error(args: list[str], must_mention: str) -> bool:
    try:
        result = subprocess.run([EMBER, *args], capture_output=True, text=True,
                                timeout=CAMPAIGN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False  # a hang is never a clear error
    lines = result.stderr.strip().splitlines()
    return (result.returncode != 0 and len(lines) == 1 and lines[0].startswith("ember: ")
            and must_mention.lower() in lines[0].lower())


def bad_input_trials(workdir: Path) -> dict[str, object]:
    app = workdir / "bad-app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "ok.py").write_text("X = 1\n")
    syntax = workdir / "syntax.py"
    syntax.write_text("def broken(:\n    pass\n")
    old_mpy = workdir / "old-mpy"
    old_mpy.mkdir(exist_ok=True)
    (old_mpy / "lib.mpy").write_bytes(b"M\x05\x02\x1f" + bytes(32))  # .mpy v5 header
    odd_name = workdir / "odd-name"
    odd_name.mkdir(exist_ok=True)
    (odd_name / "tab\there.py").write_text("X = 1\n")
    not_a_port = workdir / "plain-file"
    not_a_port.write_text("not a serial port")
    results: dict[str, bool] = {}
    with VirtualBoard(BOARD, baud=None) as board:
        port = board.port
        cases: dict[str, Callable[[], bool]] = {
            "no_such_port": lambda: _clear_error(["--port", "/dev/ttyNOPE9", "exec", "1"],
                                                 "no such port"),
            "not_a_serial_port": lambda: _clear_error(["--port", str(not_a_port), "exec", "1"],
                                                      str(not_a_port)),
            "unknown_board_profile": lambda: _clear_error(
                ["--port", port, "--board", "nosuch-board", "push", str(app)], "nosuch"),
            "profile_not_the_board": lambda: _clear_error(
                ["--port", port, "--board", "esp8266-generic", "push", str(app)], "virtual"),
            "mpy_for_another_version": lambda: _clear_error(
                ["--port", port, "push", str(old_mpy)], "mpy"),
            "syntax_error": lambda: _clear_error(
                ["--port", port, "run", str(syntax)], f"{syntax}:1"),
            "relative_destination": lambda: _clear_error(
                ["--port", port, "push", str(app), "--dest", "app"], "absolute"),
            "name_board_cannot_hold": lambda: _clear_error(
                ["--port", port, "push", str(odd_name)], "control character"),
            "missing_source": lambda: _clear_error(
                ["--port", port, "push", str(workdir / "nowhere")], "no such"),
            "missing_script": lambda: _clear_error(
                ["--port", port, "run", str(workdir / "nowhere.py")], "no such"),
            "unknown_sim_port": lambda: _clear_error(["sim", "stop", "/dev/ttyNOPE9"],
                                                     "no virtual board"),
        }
        for name, case in cases.items():
            results[name] = case()
        with Link(port):
            results["busy_port"] = _clear_error(["--port", port, "exec", "1"], "busy")
    with fake_device(b"\xff\x00garbage\r\n") as garbage:
        results["not_micropython"] = _clear_error(["--port", garbage, "exec", "1"],
                                                  "MicroPython")
    with fake_device(None) as silent:
        results["board_not_answering"] = _clear_error(["--port", silent, "exec", "1"],
                                                      "no answer")
    with VirtualBoard(BOARD, baud=None, power_cut_after=400) as dying:
        results["board_dies_mid_command"] = _clear_error(
            ["--port", dying.port, "push", str(app), "--source"], "answer")
    return {
        "bad_inputs_tried": len(results),
        "bad_inputs_clear_error": sum(results.values()),
        "bad_inputs_unclear": sorted(name for name, ok in results.items() if not ok),
    }


def run_fault_campaign(power_cuts: int = 50, noise: int = 10, disconnects: int = 10,
                       seed: int = 7) -> dict[str, object]:
    rng = random.Random(seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ember-faults-") as tmp:
        workdir = Path(tmp)
        result: dict[str, object] = {}
        result.update(power_cut_trials(power_cuts, rng, workdir))
        result.update(noise_trials(noise, rng, workdir))
        result.update(disconnect_trials(disconnects, rng, workdir))
        result.update(bad_input_trials(workdir))
    result["seconds"] = round(time.monotonic() - started, 1)
    return result
