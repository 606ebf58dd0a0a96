# The virtual board's `machine` module: the unix port's own, plus what a board has.
#
# Runs ON the interpreter; sim_boot.py installs it as sys.modules["machine"]. reset() and
# soft_reset() ask the supervisor (the interpreter's parent) for the reset by a signal, as
# a watchdog or reset pin would: nothing after the call runs. UART(n) is the board end of
# the n-th UART, whose host end the supervisor exposes as a pseudo-terminal.
import os
import select

import machine as _unix_machine
from micropython import const

for _name in dir(_unix_machine):
    if not _name.startswith("__") and _name != "soft_reset":
        globals()[_name] = getattr(_unix_machine, _name)
del _name, _unix_machine

_MP_STREAM_POLL = const(3)
_MP_STREAM_GET_FILENO = const(10)
_freq = int(os.getenv("EMBER_SIM_FREQ") or 125_000_000)


def _signal_supervisor(sig):
    os.system("kill -" + sig + " $PPID")  # $PPID of the shell is this interpreter
    while True:  # the signal ends this process; never return into user code
        pass


def reset():
    _signal_supervisor("USR2")


def soft_reset():
    _signal_supervisor("USR1")


def unique_id():
    return bytes.fromhex(os.getenv("EMBER_SIM_UID") or "00")


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = hz


def reset_cause():
    return 1


class UART:
    """The board end of a UART; the host end is the supervisor's pseudo-terminal."""

    def __init__(self, uart_id, baudrate=115200, timeout=0, timeout_char=2, **_kw):
        path = os.getenv("EMBER_SIM_UART" + str(uart_id))
        if not path:
            raise ValueError("UART(%d) doesn't exist" % uart_id)
        self._file = open(path, "r+b")
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
