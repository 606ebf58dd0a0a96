"""host_tools.sim.wire relays bytes both ways between two ports until it is closed."""

from __future__ import annotations

import os
import select
import time
import tty
from collections.abc import Iterator

import pytest

from host_tools.sim.wire import Wire


def _read(fd: int, size: int, timeout: float = 5.0) -> bytes:
    data = b""
    while len(data) < size and select.select([fd], [], [], timeout)[0]:
        data += os.read(fd, size - len(data))
    return data


@pytest.fixture
def ptys() -> Iterator[tuple[tuple[int, str], tuple[int, str]]]:
    """Two pty pairs: (far end fd, near end path) each; the wire joins the near ends."""
    pairs = [os.openpty() for _ in range(2)]
    for main, sub in pairs:
        tty.setraw(main)
        tty.setraw(sub)
    yield (pairs[0][0], os.ttyname(pairs[0][1])), (pairs[1][0], os.ttyname(pairs[1][1]))
    for main, sub in pairs:
        os.close(main)
        os.close(sub)


def test_relays_both_ways_and_stops(ptys: tuple[tuple[int, str], tuple[int, str]]) -> None:
    (far_a, near_a), (far_b, near_b) = ptys
    wire = Wire(near_a, near_b)
    assert wire.relayed == [0, 0]  # nothing opened yet
    with wire:
        os.write(far_a, b"hello")
        assert _read(far_b, 5) == b"hello"
        os.write(far_b, b"x" * 10000)
        assert _read(far_a, 10000) == b"x" * 10000
        deadline = time.monotonic() + 5  # the relay counts a chunk just after writing it
        while wire.relayed != [5, 10000] and time.monotonic() < deadline:
            select.select([], [], [], 0.01)
        assert wire.relayed == [5, 10000]
    wire.close()  # idempotent
    os.write(far_a, b"late")
    assert _read(far_b, 4, timeout=0.2) == b""
