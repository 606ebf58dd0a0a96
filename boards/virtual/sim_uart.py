# machine.UART of the virtual board: runs ON the interpreter.
#
# The board end of UART n is a pseudo-terminal named by EMBER_SIM_UART<n>; the supervisor
# relays it to a host-side pty (the host end a loopback test opens). The pty is pollable
# by select.poll directly, since ioctl(MP_STREAM_GET_FILENO) gives its descriptor.
import os
import select

from micropython import const

_MP_STREAM_POLL = const(3)
_MP_STREAM_GET_FILENO = const(10)


class UART:
    """The board end of a UART; the host end is the supervisor's pseudo-terminal."""

    def __init__(self, uart_id, baudrate=115200, timeout=0, timeout_char=2, **_kw):
        path = os.getenv("EMBER_SIM_UART" + str(uart_id))
        if not path:
            raise ValueError("UART(%d) doesn't exist" % uart_id)
        import machine

        self._file = machine._open_host_file(path, "r+b")
        self._poll = select.poll()
        self._poll.register(self._file, select.POLLIN)
        self._byte = bytearray(1)
        self.init(baudrate, timeout=timeout, timeout_char=timeout_char)

    def init(self, baudrate=115200, timeout=0, timeout_char=2, **_kw):
        self._baudrate = baudrate
        self._timeout = timeout
        self._timeout_char = timeout_char

    def deinit(self):
        self._file.close()

    def _readable(self, timeout_ms):
        return bool(self._poll.poll(timeout_ms))

    def any(self):
        return 1 if self._readable(0) else 0

    def read(self, nbytes=-1):
        if not self._readable(self._timeout):
            return None
        data = bytearray()
        while nbytes < 0 or len(data) < nbytes:
            self._file.readinto(self._byte)
            data += self._byte
            if not self._readable(self._timeout_char):
                break
        return bytes(data)

    def readinto(self, buf, nbytes=-1):
        data = self.read(len(buf) if nbytes < 0 else nbytes)
        if data is None:
            return None
        buf[: len(data)] = data
        return len(data)

    def readline(self):
        if not self._readable(self._timeout):
            return None
        line = bytearray()
        while True:
            self._file.readinto(self._byte)
            line += self._byte
            if self._byte[0] == 10 or not self._readable(self._timeout_char):
                return bytes(line)

    def write(self, buf):
        return self._file.write(buf)

    def flush(self):
        pass

    def txdone(self):
        return True

    def ioctl(self, request, arg):
        if request == _MP_STREAM_GET_FILENO:
            return self._file.fileno()  # select.poll then waits on the pty itself
        if request == _MP_STREAM_POLL:
            return arg & select.POLLIN if self._readable(0) else 0
        return 0
