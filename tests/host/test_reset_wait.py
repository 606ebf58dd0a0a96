"""After a hard reset a USB board's port goes away and comes back: waited for, bounded."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from host_tools.errors import LinkError
from host_tools.link.reset import wait_for_port


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
