"""After a hard reset a USB board's port goes away and comes back: waited for, bounded."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from host_tools.errors import LinkError
from host_tools.link.reset import wait_for_port, wait_for_port_gone


def test_a_port_that_comes_back_is_waited_for(tmp_path: Path) -> None:
    master, slave = os.openpty()
    link = tmp_path / "ttyACM0"  # the name the board re-enumerates under
    appear = threading.Timer(0.3, lambda: link.symlink_to(os.ttyname(slave)))
    appear.start()
    try:
        started = time.monotonic()
        wait_for_port(str(link), timeout=10)
        assert 0.25 < time.monotonic() - started < 5
    finally:
        appear.cancel()
        os.close(master)
        os.close(slave)


def test_a_port_that_does_not_come_back_is_an_error_at_the_deadline(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(LinkError, match=r"did not come back within 0.5 s"):
        wait_for_port(str(tmp_path / "ttyACM9"), timeout=0.5)
    assert time.monotonic() - started < 3


def test_a_port_that_leaves_is_seen_to_go_before_it_is_waited_for(tmp_path: Path) -> None:
    master, slave = os.openpty()
    link = tmp_path / "ttyACM0"
    link.symlink_to(os.ttyname(slave))
    leave = threading.Timer(0.2, link.unlink)
    leave.start()
    try:
        assert wait_for_port_gone(str(link), timeout=5) is True
        assert not link.exists()
        assert wait_for_port_gone(str(tmp_path / "never-there"), timeout=0.1) is True
    finally:
        leave.cancel()
        os.close(master)
        os.close(slave)


def test_a_port_that_stays_is_used_as_it_is_after_the_deadline(tmp_path: Path) -> None:
    master, slave = os.openpty()
    try:
        started = time.monotonic()
        assert wait_for_port_gone(os.ttyname(slave), timeout=0.3) is False
        assert time.monotonic() - started < 3
    finally:
        os.close(master)
        os.close(slave)
