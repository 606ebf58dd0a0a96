"""The host's side of a virtual board's console, as both supervisors relay it.

What reaches the host's pty is paced to the board's baud and passed through line noise in
each direction; this class holds that part (the two throttles, the two noise sources and
the bytes waiting for the host), so that the unix board's supervisor (supervisor.py) and
the qemu board's (qemu_supervisor.py) differ only in what sits on the board's side.
"""

from __future__ import annotations

import contextlib
import os
import select

from host_tools.sim.noise import Noise
from host_tools.sim.throttle import Throttle


class HostSide:
    """The console's host end `fd`: reads paced and noised in, writes paced and noised out."""

    def __init__(self, fd: int, baud: int | None, noise_rate: float, noise_seed: int) -> None:
        self.fd = fd
        self.to_host = bytearray()  # the board's output the host has not read yet
        self.up = Throttle(baud)
        self.down = Throttle(baud)
        self.noise_up = Noise(noise_rate, noise_seed)
        self.noise_down = Noise(noise_rate, noise_seed + 1)

    def wanted(self, now: float, room: bool) -> tuple[int, float]:
        """The poll events to ask of the host's end (reading only if the board's side has
        `room`), and how soon to look again when a throttle holds a direction back."""
        events, timeout_s = 0, 1.0
        if room:
            if self.up.allowance(now):
                events |= select.POLLIN
            else:
                timeout_s = min(timeout_s, self.up.wait_s(now))
        if self.to_host:
            if self.down.allowance(now):
                events |= select.POLLOUT
            else:
                timeout_s = min(timeout_s, self.down.wait_s(now))
        return events, timeout_s

    def queue(self, data: bytes) -> None:
        """The board said `data`: the host gets it, through the line's noise."""
        self.to_host += self.noise_down.apply(data)

    def receive(self, now: float, ready: int) -> bytes:
        """What the host typed, as far as the link's pace allows, through the noise ("" if
        the poll did not report its end readable, or nothing came)."""
        if not ready & select.POLLIN:
            return b""
        data = b""
        with contextlib.suppress(BlockingIOError, OSError):
            data = os.read(self.fd, self.up.allowance(now))
        if not data:
            return b""
        self.up.spend(len(data), now)
        return self.noise_up.apply(data)

    def send(self, now: float, ready: int) -> None:
        """Writes what waits for the host, as much as the pace allows, if its end is
        writable."""
        if not (self.to_host and ready & select.POLLOUT):
            return
        chunk = bytes(self.to_host[: self.down.allowance(now)])
        with contextlib.suppress(BlockingIOError, OSError):
            written = os.write(self.fd, chunk)
            del self.to_host[:written]
            self.down.spend(written, now)
