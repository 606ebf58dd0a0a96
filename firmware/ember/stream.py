"""Pipe: an in-memory byte FIFO that select.poll can wait on and that wakes the loop."""

from micropython import const
import io

from . import core

_POLL = const(3)  # MP_STREAM_POLL
_CLOSE = const(4)  # MP_STREAM_CLOSE
_GET_FILENO = const(10)  # MP_STREAM_GET_FILENO
_POLLIN = const(1)
_POLLOUT = const(4)
_EPIPE = const(32)
_OWN = const(128)  # core._OWN: ember's loop asks for it, and gets it back when ready

_scratch = bytearray(0)  # shared by all pipes for compaction; grows to the largest pipe


# ember's native module (_ember, firmware/native) has the same Pipe in C, with its poll in C:
# taken where it is installed or linked in, and then this module's own class is never made.
try:
    from _ember import Pipe
except ImportError:

    class Pipe(io.IOBase):
        """A byte FIFO of `size` bytes, non-blocking: read, readinto and write return None
        rather than wait. Writing from inside the loop runs the reader next round (no poll
        needed); poll still sees writes made elsewhere, e.g. in a scheduled callback."""

        def __init__(self, size=256):
            self._em = 0  # events the loop has handlers for (the loop sets it)
            self._qd = 0  # events queued in the loop's ready ring
            # io.BytesIO(size) is owned storage of that capacity: seek + write(buf, off, n)
            # and readinto(buf, n) copy at an offset without allocating, where slicing would.
            self._st = io.BytesIO(size)
            self._size = size
            self._r = 0  # offset of the first unread byte
            self._n = 0  # bytes held
            self._closed = False

        def _ready(self, mask):
            ev = _POLLIN if self._n or self._closed else 0
            if self._n < self._size and not self._closed:
                ev |= _POLLOUT
            return ev & mask

        _deliver = _ready  # the loop's check just before it runs a handler

        def ioctl(self, req, arg):
            if req == _POLL:
                ev = self._ready(arg)
                return ev | (arg & _OWN) if ev else 0  # 0, not -1, when not ready
            if req == _CLOSE:
                self.close()
                return 0
            return -1  # MP_STREAM_GET_FILENO and the rest: no fd (0 would mean stdin)

        def write(self, buf, off=0, n=-1):
            """Append up to n bytes of buf from off (all of it by default); return the count
            written, or None when full."""
            if self._closed:
                raise OSError(_EPIPE)
            if n < 0:
                n = len(buf) - off
            k = self._size - self._n
            if n < k:
                k = n
            if k <= 0:
                return None
            st = self._st
            e = self._r + self._n
            if e + k > self._size:
                # Not enough room past the data: move it to the front (rare).
                global _scratch
                if len(_scratch) < self._size:
                    _scratch = bytearray(self._size)
                st.seek(self._r)
                st.readinto(_scratch, self._n)
                st.seek(0)
                st.write(_scratch, 0, self._n)
                self._r = 0
                e = self._n
            st.seek(e)
            st.write(buf, off, k)
            self._n += k
            if self._em & _POLLIN:
                core.wake(self, _POLLIN)  # the reader runs next round, without a poll
            return k

        def readinto(self, buf, n=-1):
            """Move up to len(buf) (or n) bytes into buf; return the count, None when empty,
            or 0 once closed and drained."""
            if n < 0 or n > len(buf):
                n = len(buf)
            k = self._n
            if not k:
                return 0 if self._closed else None
            if n < k:
                k = n
            self._st.seek(self._r)
            self._st.readinto(buf, k)
            self._n -= k
            self._r = self._r + k if self._n else 0
            if self._em & _POLLOUT:
                core.wake(self, _POLLOUT)
            return k

        def read(self, n=-1):
            """Return up to n bytes (all by default); None when empty, b"" once closed and
            drained. Allocates the result: readinto does not."""
            k = self._n
            if not k:
                return b"" if self._closed else None
            if 0 <= n < k:
                k = n
            self._st.seek(self._r)
            data = self._st.read(k)
            self._n -= k
            self._r = self._r + k if self._n else 0
            if self._em & _POLLOUT:
                core.wake(self, _POLLOUT)
            return data

        def close(self):
            """No more writes; the reader gets the rest of the data, then EOF."""
            if not self._closed:
                self._closed = True
                if self._em & _POLLIN:
                    core.wake(self, _POLLIN)
