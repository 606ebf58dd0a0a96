"""Safe mode on a virtual board: the boot guard ends a crash loop, the host ends a busy main.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.install.runtime import install_runtime
from host_tools.install.safe_mode import (
    enter_safe_mode,
    install_boot_guard,
    leave_safe_mode,
    safe_mode_status,
)
from host_tools.link.session import Link
from host_tools.push.session import plan, push
from host_tools.sim.launcher import VirtualBoard

from .conftest import Console

BOARD = "rp2-pico"
SAFE_MESSAGE = b"ember: safe mode"

# A crash loop: the app raises at import, and main.py resets the board on any error.
CRASHING_MAIN = """\
import machine
import sys
try:
    import app
except Exception as e:
    sys.print_exception(e)
    machine.reset()
"""
BROKEN_APP = "raise ValueError('broken app')\n"
FIXED_APP = "import ember\nprint('app up')\nember.healthy()\n"
BUSY_MAIN = "print('busy main')\nwhile True:\n    pass\n"
RESETTING_MAIN = "import machine\nprint('resetting')\nmachine.reset()\n"


@pytest.fixture
def sim() -> Iterator[VirtualBoard]:
    with VirtualBoard(BOARD, baud=None) as board:
        yield board


def _files(tmp_path: Path, **files: str) -> list[Path]:
    paths = []
    for name, text in files.items():
        path = tmp_path / f"{name}.py"
        path.write_text(text)
        paths.append(path)
    return paths


def _reset_and_watch(link: Link, wanted: bytes, then: bytes = b"") -> bytes:
    """A hard reset (machine.reset), then what the board prints until `wanted` (then up to
    `then`, if given), read on the same open port: a port opened after the reset would
    miss what the board printed before it was open, as it would on a real board."""
    link.start("import machine\nmachine.reset()\n")
    link.at_friendly_repl()  # the reset left the raw REPL
    console = Console.over(link.serial)
    before = console.expect(wanted)
    if then:
        console.expect(then)
    return before


def test_crash_loop_ends_in_safe_mode_and_leave_restores_normal_boots(
    sim: VirtualBoard, tmp_path: Path
) -> None:
    with Link(sim.port) as link:
        assert install_boot_guard(link) is not None
        push(link, plan(_files(tmp_path, main=CRASHING_MAIN, app=BROKEN_APP)), dest="/")
        # Three boots crash and reset; the fourth finds the count at 3 and sets main.py aside.
        before = _reset_and_watch(link, b"3 boots in a row did not reach healthy", then=b">>> ")
    assert before.count(b"ValueError: broken app") == 3, before[-600:]

    with Link(sim.port) as link:  # the board stays at its REPL: exec works
        assert link.eval("6 * 7") == 42
        assert safe_mode_status(link) == (True, 0)
        assert link.eval("'main.py' in __import__('os').listdir('/')") is False
        # Fix the app, then leave safe mode: main.py is back and runs at the next boot.
        (tmp_path / "app.py").write_text(FIXED_APP)
        push(link, plan([tmp_path / "app.py"]), dest="/")
        install_runtime(link, board=BOARD)
        assert leave_safe_mode(link) is True
        assert safe_mode_status(link) == (False, 0)
        before = _reset_and_watch(link, b"app up", then=b">>> ")
    assert SAFE_MESSAGE not in before
    with Link(sim.port) as link:
        assert safe_mode_status(link) == (False, 0)  # ember.healthy() cleared the count


def test_busy_main_is_recovered_with_enter_safe_mode(sim: VirtualBoard, tmp_path: Path) -> None:
    with Link(sim.port) as link:
        install_boot_guard(link)
        push(link, plan(_files(tmp_path, main=BUSY_MAIN)), dest="/")
        _reset_and_watch(link, b"busy main")  # main.py runs and never returns

    assert enter_safe_mode(sim.port, timeout=30) is True
    with Link(sim.port) as link:
        assert link.eval("1 + 1") == 2
        assert safe_mode_status(link) == (True, 0)
        before = _reset_and_watch(link, SAFE_MESSAGE, then=b">>> ")  # to the REPL now
    assert b"busy main" not in before
    with Link(sim.port) as link:
        assert leave_safe_mode(link) is True
        assert safe_mode_status(link) == (False, 0)
        _reset_and_watch(link, b"busy main")  # normal boots again


def test_crash_loop_without_the_guard_is_recovered_with_enter_safe_mode(
    sim: VirtualBoard, tmp_path: Path
) -> None:
    with Link(sim.port) as link:
        push(link, plan(_files(tmp_path, main=RESETTING_MAIN)), dest="/")
        _reset_and_watch(link, b"resetting")  # main.py resets the board, again and again

    assert enter_safe_mode(sim.port, timeout=30) is True
    with Link(sim.port) as link:
        assert safe_mode_status(link) == (True, 0)
        assert link.eval("'main.py' in __import__('os').listdir('/')") is False
        assert link.eval("open('/.ember/main.py.safe').read()") == RESETTING_MAIN


def test_guard_is_not_installed_over_a_foreign_boot_py(sim: VirtualBoard, tmp_path: Path) -> None:
    with Link(sim.port) as link:
        mine = "print('my own boot.py')\n"
        push(link, plan(_files(tmp_path, boot=mine)), dest="/")
        assert install_boot_guard(link) is None
        assert link.eval("open('/boot.py').read()") == mine
        assert safe_mode_status(link) == (False, 0)
        link.exec("import os; os.remove('/boot.py')")
        assert install_boot_guard(link) is not None  # no boot.py: the guard goes in
        again = install_boot_guard(link)  # ours already: only what changed is sent
        assert again is not None and again.sent == [] and again.unchanged == ["/boot.py"]


def test_the_hosts_own_soft_resets_never_add_up(sim: VirtualBoard, tmp_path: Path) -> None:
    # `ember run`, the plugin and the benchmarks soft-reset from the raw REPL: boot.py
    # runs (the guard counts), main.py does not. Four in a row must not set main.py aside.
    with Link(sim.port) as link:
        install_boot_guard(link)
        push(link, plan([(p, p.name) for p in _files(tmp_path, main=BUSY_MAIN)]), dest="/")
        _write_count(link, 1)  # one real boot counted already: kept, not cleared
        for _ in range(4):
            link.raw_repl(soft_reset=True)
            assert safe_mode_status(link) == (False, 1)
        assert link.eval("'main.py' in __import__('os').listdir('/')") is True


def _write_count(link: Link, n: int) -> None:
    link.exec(f"import os\ntry:\n os.mkdir('/.ember')\nexcept OSError:\n pass\n"
              f"f = open('/.ember/boots', 'w'); f.write('{n}'); f.close()\n")
