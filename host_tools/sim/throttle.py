"""Paces one direction of a virtual link to the byte rate of a UART at a given baud."""

from __future__ import annotations

BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit
SLACK_S = 0.002  # credit a late loop may take back, so the long-run rate stays the baud's


class Throttle:
    """Token pacing: each byte sent moves the time the line is free again by 1/rate."""

    def __init__(self, baud: int | None, quantum_s: float = 0.004) -> None:
        self.rate = baud / BITS_PER_BYTE if baud else None
        self._free_at = 0.0
        self._quantum = max(1, int(self.rate * quantum_s)) if self.rate else 65536

    def allowance(self, now: float) -> int:
        """How many bytes may be sent now (0: wait for `wait_s`)."""
        if self.rate is None:
            return 65536
        return self._quantum if now >= self._free_at else 0

    def wait_s(self, now: float) -> float:
        return 0.0 if self.rate is None else max(0.0, self._free_at - now)

    def spend(self, nbytes: int, now: float) -> None:
        if self.rate is not None:
            self._free_at = max(self._free_at, now - SLACK_S) + nbytes / self.rate
