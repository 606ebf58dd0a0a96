"""Device tracebacks parsed once into typed errors: kind, errno and location, not text."""

from __future__ import annotations

import errno

import pytest
import serial

from host_tools.errors import DeviceError, ReceiverStoppedError
from host_tools.link.session import _port_error

TRACEBACK = (
    "Traceback (most recent call last):\r\n"
    '  File "<stdin>", line 3, in <module>\r\n'
    '  File "/lib/app.py", line 12, in load\r\n'
    "OSError: [Errno 2] ENOENT\r\n"
)


@pytest.mark.parametrize(
    ("line", "kind", "code"),
    [
        ("OSError: [Errno 2] ENOENT", "OSError", errno.ENOENT),
        ("OSError: 28", "OSError", errno.ENOSPC),  # a port built without errno names
        ("OSError: ENOSPC", "OSError", errno.ENOSPC),
        ("OSError: [Errno 13] EACCES", "OSError", errno.EACCES),
        ("MemoryError: memory allocation failed, allocating 512 bytes", "MemoryError", None),
        ("MemoryError", "MemoryError", None),
        ("ImportError: no module named '_ember_rx_1a2b'", "ImportError", None),
        ("KeyboardInterrupt: ", "KeyboardInterrupt", None),
        ("ValueError: no errno 2 here", "ValueError", None),
        ("ember: a line that names no exception", None, None),
    ],
)
def test_exception_lines_give_kind_and_errno(line: str, kind: str | None,
                                             code: int | None) -> None:
    error = DeviceError(line)
    assert (error.kind, error.errno) == (kind, code)
    assert str(error) == line


def test_a_traceback_gives_its_last_line_and_innermost_location() -> None:
    error = DeviceError.from_traceback(TRACEBACK)
    assert str(error) == "OSError: [Errno 2] ENOENT"
    assert error.is_os_error(errno.ENOENT) and not error.is_os_error(errno.EIO)
    assert error.location == ("/lib/app.py", 12)
    assert error.traceback == TRACEBACK


def test_a_stopped_receiver_carries_the_parsed_error() -> None:
    stopped = ReceiverStoppedError("the push receiver stopped", "MemoryError: out", "tb")
    assert stopped.device.kind == "MemoryError"


@pytest.mark.parametrize(
    ("code", "says"),
    [(errno.ENOENT, "no such port"), (errno.EBUSY, "busy"), (errno.EAGAIN, "busy"),
     (errno.EACCES, "permission denied")],
)
def test_port_errors_are_told_apart_by_errno(code: int, says: str) -> None:
    # pyserial's own shape: SerialException(errno, text); the text is never read.
    error = serial.SerialException(code, "text that says nothing useful")
    assert says in _port_error("/dev/ttyX", error).args[0]
    assert says in _port_error("/dev/ttyX", OSError(code, "x")).args[0]
