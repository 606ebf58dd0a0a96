"""Signal: a flag an interrupt handler sets and the loop turns into a read event."""

from micropython import const
import io

_POLL = const(3)  # MP_STREAM_POLL
_POLLIN = const(1)
_OWN = const(128)  # core._OWN: ember's loop asks for it, and gets it back when ready


# The same Signal in C where ember's native module (_ember) is installed or linked in; then
# this module's own class is never made.
try:
    from _ember import Signal
except ImportError:

    class Signal(io.IOBase):
        """set() only stores a flag, so it is safe in a hard IRQ (no allocation, no loop
        state touched). A reader set with set_read_handler(sig, fn), or a task waiting in
        `await readable(sig)`, runs in the loop once per burst of set() calls."""

        def __init__(self):
            self._em = 0
            self._qd = 0
            self._flag = False

        def set(self):
            self._flag = True

        def clear(self):
            self._flag = False

        def is_set(self):
            return self._flag

        def ioctl(self, req, arg):
            if req == _POLL:
                return _POLLIN | (arg & _OWN) if self._flag and arg & _POLLIN else 0
            return -1  # no fd

        def _deliver(self, mask):
            # The loop calls this just before the reader runs: consume the flag.
            ev = mask & _POLLIN if self._flag else 0
            self._flag = False
            return ev
