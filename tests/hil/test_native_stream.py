"""Native modules end to end: `ember push` builds a C module for the board it pushes to.

examples/native_stream holds a C stream (irqring) and a program that reads it with ember's
loop while a timer feeds it; pushed to a virtual board, the C is built for the arch the
board runs (x86 on a unix virtual board, not the profile's armv6m; armv7m on the bare-metal
one, fed from its SysTick-driven machine.Timer), and runs there. A native .mpy built for
another arch is refused before anything is sent. The same source linked into the
firmware (`ember firmware build --c-module`) is a built-in module, and the program runs
the same.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.errors import CommandError
from host_tools.install import micropython_source
from host_tools.link.session import Link
from host_tools.mpy import natmod
from host_tools.mpy.compiler import ARCH_NAMES
from host_tools.sim.launcher import VirtualBoard

from .conftest import on_qemu

EMBER = str(Path(sys.executable).parent / "ember")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "native_stream" / "app"
TIMEOUT_S = 120


@pytest.fixture(autouse=True)
def _needs_source_and_compiler(board_name: str) -> None:
    try:
        micropython_source.resolve(None)
    except CommandError:
        pytest.skip("no MicroPython source (MICROPY_DIR): native modules build from it")
    compiler = "arm-none-eabi-gcc" if on_qemu(board_name) else "gcc"
    if shutil.which(compiler) is None:
        pytest.skip(f"no {compiler}: the board's native modules build with it")


def ember(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EMBER, *args], capture_output=True, text=True, timeout=TIMEOUT_S)


def test_push_builds_the_c_module_for_the_board_and_the_loop_reads_it(
        sim: VirtualBoard, board_name: str) -> None:
    pushed = ember("--port", sim.port, "--board", board_name, "push", str(EXAMPLE))
    assert pushed.returncode == 0, pushed.stderr
    with Link(sim.port) as link:
        out = link.exec("import ring_demo", timeout=30).decode().splitlines()
        # The native module is the board's own arch (x86 on the unix virtual board).
        arch = link.eval("open('/irqring.mpy', 'rb').read(3)[2] >> 2 & 15")
        board_arch = link.eval("__import__('sys').implementation._mpy >> 10 & 15")
    assert out[0] == "main flow: reader set, timer started; nothing blocks"  # before any read
    assert out[1:6] == [f"read: sample {n}" for n in range(1, 6)]
    assert out[6].startswith("done: 5 samples read")
    if on_qemu(board_name):  # armv7em (6) loads code for the Thumb arches up to its own
        assert ARCH_NAMES[arch] == "armv7m" and 4 <= arch <= board_arch, (arch, board_arch)
    else:
        assert arch == board_arch == ARCH_NAMES.index("x86")


def test_a_native_mpy_for_another_arch_is_refused_and_nothing_is_sent(
        sim: VirtualBoard, board_name: str, tmp_path: Path) -> None:
    source = micropython_source.resolve(None)
    try:
        foreign = natmod.build(EXAMPLE / "irqring", "x64", source)
    except natmod.NativeBuildError as error:
        pytest.skip(str(error))
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(foreign, app / "irqring.mpy")
    (app / "main.py").write_text("import irqring\n")
    pushed = ember("--port", sim.port, "--board", board_name, "push", str(app))
    assert pushed.returncode != 0
    lines = pushed.stderr.strip().splitlines()
    assert len(lines) == 1 and "irqring.mpy" in lines[0] and "x64" in lines[0], pushed.stderr
    with Link(sim.port) as link:
        on_board = link.eval("__import__('os').listdir('/')")
    assert isinstance(on_board, list)
    assert "irqring.mpy" not in on_board and "main.py" not in on_board  # nothing was sent


def test_the_same_source_linked_into_the_firmware_needs_no_push(
        board_name: str, tmp_path: Path) -> None:
    kind = [] if on_qemu(board_name) else ["--virtual"]  # the qemu board's is its firmware
    built = ember("firmware", "build", *kind, "--board", board_name,
                  "--c-module", str(EXAMPLE / "irqring"))
    assert built.returncode == 0, built.stderr
    image = built.stdout.strip().splitlines()[-1]
    with VirtualBoard(board_name, baud=None, firmware=Path(image)) as sim:
        copied = ember("--port", sim.port, "cp", str(EXAMPLE / "ring_demo.py"), ":ring_demo.py")
        assert copied.returncode == 0, copied.stderr  # the program only: no irqring.mpy
        with Link(sim.port) as link:
            assert link.eval("hasattr(__import__('irqring'), '__file__')") is False  # built in
            out = link.exec("import ring_demo", timeout=30).decode().splitlines()
    assert out[0] == "main flow: reader set, timer started; nothing blocks"
    assert out[-1].startswith("done: 5 samples read")
