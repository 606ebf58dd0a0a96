"""Signal: a flag an interrupt handler sets and the loop turns into a read event."""

from micropython import const

from .stream import Stream

_POLLIN = const(1)


class Signal(Stream):
    """set() only stores a flag: safe from a hard IRQ (no allocation, no loop state).
    A reader set with set_read_handler(sig, fn), or a task in `await readable(sig)`,
    runs in the loop once per batch of set() calls; the flag clears as it runs."""

    def __init__(self):
        Stream.__init__(self)
        self._flag = False

    def set(self):
        self._flag = True

    def clear(self):
        self._flag = False

    def is_set(self):
        return self._flag

    def _ready(self, mask):
        return _POLLIN & mask if self._flag else 0

    def _deliver(self, mask):
        # Called by the loop just before it runs the reader: consume the flag.
        ev = self._ready(mask)
        self._flag = False
        return ev
