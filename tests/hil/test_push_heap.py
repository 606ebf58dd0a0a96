"""A push leaves the board's heap as it found it: the receiver takes nothing with it.

Issue 12 measured 38,656 B free after a reset and 30,336 B after a push that changed
nothing, on a virtual ESP8266; the next `import main` then raised MemoryError."""

from __future__ import annotations

from pathlib import Path

import pytest

from host_tools.link.session import Link
from host_tools.push.session import plan, push
from host_tools.sim.launcher import VirtualBoard

FREE_HEAP = "(__import__('gc').collect(), __import__('gc').mem_free())[1]"


def free_after_push(board: VirtualBoard, project: Path) -> tuple[int, list[int]]:
    with Link(board.port) as link:
        link.raw_repl(soft_reset=True)
        before = int(link.eval(FREE_HEAP))  # type: ignore[arg-type]
        after = []
        for _ in range(3):  # the first installs the receiver where it is not frozen
            push(link, plan([project], "/"), dest="/")
            after.append(int(link.eval(FREE_HEAP)))  # type: ignore[arg-type]
        assert link.eval("sorted(globals())") == ["__file__", "__name__"]
    return before, after


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "main.py").write_text("print('hi')\n")
    (tmp_path / "lib.py").write_text("X = 1\n" * 200)
    return tmp_path


def test_on_ember_firmware_a_push_leaves_the_heap_within_512_bytes(project: Path) -> None:
    with VirtualBoard("esp8266-generic", baud=None) as board:
        before, after = free_after_push(board, project)
    assert all(before - free <= 512 for free in after), (before, after)


def test_on_stock_firmware_only_the_receivers_interned_names_stay(project: Path) -> None:
    # Without a frozen receiver, its .mpy is loaded from /.ember: MicroPython keeps the
    # names (qstrs) it interned, about 1.2 KB, for the rest of the boot; nothing grows.
    with VirtualBoard("esp8266-generic", baud=None, frozen_runtime=False) as board:
        before, after = free_after_push(board, project)
    assert before - after[0] <= 2048, (before, after)
    assert after[1] == after[2] == after[0], after  # a second push costs nothing more
