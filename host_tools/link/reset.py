"""Resetting a board as `ember reset` and `ember soft-reset` do.

A hard reset is machine.reset() through the REPL, or a pulse on the USB-serial bridge's
RTS line for boards whose profile says so (ESP dev boards wire RTS to EN, as esptool
knows); the board then boots and runs boot.py and main.py as at power-on. A USB board
re-enumerates: its port goes away and comes back, which is waited for, with a deadline.
A soft reset is MicroPython's own (Ctrl-D in the raw REPL), left at the friendly REPL as
mpremote's `soft-reset` leaves it: main.py does not run.
"""

from __future__ import annotations

import os
import time

import serial

from host_tools.errors import LinkError
from host_tools.link import device_code
from host_tools.link.interface import BoardLink

PORT_BACK_TIMEOUT_S = 15.0  # a USB board re-enumerates in 1-3 s; a slow hub takes longer
POLL_S = 0.1  # how often to look for the port while it is away
PORT_GONE_TIMEOUT_S = 2.0  # a native-USB board drops off the bus within this of its reset
RTS_PULSE_S = 0.1  # esptool's hard reset holds EN low this long


def hard_reset(link: BoardLink, *, method: str = "machine", reenumerates: bool = False,
               timeout: float = PORT_BACK_TIMEOUT_S) -> None:
    """Resets the board and closes the link; returns once its port can be opened again.
    A board that `reenumerates` (native USB) is first seen to drop its port, so that the
    port of the board before the reset is not taken for the one after it."""
    if method == "rts":
        port = link.serial
        port.rts = True  # EN low: the chip is held in reset
        time.sleep(RTS_PULSE_S)  # a pulse width, not waiting for anything to happen
        port.rts = False
    else:
        device_code.start(link, "host/probe.py", "hard_reset")
    link.close()
    if reenumerates:
        wait_for_port_gone(link.port, PORT_GONE_TIMEOUT_S)
    wait_for_port(link.port, timeout)


def wait_for_port_gone(port: str, timeout: float) -> bool:
    """Waits until `port` disappears (a USB board leaving the bus); False if it stayed for
    `timeout` seconds (a reset the USB stack did not show: the port is used as it is)."""
    deadline = time.monotonic() + timeout
    while os.path.exists(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S / 5)  # polling a device node, bounded by the deadline
    return True


def wait_for_port(port: str, timeout: float) -> None:
    """Waits until `port` exists and opens (a re-enumerated USB board); LinkError after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if "://" in port or os.path.exists(port):
                serial.serial_for_url(port, exclusive=True).close()
                return
        except (OSError, serial.SerialException):
            pass
        if time.monotonic() > deadline:
            raise LinkError(f"{port} did not come back within {timeout:g} s of the reset")
        time.sleep(POLL_S)  # polling a device node, bounded by the deadline


def soft_reset(link: BoardLink) -> None:
    """MicroPython's soft reset, then the friendly REPL (main.py does not run)."""
    link.raw_repl(soft_reset=True)
    link.friendly_repl()
