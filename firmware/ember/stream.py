"""Python streams that select.poll can wait on: the Stream base and Pipe, a byte FIFO."""

from micropython import const
import io

from . import core

_POLL = const(3)  # MP_STREAM_POLL
_CLOSE = const(4)  # MP_STREAM_CLOSE
_GET_FILENO = const(10)  # MP_STREAM_GET_FILENO
_POLLIN = const(1)
_POLLOUT = const(4)
_POLLHUP = const(16)

_scratch = bytearray(0)  # shared by all pipes for compaction; grows to the largest pipe


class Stream(io.IOBase):
    # A pollable Python stream. Subclasses implement _ready(mask) -> events ready now,
    # optionally _deliver(mask) (the loop calls it just before running a handler; it
    # may consume, as Signal does) and call core.wake(self, events) when they become
    # ready from inside the loop; poll finds changes made anywhere else.

    def __init__(self):
        self._em = 0  # events the loop has handlers for (set by the loop)
        self._qd = 0  # events already queued in the loop's ready ring

    def _deliver(self, mask):
        return self._ready(mask)

    def ioctl(self, req, arg):
        if req == _POLL:
            return self._ready(arg)  # 0, not -1, when not ready
        if req == _GET_FILENO:
            return -1  # no file descriptor: 0 would mean stdin
        if req == _CLOSE:
            self.close()
            return 0
        return -1


class Pipe(Stream):
    """An in-memory byte FIFO of `size` bytes; non-blocking: read/write return None
    instead of waiting (use a handler or `await readable(pipe)`)."""

    def __init__(self, size=256):
        Stream.__init__(self)
        # io.BytesIO as storage: seek + write(buf, off, n) and readinto(buf, n) copy
        # at an offset without allocating, where slicing a bytearray would.
        self._st = io.BytesIO(bytes(size))
        self._size = size
        self._r = 0  # offset of the first unread byte
        self._n = 0  # bytes held
        self._closed = False

    def _ready(self, mask):
        ev = _POLLIN if self._n or self._closed else 0
        if self._n < self._size and not self._closed:
            ev |= _POLLOUT
        return ev & mask

    _deliver = _ready

    def __len__(self):
        return self._n

    def write(self, buf, off=0, n=-1):
        """Append up to n bytes of buf[off:] (all by default); returns the count
        written, or None if the pipe is full."""
        if self._closed:
            raise OSError(32)  # EPIPE
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
            self._compact()
            e = self._n
        st.seek(e)
        st.write(buf, off, k)
        self._n += k
        if self._em & _POLLIN:
            core.wake(self, _POLLIN)  # the reader runs next round, without a poll
        return k

    def _compact(self):
        # Move the unread bytes to the front (rare: only when a write would pass the end).
        global _scratch
        if len(_scratch) < self._size:
            _scratch = bytearray(self._size)
        st = self._st
        st.seek(self._r)
        st.readinto(_scratch, self._n)
        st.seek(0)
        st.write(_scratch, 0, self._n)
        self._r = 0

    def readinto(self, buf, n=-1):
        """Move up to len(buf) (or n) bytes into buf; returns the count, None when
        empty, or 0 at the end of a closed pipe."""
        if n < 0 or n > len(buf):
            n = len(buf)
        k = self._n
        if not k:
            return 0 if self._closed else None
        if n < k:
            k = n
        self._st.seek(self._r)
        self._st.readinto(buf, k)
        self._consume(k)
        return k

    def read(self, n=-1):
        """Return up to n bytes (all by default) as bytes; None when empty, b"" at
        the end of a closed pipe."""
        k = self._n
        if not k:
            return b"" if self._closed else None
        if 0 <= n < k:
            k = n
        self._st.seek(self._r)
        data = self._st.read(k)
        self._consume(k)
        return data

    def _consume(self, k):
        self._n -= k
        self._r = self._r + k if self._n else 0
        if self._em & _POLLOUT:
            core.wake(self, _POLLOUT)

    def close(self):
        """No more writes; the reader sees the rest of the data, then EOF."""
        if not self._closed:
            self._closed = True
            if self._em & _POLLIN:
                core.wake(self, _POLLIN)
