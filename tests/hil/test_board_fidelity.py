"""The virtual board's firmware behaves as a board's where a test can tell, and is sealed.

Each test drives ember's 32-bit virtual firmware through its pseudo-terminal, byte for byte
as a host drives a real board: line ends, input passed unchanged, the raw REPL through
SystemExit and soft resets typed into at full speed, `machine` as a board has it, 32-bit
integers, the profile's heap, and no way from the board to any host file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.boards.profiles import load_profile
from host_tools.errors import CommandError, SimError
from host_tools.install import micropython_source
from host_tools.link.session import Link
from host_tools.sim import launcher, registry
from host_tools.sim.launcher import VirtualBoard

from .conftest import Console, on_qemu

EMBER = str(Path(sys.executable).parent / "ember")
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"


@pytest.fixture(autouse=True)
def _needs_firmware() -> None:
    try:
        micropython_source.resolve(None)
    except CommandError:
        pytest.skip("no MicroPython source (MICROPY_DIR): virtual boards run the fallback")


@pytest.fixture
def board(board_name: str) -> Iterator[VirtualBoard]:
    with VirtualBoard(board_name, baud=None) as sim:
        assert sim.record is not None and sim.record.firmware, "not on ember's firmware"
        yield sim


@pytest.fixture
def console(board: VirtualBoard) -> Iterator[Console]:
    con = Console(board.port)
    yield con
    con.close()


def raw_exec(console: Console, code: bytes) -> tuple[bytes, bytes]:
    """Runs code in the raw REPL (already entered); returns (output, error) as sent."""
    console.write(code + b"\x04")
    console.expect(b"OK")
    out = console.expect(b"\x04")
    err = console.expect(b"\x04")
    console.expect(b">")
    return out, err


def enter_raw(console: Console) -> None:
    console.friendly_prompt()
    console.write(b"\x01")  # ctrl-A: raw REPL
    console.expect(RAW_PROMPT)


def test_output_lines_end_in_crlf_as_on_a_board(console: Console) -> None:
    console.friendly_prompt()
    console.write(b"print('a\\nb')\r")
    console.expect(b"print('a\\nb')\r\n")  # the echo
    assert console.expect(b">>> ") == b"a\r\nb\r\n"
    console.write(b"\x01")
    console.expect(RAW_PROMPT)
    out, err = raw_exec(console, b"import sys\nprint(1)\nsys.stdout.buffer.write(b'x\\ny')")
    assert (out, err) == (b"1\r\nx\ny", b"")  # text is cooked, .buffer is raw


def test_input_bytes_reach_the_board_unchanged(console: Console) -> None:
    enter_raw(console)
    # A CRLF script: line numbers count as a board counts them (each \r\n is one line).
    out, err = raw_exec(console, b"x = 1\r\ny = 2\r\nraise ValueError(x + y)\r\n")
    assert out == b""
    assert b'line 3, in <module>' in err and b"ValueError: 3" in err
    # Every byte value but the REPL's own controls comes through sys.stdin.buffer as sent.
    payload = bytes(b for b in range(256) if b not in (3, 4))
    console.write(b"import sys\nprint(sys.stdin.buffer.read(%d))\x04" % len(payload))
    console.expect(b"OK")
    console.write(payload)
    out = console.expect(b"\x04")
    assert out.strip() == repr(payload).encode()


def test_raw_repl_survives_system_exit_however_fast_the_host_types(console: Console) -> None:
    enter_raw(console)
    # The next program follows SystemExit at once, while the firmware restarts.
    console.write(b"raise SystemExit\x04print('after exit')\x04")
    console.expect(b"OK\x04\x04")
    console.expect(b"soft reboot\r\n")
    console.expect(RAW_PROMPT)
    console.expect(b"OK")
    assert console.expect(b"\x04") == b"after exit\r\n"
    console.expect(b"\x04>")
    # A raw-REPL soft reset (ctrl-D at the prompt), typed into just as fast.
    console.write(b"\x04print('after reset')\x04")
    console.expect(b"soft reboot\r\n")
    console.expect(RAW_PROMPT)
    console.expect(b"OK")
    assert console.expect(b"\x04") == b"after reset\r\n"


def test_missing_machine_names_raise_import_error(unix_board: None, board: VirtualBoard
                                                  ) -> None:
    code = (
        "for name in ('disable_irq', 'enable_irq', 'idle', 'Pin', 'Timer', 'RTC', 'UART'):\n"
        "    exec('from machine import ' + name)\n"
        "try:\n"
        "    from machine import NoSuchThing\n"
        "except ImportError:\n"
        "    print('ImportError')\n"
    )
    with Link(board.port) as link:
        assert link.exec(code).strip() == b"ImportError"


def test_pins_read_and_write_and_the_profiles_loopback_is_wired(unix_board: None,
                                                                board: VirtualBoard) -> None:
    hil = load_profile("rp2-pico").hil
    code = (
        "from machine import Pin\n"
        f"tx = Pin({hil.tx_pin}, Pin.OUT, value=0)\n"
        f"rx = Pin({hil.rx_pin}, Pin.IN)\n"
        "seen = []\n"
        "rx.irq(lambda p: seen.append(p.value()), Pin.IRQ_RISING | Pin.IRQ_FALLING)\n"
        "levels = []\n"
        "for v in (1, 0, 1):\n"
        "    tx.value(v)\n"
        "    levels.append(rx.value())\n"
        "import micropython\n"
        "micropython.schedule(lambda _: None, None)\n"  # run what is scheduled
        "floating = Pin(40, Pin.IN, Pin.PULL_UP).value()\n"
        "print(levels, seen, floating, tx.value())\n"
    )
    with Link(board.port) as link:
        assert link.exec(code).strip() == b"[1, 0, 1] [1, 0, 1] 1 1"


def test_timer_rtc_and_irq_state(unix_board: None, board: VirtualBoard) -> None:
    code = (
        "import machine, time\n"
        "ticks = []\n"
        "t = machine.Timer(-1, mode=machine.Timer.PERIODIC, period=5,"
        " callback=lambda t: ticks.append(1))\n"
        "start = time.ticks_ms()\n"
        "while len(ticks) < 3 and time.ticks_diff(time.ticks_ms(), start) < 2000:\n"
        "    machine.idle()\n"
        "t.deinit()\n"
        "one = []\n"
        "machine.Timer(-1, mode=machine.Timer.ONE_SHOT, period=1, callback=one.append)\n"
        "time.sleep_ms(50)\n"
        "rtc = machine.RTC()\n"
        "rtc.datetime((2030, 1, 2, 2, 3, 4, 5, 0))\n"
        "y, m, d, wd, hh, mm, ss, sub = rtc.datetime()\n"
        "state = machine.disable_irq()\n"
        "machine.enable_irq(state)\n"
        "print(len(ticks) >= 3, len(one), (y, m, d, hh, mm), state, machine.reset_cause())\n"
    )
    with Link(board.port) as link:
        out = link.exec(code).decode().strip()
    assert out == "True 1 (2030, 1, 2, 3, 4) 1 1", out


def test_sim_start_boots_embers_32_bit_firmware_with_the_profiles_heap() -> None:
    profile = load_profile("esp8266-generic")
    started = subprocess.run([EMBER, "sim", "start", "--board", profile.name],
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    assert started.stderr == ""  # no fallback warning: the board runs ember's firmware
    port = started.stdout.strip()
    try:
        record = registry.find(port)
        assert record is not None and record.firmware
        code = ("import sys, gc, ember\n"
                "print(sys.maxsize == 2**31 - 1, ember.__file__, sys.platform,"
                " gc.mem_free() + gc.mem_alloc())")
        with Link(port) as link:
            maxsize, where, platform, heap = link.exec(code).decode().split()
        assert (maxsize, where, platform) == ("True", "ember/__init__.py", "esp8266")
        assert abs(int(heap) - profile.heap_bytes) <= 64, heap  # the profile's, to a block
    finally:
        subprocess.run([EMBER, "sim", "stop", port], timeout=30, check=False)


def test_without_a_source_the_fallback_says_so_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MICROPY_DIR"}
    started = subprocess.run([EMBER, "sim", "start", "--board", "rp2-pico"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    port = started.stdout.strip()
    try:
        lines = started.stderr.strip().splitlines()
        assert len(lines) == 1 and "64-bit" in lines[0] and "1.7 times" in lines[0], lines
        assert "MICROPY_DIR" in lines[0]
    finally:
        subprocess.run([EMBER, "sim", "stop", port], timeout=30, check=False)


# -- sealed: no way out to the host's files ------------------------------------------------
ESCAPES = {
    "VfsPosix": "import vfs\nvfs.mount(vfs.VfsPosix('/'), '/host')",
    "open an absolute host path": "open('/etc/hostname').read()",
    "climb out of the flash": "import os\nos.chdir('/..')\nopen('../../etc/hostname').read()",
    "os.system": "import os\nos.system('touch /tmp/ember-escaped')",
    "ffi": "import ffi",
    "socket on a board without networking": "import socket",
    "machine.mem32": "import machine\nmachine.mem32[0]",
    "a host folder on sys.path": "import sys\nsys.path.append('/usr/lib/python3')\nimport this",
}


@pytest.mark.parametrize("way", sorted(ESCAPES))
def test_no_call_reaches_a_host_file(board: VirtualBoard, way: str, board_name: str) -> None:
    if way == "machine.mem32" and on_qemu(board_name):
        pytest.skip("on the bare-metal board memory is the board's own, as on a real one")
    with Link(board.port) as link:
        attempt = "".join(f"    {line}\n" for line in ESCAPES[way].splitlines())
        out = link.exec(
            f"try:\n{attempt}    print('escaped')\n"
            "except Exception as e:\n    print('refused', type(e).__name__)"
        ).decode().strip()
    assert out.startswith("refused"), f"{way}: {out}"
    assert not Path("/tmp/ember-escaped").exists()


def test_a_file_written_on_the_board_lands_only_in_its_flash(board: VirtualBoard) -> None:
    assert board.record is not None
    state = Path(board.record.state_dir)
    with Link(board.port) as link:
        out = link.exec("import os\nopen('/escape.txt', 'w').write('x')\n"
                        "os.chdir('/')\nprint(os.getcwd(), sorted(os.listdir('/')))").decode()
    assert out.split(None, 1)[0] == "/"
    assert "escape.txt" in out
    assert not Path("/escape.txt").exists()
    # The firmware's whole root is a folder of its own, holding its image and nothing else.
    assert sorted(p.name for p in (state / "root").iterdir()) == ["firmware"]


def test_the_firmware_runs_confined_to_its_root(unix_board: None, board: VirtualBoard
                                                ) -> None:
    assert board.record is not None
    pid = _firmware_pid(board.record.pid)
    root = Path(board.record.state_dir) / "root"
    cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    seen_root = Path(os.readlink(f"/proc/{pid}/root"))
    if os.geteuid() == 0:
        # As root (CI) the chroot always applies: the firmware's / is its empty root folder.
        assert seen_root.resolve() == root.resolve(), seen_root
    else:
        assert root.resolve() in (cwd.resolve(), seen_root.resolve()), (cwd, seen_root)
    status = Path(f"/proc/{pid}/status").read_text()
    assert "NoNewPrivs:\t1" in status  # and it can gain no privileges by exec
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert not any(v.startswith((b"HOME=", b"PATH=", b"MICROPY_DIR=")) for v in env)


def _firmware_pid(supervisor: int) -> int:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == supervisor:  # the field after the state: the parent's pid
            children.append(int(stat.parent.name))
    assert len(children) == 1, children
    return children[0]


def test_builds_that_differ_in_what_is_frozen_share_their_objects(unix_board: None) -> None:
    from host_tools.install import virtual_firmware

    profile, source = load_profile("rp2-pico"), micropython_source.resolve(None)
    with_ember = virtual_firmware.build(profile, source)
    bare = virtual_firmware.build(profile, source, runtime=False)
    assert with_ember.objects and with_ember.objects == bare.objects
    # Each image froze its own manifest, whichever was linked last in the shared folder.
    assert b"ember/core.py\0" in Path(with_ember.image).read_bytes()
    assert b"ember/core.py\0" not in Path(bare.image).read_bytes()
    for build in (with_ember, bare):  # each keeps its own link map (the bench reads it)
        assert (Path(build.image).parent / virtual_firmware.LINK_MAP_NAME).is_file()


# -- flashing a virtual board --------------------------------------------------------------
def test_flash_firmware_swaps_the_image_and_keeps_the_flash(unix_board: None,
                                                            board: VirtualBoard) -> None:
    profile = load_profile("rp2-pico")
    source = micropython_source.resolve(None)
    from host_tools.install import virtual_firmware

    bare = virtual_firmware.build(profile, source, runtime=False).image
    with Link(board.port) as link:
        link.exec("with open('/kept.txt', 'w') as f:\n    f.write('still here')")
    result = subprocess.run([EMBER, "--port", board.port, "flash", "--firmware", bare],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # The new firmware has no ember frozen in, so flash installed the runtime into /lib.
    assert "runtime installed in /lib/ember" in result.stdout
    with Link(board.port) as link:
        out = link.exec("import ember\nprint(open('/kept.txt').read(), ember.__file__)")
    assert out.decode().split() == ["still", "here", "/lib/ember/__init__.mpy"]


def test_flash_refuses_an_image_that_is_not_virtual_firmware(board: VirtualBoard,
                                                             tmp_path: Path,
                                                             board_name: str) -> None:
    image = tmp_path / "firmware.uf2"
    image.write_bytes(b"UF2\n" + bytes(508))
    result = subprocess.run([EMBER, "--port", board.port, "flash", "--firmware", str(image)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    wanted = f"not a {board_name} firmware" if on_qemu(board_name) else (
        "not a virtual board firmware")
    assert len(lines) == 1 and wanted in lines[0], lines
    with Link(board.port) as link:  # still running its old firmware
        assert link.exec("import ember\nprint(ember.__file__)").strip() == b"ember/__init__.py"


def test_reflash_of_a_board_on_the_fallback_is_refused() -> None:
    record = registry.SimRecord(pid=os.getpid(), port="/dev/null", board="rp2-pico",
                                state_dir="/nonexistent", baud=None)
    with pytest.raises(SimError, match="PyPI interpreter"):
        launcher.reflash(record, Path(sys.executable))


def test_sim_start_with_a_wrong_image_is_a_one_line_error(tmp_path: Path) -> None:
    image = tmp_path / "firmware.bin"
    image.write_bytes(b"\xe9" + bytes(4095))  # an ESP8266 image: not for a virtual board
    result = subprocess.run([EMBER, "sim", "start", "--board", "esp8266-generic",
                             "--firmware", str(image)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a virtual board firmware" in lines[0], lines
    # Refused before anything was made: no board runs on it (another test's may).
    assert all(Path(r.firmware).read_bytes()[:4] == b"\x7fELF" for r in registry.running()
               if r.firmware and Path(r.firmware).is_file())


def test_sim_start_runs_a_given_image(tmp_path: Path) -> None:
    from host_tools.install import virtual_firmware

    bare = virtual_firmware.build(load_profile("rp2-pico"), micropython_source.resolve(None),
                                  runtime=False).image
    with VirtualBoard("rp2-pico", baud=None, firmware=Path(bare)) as sim, \
            Link(sim.port) as link:
        out = link.exec("try:\n import ember\nexcept ImportError:\n print('no ember')")
    assert out.strip() == b"no ember"
