"""The bare-metal virtual board: MicroPython's Cortex-M3 firmware, ember's build, under QEMU.

What only this board has: `ember sim` runs QEMU and cleans it up, the firmware is the
profile's (heap, flash, ember frozen in), its flash is the image file byte for byte, it has
no semihosting (no call reaches a host file), `ember flash --firmware` swaps its ELF, and
every bad input (a wrong image, an image of the wrong size, no QEMU) is a one-line error.
The board-agnostic suites run on it too with `--ember-board qemu-mps2-an385`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.boards.profiles import load_profile
from host_tools.install import micropython_source, qemu_firmware
from host_tools.link.session import Link
from host_tools.sim import registry
from host_tools.sim.launcher import VirtualBoard

from .conftest import QEMU_BOARD

EMBER = str(Path(sys.executable).parent / "ember")
pytestmark = pytest.mark.usefixtures("needs_qemu")


@pytest.fixture
def qemu() -> Iterator[VirtualBoard]:
    with VirtualBoard(QEMU_BOARD, baud=None) as board:
        yield board


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1 and result.stdout == "", result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_sim_start_runs_the_profiles_firmware_under_qemu_and_stop_ends_it() -> None:
    profile = load_profile(QEMU_BOARD)
    started = subprocess.run([EMBER, "sim", "start", "--board", QEMU_BOARD],
                             capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr
    assert started.stderr == ""
    port = started.stdout.strip()
    assert started.stdout == port + "\n" and port.startswith("/dev/")
    record = registry.find(port)
    try:
        assert record is not None and record.board == QEMU_BOARD
        assert record.baud == profile.link.baud  # a UART board's link runs at its baud
        qemu_pids = _children(record.pid)
        assert len(qemu_pids) == 1
        cmdline = Path(f"/proc/{qemu_pids[0]}/cmdline").read_bytes().split(b"\0")
        assert cmdline[0].endswith(b"qemu-system-arm")
        listed = subprocess.run([EMBER, "sim", "list"], capture_output=True, text=True,
                                timeout=30, check=True).stdout
        assert port in listed and QEMU_BOARD in listed
        code = ("import sys, gc, os, ember\n"
                "gc.collect()\n"
                "print(sys.platform, sys.maxsize == 2**31 - 1, ember.__file__,"
                " gc.mem_free() + gc.mem_alloc(), os.statvfs('/')[0] * os.statvfs('/')[2])")
        with Link(port) as link:
            platform, small, where, heap, flash = link.exec(code).decode().split()
        assert (platform, small, where) == ("qemu", "True", "ember/__init__.py")
        assert abs(int(heap) - profile.heap_bytes) <= 64, heap  # the profile's, to a block
        assert int(flash) == profile.fs_bytes
    finally:
        subprocess.run([EMBER, "sim", "stop", port], timeout=30, check=False)
    assert record is not None
    for pid in [record.pid, *qemu_pids]:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"{pid} outlived sim stop"
    assert not os.path.exists(record.state_dir)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_store_to_the_flash_is_in_the_image_at_once(qemu: VirtualBoard) -> None:
    """The flash region is the image file: what the board writes is there with QEMU still
    running, so a power cut keeps exactly what was written."""
    assert qemu.record is not None
    profile = load_profile(QEMU_BOARD)
    last = profile.fs_blocks - 1  # littlefs keeps its superblocks at the start
    mark = b"ember was here\n" * 4
    with Link(qemu.port) as link:
        link.exec(f"import ember_qemu\nember_qemu.Flash().writeblocks({last}, {mark!r})")
    image = Path(qemu.record.state_dir) / "flash.img"
    with open(image, "rb") as f:
        f.seek(last * profile.block_size)
        assert f.read(len(mark)) == mark


def test_qemu_runs_without_semihosting_and_a_semihosting_call_reaches_no_file(
    qemu: VirtualBoard, tmp_path: Path,
) -> None:
    assert qemu.record is not None
    (qemu_pid,) = _children(qemu.record.pid)
    cmdline = Path(f"/proc/{qemu_pid}/cmdline").read_bytes().split(b"\0")
    assert not any(arg.startswith(b"-semihosting") for arg in cmdline)
    target = tmp_path / "escaped.txt"
    # A program's own Arm code asks for SYS_OPEN (0x01) of a host path, mode "w".
    code = (
        "import micropython, array\n"
        "@micropython.asm_thumb\n"
        "def sys_open(r0, r1):\n"
        "    str(r1, [r0, 0])\n"
        "    mov(r1, r0)\n"
        "    mov(r0, 1)\n"
        "    data(2, 0xbeab)\n"  # bkpt 0xab: the Thumb semihosting call
        f"name = bytearray({str(target).encode()!r} + b'\\0')\n"
        f"block = array.array('I', [0, 4, {len(str(target))}])\n"
        "print('called', sys_open(block, name))\n"
    )
    with Link(qemu.port) as link:
        try:
            link.exec(code, timeout=2)
        except Exception:  # noqa: BLE001 - the board may fault and reset, which is fine
            pass
    assert not target.exists()


def test_machine_timer_runs_soft_and_hard_callbacks_and_a_soft_reset_stops_it(
        qemu: VirtualBoard) -> None:
    # The board's soft timers run off the SysTick: periodic, one-shot, hard (in the
    # interrupt, heap locked), kept alive through collections by the timers' own list.
    code = (
        "import gc, machine, micropython, time\n"
        "ticks = []\n"
        "t = machine.Timer(-1, mode=machine.Timer.PERIODIC, period=5,"
        " callback=lambda t: ticks.append(time.ticks_ms()))\n"
        "del t\n"  # held by the timers' list alone: collections must keep it
        "start = time.ticks_ms()\n"
        "while len(ticks) < 10 and time.ticks_diff(time.ticks_ms(), start) < 2000:\n"
        "    gc.collect()\n"
        "    machine.idle()\n"
        "hard = [0]\n"
        "def on_hard(t):\n"
        "    hard[0] += 1\n"
        "h = machine.Timer(-1, mode=machine.Timer.ONE_SHOT, period=2, callback=on_hard,"
        " hard=True)\n"
        "time.sleep_ms(20)\n"
        "gaps = [time.ticks_diff(b, a) for a, b in zip(ticks, ticks[1:])]\n"
        "print(len(ticks) >= 10, min(gaps[:9]) >= 4, max(gaps[:9]) <= 20, hard[0])\n"
    )
    with Link(qemu.port) as link:
        out = link.exec(code, timeout=30).decode().strip()
        assert out == "True True True 1", out
        link.raw_repl(soft_reset=True)  # the periodic timer is still armed: a reset ends it
        after = link.exec("import time\nn = len(ticks) if 'ticks' in globals() else -1\n"
                          "time.sleep_ms(30)\nprint(n)", timeout=30).decode().strip()
    assert after == "-1"  # a fresh heap, and nothing fired into the old one


def test_flash_firmware_swaps_the_elf_and_keeps_the_flash(qemu: VirtualBoard) -> None:
    profile = load_profile(QEMU_BOARD)
    bare = qemu_firmware.build(profile, micropython_source.resolve(None), runtime=False).image
    with Link(qemu.port) as link:
        link.exec("with open('/kept.txt', 'w') as f:\n    f.write('still here')")
    result = subprocess.run([EMBER, "--port", qemu.port, "flash", "--firmware", bare],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    # The new firmware has no ember frozen in, so flash installed the runtime into /lib.
    assert "runtime installed in /lib/ember" in result.stdout
    with Link(qemu.port) as link:
        out = link.exec("import ember\nprint(open('/kept.txt').read(), ember.__file__)")
    assert out.decode().split() == ["still", "here", "/lib/ember/__init__.mpy"]


def test_an_x86_image_is_refused_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run([EMBER, "sim", "start", "--board", QEMU_BOARD, "--firmware",
                             sys.executable], capture_output=True, text=True, timeout=60)
    assert f"not a {QEMU_BOARD} firmware" in _one_line_error(result)


def test_a_flash_image_of_the_wrong_size_is_refused_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "board"
    state.mkdir()
    (state / "flash.img").write_bytes(b"\xff" * load_profile(QEMU_BOARD).fs_bytes)
    result = subprocess.run([EMBER, "sim", "start", "--board", QEMU_BOARD, "--state",
                             str(state)], capture_output=True, text=True, timeout=60)
    error = _one_line_error(result)
    assert "flash.img" in error and "bytes" in error
    assert registry.running() == [] or all(r.state_dir != str(state)
                                           for r in registry.running())


def test_without_qemu_the_error_names_the_package(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no qemu-system-arm
    result = subprocess.run([EMBER, "sim", "start", "--board", QEMU_BOARD], env=env,
                            capture_output=True, text=True, timeout=60)
    error = _one_line_error(result)
    assert "qemu-system-arm" in error and "apt-get install" in error
