"""What the supervisor knows of its interpreter: waiting for input, catching SIGINT, gone.

ember's firmware tells it on a status pipe (boards/virtual/unix32/board_hal.c has the
protocol): before each console read that will block, "w<bytes> <interrupts>" with the bytes
it has read from the console and the SIGINTs it has taken; and "k1"/"k0" as SIGINT comes to
be caught or not (micropython.kbd_intr). The supervisor counts the bytes it wrote to the
console and the SIGINTs it sent. A wait report whose counts are both the supervisor's says
the interpreter is blocked with nothing unread: no report sent before later input or a later
SIGINT can ever match, so no race makes an old report look new. Any POSIX system runs it.

The child holds the pipe's only write end: the pipe's end of file is the interpreter's exit
(the portable stand-in for Linux's pidfd), for the PyPI fallback interpreter too, which
inherits the pipe but never writes to it.

That fallback is a stock interpreter and says nothing, so for it the supervisor reads Linux's
/proc as before: the kernel function the process sleeps in (wchan) and its caught signals
(SigCgt). Without /proc (macOS) it guesses: waiting when all it was sent is read, and SIGINT
always caught (the interpreter's default while code runs).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import termios
from pathlib import Path

STATUS_FD_ENV = "EMBER_SIM_STATUS_FD"
WAITING_WCHANS = ("wait_woken", "n_tty_read")  # Linux: blocked reading its terminal
COUNTER = 1 << 32  # the firmware's counters are 32-bit and wrap


class InterpreterStatus:
    """The status pipe of one interpreter start (and, for the fallback, /proc)."""

    def __init__(self, reports: bool, console_slave: int) -> None:
        self.reports = reports  # ember's firmware; else the stock fallback interpreter
        self.console_slave = console_slave
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.pid = 0
        self.partial = b""
        self.last_wait: tuple[int, int] | None = None  # (bytes, interrupts) of the last "w"
        self.caught = False
        self.bytes_sent = 0
        self.interrupts_sent = 0
        self.interrupts_lost = 0  # SIGINTs given up on: a wait report need not show them
        self.ended = False

    def started(self, pid: int) -> None:
        """The child has its copy of the write end: drop ours, so its exit ends the pipe."""
        self.pid = pid
        os.close(self.write_fd)
        self.write_fd = -1

    def fileno(self) -> int:
        return self.read_fd

    def read(self) -> bool:
        """Takes every report there is; False once the interpreter has exited."""
        while not self.ended:
            try:
                chunk = os.read(self.read_fd, 4096)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self.ended = True
                break
            *lines, self.partial = (self.partial + chunk).split(b"\n")
            for line in lines:
                self._report(line)
        return not self.ended

    def _report(self, line: bytes) -> None:
        if line.startswith(b"w"):
            counts = line[1:].split()
            if len(counts) == 2 and all(c.isdigit() for c in counts):
                self.last_wait = (int(counts[0]), int(counts[1]))
        elif line in (b"k0", b"k1"):
            self.caught = line == b"k1"

    def wrote(self, count: int) -> None:
        """The supervisor put `count` more bytes on the interpreter's console."""
        self.bytes_sent = (self.bytes_sent + count) % COUNTER

    def interrupted(self) -> None:
        """The supervisor is about to send a SIGINT (counted first: no report can beat it)."""
        self.interrupts_sent += 1

    def forgive_interrupts(self) -> None:
        """SIGINTs not seen taken in time are waited for no more (their hold has lapsed):
        one may be taken later, or never (sent while masked, its handler then gone)."""
        taken = self.last_wait[1] if self.last_wait is not None else 0
        self.interrupts_lost = max(0, self.interrupts_sent - taken)

    def waiting(self) -> bool:
        """Whether the interpreter is blocked reading its console, with nothing unread."""
        if not self.pid:
            return False
        if not self.reports:
            return self._proc_waiting()
        self.read()
        if self.last_wait is None:
            return False
        read, taken = self.last_wait
        return read == self.bytes_sent and taken >= self.interrupts_sent - self.interrupts_lost

    def sigint_caught(self) -> bool:
        """Whether the interpreter handles SIGINT, i.e. micropython.kbd_intr(3) is in force."""
        if not self.pid:
            return False
        if not self.reports:
            return self._proc_sigint_caught()
        self.read()
        return self.caught

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.read_fd = self.write_fd = -1

    # -- the stock fallback interpreter ----------------------------------------------------
    def _proc_waiting(self) -> bool:
        try:
            return Path(f"/proc/{self.pid}/wchan").read_text().strip() in WAITING_WCHANS
        except FileNotFoundError:
            if Path("/proc/self").exists():
                return False  # Linux: the process is gone
            return self._unread_input() == 0  # no /proc: a guess (see the module docstring)
        except OSError:
            return False

    def _proc_sigint_caught(self) -> bool:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
        except FileNotFoundError:
            return not Path("/proc/self").exists()  # no /proc: the interpreter's default
        except OSError:
            pass
        return False

    def _unread_input(self) -> int:
        try:
            raw = fcntl.ioctl(self.console_slave, termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return 0
        return int(struct.unpack("i", raw)[0])
