"""A null-modem cable between two host ports: bytes read from one are written to the other."""

from __future__ import annotations

import os
import select
import threading

import serial

CHUNK = 4096


class Wire:
    """`Wire(port_a, port_b).start()` relays both ways in a background thread until close().

    Used to cross-connect two virtual boards' UARTs (TX of one to RX of the other). The
    constructor does no I/O; close() is idempotent.
    """

    def __init__(self, port_a: str, port_b: str) -> None:
        self.ports = (port_a, port_b)
        self.relayed = [0, 0]  # bytes a->b, b->a
        self._serials: list[serial.Serial] = []
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Wire:
        if self._thread is not None:
            return self
        try:
            for port in self.ports:
                self._serials.append(serial.serial_for_url(port, timeout=0))
        except (OSError, serial.SerialException):
            self.close()
            raise
        self._wake = os.pipe()
        self._thread = threading.Thread(
            target=self._relay, args=(self._wake[0],), name="ember-wire", daemon=True
        )
        self._thread.start()
        return self

    def _relay(self, wake: int) -> None:
        a, b = (port.fileno() for port in self._serials)
        peer = {a: b, b: a}
        index = {a: 0, b: 1}
        while True:
            ready, _, _ = select.select([a, b, wake], [], [])
            if wake in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, CHUNK)
                    if not data or not _write_all(peer[fd], data, wake):
                        return
                except BlockingIOError:
                    continue
                except OSError:  # a board went away: the cable is unplugged
                    return
                self.relayed[index[fd]] += len(data)

    def close(self) -> None:
        thread, self._thread = self._thread, None
        wake, self._wake = self._wake, None
        if wake is not None:
            os.write(wake[1], b"x")
        if thread is not None:
            thread.join(timeout=5)
        if wake is not None:
            os.close(wake[0])
            os.close(wake[1])
        serials, self._serials = self._serials, []
        for port in serials:
            port.close()

    def __enter__(self) -> Wire:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes, wake: int) -> bool:
    """Writes all of data unless the wire is closed meanwhile (then False)."""
    view = memoryview(data)
    while view:
        stop, writable, _ = select.select([wake], [fd], [])
        if stop:
            return False
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue
    return True
