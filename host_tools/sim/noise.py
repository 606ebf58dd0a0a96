"""Line noise for the virtual board: flips or drops bytes at a given rate, seeded."""

from __future__ import annotations

import math
import random


class Noise:
    """Damages a byte stream: each byte is hit with probability `rate`; a hit flips one
    bit or drops the byte (even odds). Draws the gap to the next hit, so clean stretches
    cost nothing."""

    def __init__(self, rate: float, seed: int) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"noise rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.random = random.Random(seed)
        self.flipped = 0
        self.dropped = 0
        self._until_hit = self._gap()

    def _gap(self) -> int:
        if self.rate <= 0.0:
            return 1 << 62
        return int(math.log(1.0 - self.random.random()) / math.log(1.0 - self.rate))

    def apply(self, data: bytes) -> bytes:
        if self._until_hit >= len(data):
            self._until_hit -= len(data)
            return data
        out = bytearray()
        position = 0
        while position + self._until_hit < len(data):
            hit = position + self._until_hit
            out += data[position:hit]
            if self.random.random() < 0.5:
                out.append(data[hit] ^ (1 << self.random.randrange(8)))
                self.flipped += 1
            else:
                self.dropped += 1
            position = hit + 1
            self._until_hit = self._gap()
        self._until_hit -= len(data) - position
        out += data[position:]
        return bytes(out)
