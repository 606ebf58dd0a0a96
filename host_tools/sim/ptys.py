"""Pseudo-terminal pairs for the virtual board: raw host ends, and the interpreter's end.

The interpreter's terminal is raw too, with every special character disabled: no byte is
ever turned into a signal or eaten by the line discipline, so Ctrl-C is the supervisor's
to deliver (as SIGINT) and binary data passes untouched.
"""

from __future__ import annotations

import os
import termios
import tty
from dataclasses import dataclass


@dataclass
class PtyPair:
    """A pseudo-terminal: `master` stays with the supervisor, `slave_path` is the far end."""

    master: int
    slave: int  # kept open by the supervisor so the master never reads EIO when the far end closes
    slave_path: str

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def open_raw_pair() -> PtyPair:
    """A pty whose slave is raw: 8-bit clean, no echo, no signals, no line editing."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    return PtyPair(master, slave, os.ttyname(slave))


def set_interpreter_mode(pair: PtyPair) -> None:
    """(Re)applies the interpreter terminal's original settings (see the module docstring)."""
    attrs = termios.tcgetattr(pair.slave)
    attrs[0] = 0  # iflag: no CR/NL translation, no flow control
    attrs[1] = 0  # oflag: no output processing, so "\n" stays "\n" as on a board's raw REPL
    attrs[2] = (attrs[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8 | termios.CREAD
    attrs[3] = 0  # lflag: no echo, no canonical mode, no signals
    cc = list(attrs[6])
    for index, value in enumerate(cc):
        if isinstance(value, bytes):
            cc[index] = b"\x00"  # _POSIX_VDISABLE: no special characters at all
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    attrs[6] = cc
    termios.tcsetattr(pair.slave, termios.TCSANOW, attrs)
    termios.tcflush(pair.master, termios.TCIOFLUSH)

