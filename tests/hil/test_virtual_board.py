"""The virtual board behaves like a board: stock mpremote and a plain serial port drive it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from host_tools.boards.profiles import load_profile
from host_tools.sim import launcher, registry
from host_tools.sim.launcher import SIM_OWN_HEAP, VirtualBoard

from .conftest import Console, mpremote

EMBER = str(Path(sys.executable).parent / "ember")


@pytest.fixture
def console(sim: VirtualBoard):
    con = Console(sim.port)
    yield con
    con.close()


def test_exec_and_eval(sim: VirtualBoard) -> None:
    assert mpremote(sim.port, "exec", "print('hello', 6 * 7)").stdout == "hello 42\n"
    assert mpremote(sim.port, "eval", "1 + 2").stdout.strip() == "3"


def test_filesystem_commands(sim: VirtualBoard, tmp_path: Path) -> None:
    payload = os.urandom(20_000)
    local = tmp_path / "blob.bin"
    local.write_bytes(payload)
    mpremote(sim.port, "fs", "mkdir", ":lib", "+", "fs", "cp", str(local), ":lib/blob.bin")
    listing = mpremote(sim.port, "fs", "ls", ":lib").stdout
    assert "20000 blob.bin" in listing
    digest = mpremote(sim.port, "fs", "sha256sum", ":lib/blob.bin").stdout
    assert hashlib.sha256(payload).hexdigest() in digest
    back = tmp_path / "back.bin"
    mpremote(sim.port, "fs", "cp", ":lib/blob.bin", str(back))
    assert back.read_bytes() == payload
    text = tmp_path / "hello.txt"
    text.write_text("hi there\n")
    mpremote(sim.port, "fs", "cp", str(text), ":hello.txt")
    assert mpremote(sim.port, "fs", "cat", ":hello.txt").stdout == "hi there\n"
    mpremote(sim.port, "fs", "rm", ":lib/blob.bin", "+", "fs", "rmdir", ":lib")
    assert mpremote(sim.port, "fs", "ls", ":").stdout.split() == [
        "ls", ":", "9", "hello.txt"
    ]


def _install_boot_and_main(port: str, tmp_path: Path) -> None:
    boot, main = tmp_path / "boot.py", tmp_path / "main.py"
    boot.write_text("print('boot ran')\nBOOTS = 1\n")
    main.write_text("print('main ran')\nMAIN = 1\n")
    mpremote(port, "fs", "cp", str(boot), ":boot.py", "+", "fs", "cp", str(main), ":main.py")


def test_soft_reset_from_raw_repl_runs_boot_not_main(sim: VirtualBoard, tmp_path: Path) -> None:
    _install_boot_and_main(sim.port, tmp_path)
    mpremote(sim.port, "exec", "LEFTOVER = 1")
    out = mpremote(
        sim.port, "soft-reset", "+", "exec",
        "print('BOOTS' in globals(), 'MAIN' in globals(), 'LEFTOVER' in globals())",
    ).stdout  # fmt: skip
    assert out.splitlines()[-1] == "True False False"


def test_raw_repl_soft_reset_shows_boot_output_then_the_raw_prompt(
    sim: VirtualBoard, tmp_path: Path, console: Console
) -> None:
    boot = tmp_path / "boot.py"
    # The pause makes the supervisor read boot.py's words apart from what follows them.
    boot.write_text("print('boot ran')\nimport time\ntime.sleep_ms(300)\n")
    mpremote(sim.port, "fs", "cp", str(boot), ":boot.py")
    console.friendly_prompt()
    console.write(b"\x01")  # ctrl-A: raw REPL
    console.expect(b"raw REPL; CTRL-B to exit\r\n>")
    console.write(b"\x04")  # ctrl-D at an empty raw prompt: soft reset
    console.expect(b"soft reboot\r\n")
    between = console.expect(b"raw REPL; CTRL-B to exit\r\n>")
    assert b"boot ran" in between
    assert b"MicroPython" not in between  # no friendly banner on the way back


def test_hard_reset_runs_main(sim: VirtualBoard, tmp_path: Path, console: Console) -> None:
    _install_boot_and_main(sim.port, tmp_path)
    # mpremote soft-resets (raw REPL: main.py does not run), then asks for machine.reset()
    # in 100 ms and leaves; the console, opened before, sees what the board does next.
    mpremote(sim.port, "reset")
    console.expect(b"main ran")
    console.expect(b">>> ")
    console.write(b"print(BOOTS, MAIN)\r")
    console.expect(b"1 1")


def test_ctrl_d_at_friendly_repl_soft_reboots_and_runs_main(
    sim: VirtualBoard, tmp_path: Path, console: Console
) -> None:
    _install_boot_and_main(sim.port, tmp_path)
    console.friendly_prompt()
    console.write(b"\x04")
    console.expect(b"soft reboot\r\n")
    console.expect(b"boot ran")
    console.expect(b"main ran")
    console.expect(b">>> ")
    console.write(b"print(MAIN + BOOTS)\r")
    console.expect(b"\r\n2\r\n>>> ")  # a board's line ends, as its HAL cooks them


def test_exec_after_soft_reset_needs_no_resume(sim: VirtualBoard) -> None:
    mpremote(sim.port, "soft-reset")
    assert mpremote(sim.port, "exec", "print('fine')").stdout == "fine\n"


def test_run_streams_a_script(sim: VirtualBoard, tmp_path: Path) -> None:
    script = tmp_path / "count.py"
    script.write_text(
        "import time\nfor i in range(3):\n    print('tick', i)\n    time.sleep_ms(20)\n"
    )
    assert mpremote(sim.port, "run", str(script)).stdout.split() == [
        "tick", "0", "tick", "1", "tick", "2"
    ]


def test_ctrl_c_interrupts_a_running_loop(sim: VirtualBoard, console: Console) -> None:
    console.friendly_prompt()
    console.write(b"import time\r")
    console.expect(b">>> ")
    console.write(b"while True: time.sleep_ms(5)\r\r")
    console.expect(b"... \r\n")
    console.write(b"\x03")
    console.expect(b"KeyboardInterrupt")
    console.expect(b">>> ")
    console.write(b"print('still here')\r")
    console.expect(b"still here")


def test_mpremote_interrupts_code_left_running(sim: VirtualBoard) -> None:
    mpremote(sim.port, "exec", "--no-follow", "while True: pass")
    assert mpremote(sim.port, "exec", "print('back')").stdout == "back\n"


def test_kbd_intr_disabled_passes_ctrl_c_as_data(sim: VirtualBoard, console: Console) -> None:
    console.friendly_prompt()
    console.write(b"import micropython, sys\r")
    console.expect(b">>> ")
    console.write(b"micropython.kbd_intr(-1); print('R', sys.stdin.buffer.read(3))\r")
    console.expect(b"\r\n")  # the echoed line
    console.write(b"\x03\x00\x04")
    console.expect(b"R b'\\x03\\x00\\x04'")


def test_heap_left_for_programs_is_the_profiles(unix_board: None, sim: VirtualBoard) -> None:
    # The interpreter's heap is the profile's plus what the simulator's own code takes:
    # after boot, what is free is about the profile's heap, less what a bare
    # interpreter itself holds (1-2 KB).
    free, total = json.loads(mpremote(sim.port, "exec", (
        "import gc; gc.collect(); print([gc.mem_free(), gc.mem_free() + gc.mem_alloc()])"
    )).stdout)
    heap = load_profile("rp2-pico").heap_bytes
    assert 0.95 * (heap + SIM_OWN_HEAP) <= total <= heap + SIM_OWN_HEAP
    assert heap - 3 * 1024 <= free <= heap, (free, heap)


def test_sys_path_and_machine_like_a_board(unix_board: None, sim: VirtualBoard) -> None:
    out = mpremote(sim.port, "exec", (
        "import sys, machine, os\n"
        "print(sys.path)\n"
        "print(len(machine.unique_id()), machine.freq() > 0)\n"
        "print(os.listdir('/'))"
    )).stdout.splitlines()  # fmt: skip
    assert out[0] == "['', '.frozen', '/lib']"
    assert out[1] == "8 True"
    assert out[2] == "[]"


def test_full_filesystem_raises_enospc() -> None:
    with VirtualBoard("samd21-generic", baud=None) as small:
        out = mpremote(small.port, "exec", (
            "try:\n"
            "    with open('fill.bin', 'wb') as f:\n"
            "        for i in range(200):\n"
            "            f.write(bytes(1024))\n"
            "    print('no error')\n"
            "except OSError as e:\n"
            "    print('errno', e.errno == 28)  # ENOSPC\n"
        )).stdout  # fmt: skip
        assert out.strip() == "errno True"


def test_state_survives_a_restart(tmp_path: Path, board_name: str) -> None:
    state = tmp_path / "board"
    with VirtualBoard(board_name, baud=None, state_dir=state) as first:
        mpremote(first.port, "exec", "with open('keep.txt', 'w') as f: f.write('kept')")
    with VirtualBoard(board_name, baud=None, state_dir=state) as second:
        assert mpremote(second.port, "fs", "cat", ":keep.txt").stdout == "kept"


def test_power_cut_leaves_a_bootable_image(tmp_path: Path, board_name: str) -> None:
    state = tmp_path / "board"
    old = tmp_path / "old.bin"
    old.write_bytes(b"o" * 3000)
    with VirtualBoard(board_name, baud=None, state_dir=state) as board:
        mpremote(board.port, "fs", "cp", str(old), ":old.bin")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(30_000))
    with VirtualBoard(board_name, baud=None, state_dir=state, power_cut_after=20_000) as board:
        with pytest.raises((AssertionError, subprocess.TimeoutExpired)):
            # mpremote waits forever for a dead board: bound it
            mpremote(board.port, "fs", "cp", str(big), ":big.bin", timeout=10)
    with VirtualBoard(board_name, baud=None, state_dir=state) as board:
        listing = mpremote(board.port, "fs", "ls", ":").stdout
        assert "3000 old.bin" in listing
        assert mpremote(board.port, "fs", "cat", ":old.bin").stdout == "o" * 3000


def test_power_cut_port_stays_open_and_silent(sim: VirtualBoard, console: Console) -> None:
    console.friendly_prompt()
    sim.power_cut()
    deadline = time.monotonic() + 10
    while True:  # wait until the cut has taken effect: the board no longer answers
        console.write(b"\r")
        if not console.serial.read(64) or time.monotonic() > deadline:
            break
    console.write(b"print(1)\r")
    assert console.serial.read(64) == b""
    assert registry.find(sim.port) is not None  # the port is still there


def test_baud_throttles_the_link(tmp_path: Path, board_name: str) -> None:
    payload = tmp_path / "p.bin"
    payload.write_bytes(bytes(3840))
    with VirtualBoard(board_name, baud=19200) as slow:  # 1920 bytes/s each way
        started = time.monotonic()
        # mpremote sends 3840 bytes as repr() text: at least 2 s of line time
        mpremote(slow.port, "fs", "cp", str(payload), ":p.bin", timeout=120)
        assert time.monotonic() - started >= 2.0


def test_uart_is_a_host_pty(sim: VirtualBoard) -> None:
    assert sim.record is not None
    uart = serial.serial_for_url(sim.record.uarts["1"], timeout=5)
    try:
        mpremote(sim.port, "exec", "import machine; machine.UART(1).write(b'ping')")
        assert uart.read(4) == b"ping"
        uart.write(b"pong\n")
        out = mpremote(sim.port, "exec", (
            "import machine\n"
            "u = machine.UART(1, timeout=5000)\n"
            "print(u.readline())"
        )).stdout  # fmt: skip
        assert out.strip() == "b'pong\\n'"
    finally:
        uart.close()


def test_cli_start_prints_only_the_port_and_stop_cleans_up(tmp_path: Path) -> None:
    started = subprocess.run(
        [EMBER, "sim", "start", "--board", "esp8266-generic", "--baud", "0"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    port = started.stdout.strip()
    assert started.stdout == port + "\n" and port.startswith("/dev/")
    record = registry.find(port)
    assert record is not None
    interpreter_pids = _children(record.pid)
    assert interpreter_pids, "the supervisor runs an interpreter"
    listed = subprocess.run([EMBER, "sim", "list", "--json"], capture_output=True, text=True,
                            timeout=30, check=True).stdout
    assert port in [json.loads(line)["port"] for line in listed.splitlines()]
    ours = _pty_identity(port)
    subprocess.run([EMBER, "sim", "stop", port], timeout=30, check=True)
    for pid in [record.pid, *interpreter_pids]:
        assert not _alive(pid), f"process {pid} outlived sim stop"
    assert _pty_identity(port) != ours, "the pseudo-terminal outlived sim stop"
    assert not os.path.exists(record.state_dir), "an ephemeral board's flash outlived it"


def test_virtual_board_context_leaves_nothing_behind(board_name: str) -> None:
    with VirtualBoard(board_name, baud=None) as board:
        assert board.record is not None
        record = board.record
        children = _children(record.pid)
        mpremote(board.port, "exec", "print(1)")
        ends = {end: _pty_identity(end) for end in [record.port, *record.uarts.values()]}
    for pid in [record.pid, *children]:
        assert not _alive(pid)
    for end, ours in ends.items():
        assert _pty_identity(end) != ours, f"{end} outlived the board"
    assert launcher.registry.running() == []


def _pty_identity(path: str) -> int | None:
    """When the pty at `path` was made, or None if there is none: another test running
    beside this one may open a new pty that takes the same number once ours is gone."""
    try:
        return os.stat(path).st_ctime_ns
    except FileNotFoundError:
        return None


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status
