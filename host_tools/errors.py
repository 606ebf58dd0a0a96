"""Typed errors of the host tools; only the CLI's main() prints them and sets the exit code."""

from __future__ import annotations

import errno as errno_module
import re


class EmberError(Exception):
    """Base of every error the ember command reports as a one-line reason."""


class CommandError(EmberError):
    """The user asked for something that cannot be done as asked (bad arguments, input)."""


class LinkError(EmberError):
    """The serial link failed: no such port, busy port, not a MicroPython board, timeout."""


class BoardSilentError(LinkError):
    """Nothing at all came back from the port: no board, no power, or the wrong port."""


class ReceiverStoppedError(LinkError):
    """The push receiver ended on the board with an error (`reason`: its last line;
    `device`: the error parsed, so callers test its kind, not its text)."""

    def __init__(self, message: str, reason: str, traceback: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.device = DeviceError(reason, traceback)


class DeviceError(EmberError):
    """Code on the board raised. The device's traceback is parsed once, here, into the
    exception's type name (`kind`: "OSError", "MemoryError", ...), its errno for an OSError
    (`errno`, as mpremote's `mp_errno` reads `[Errno 2] ENOENT` or a bare `2`) and where it
    was raised (`location`), so callers test those, never the message text."""

    def __init__(self, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.traceback = traceback
        self.kind, self.errno = parse_exception_line(message)
        self.location = device_location(traceback)

    @classmethod
    def from_traceback(cls, traceback: str) -> DeviceError:
        """The error a device traceback reports (its last line is the exception)."""
        lines = [line.strip() for line in traceback.strip().splitlines() if line.strip()]
        return cls(lines[-1] if lines else "device error", traceback)

    def is_os_error(self, code: int) -> bool:
        return self.kind == "OSError" and self.errno == code


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s*(.*))?$")
_ERRNO = re.compile(r"^(?:\[Errno (\d+)\]|\(?(-?\d+)(?:,|\)|$))")
_TRACEBACK_LINE = re.compile(r'File "([^"]+)", line (\d+)')


def parse_exception_line(line: str) -> tuple[str | None, int | None]:
    """("OSError", 2) for `OSError: [Errno 2] ENOENT` or `OSError: 2`; (None, None) for a
    line that names no exception."""
    match = _EXCEPTION_LINE.match(line.strip())
    if not match or not match.group(1)[0].isupper():
        return None, None
    kind, detail = match.group(1).rsplit(".", 1)[-1], (match.group(2) or "").strip()
    code = None
    if kind == "OSError" or kind.endswith("Error") and detail.startswith("[Errno"):
        number = _ERRNO.match(detail)
        if number:
            code = int(number.group(1) or number.group(2))
        elif detail in _ERRNO_NAMES:
            code = _ERRNO_NAMES[detail]
    return kind, code


def device_location(traceback_text: str) -> tuple[str, int] | None:
    """The innermost `File "...", line N` of a device traceback."""
    matches = _TRACEBACK_LINE.findall(traceback_text)
    if not matches:
        return None
    path, line = matches[-1]
    return path, int(line)


_ERRNO_NAMES = {name: getattr(errno_module, name) for name in dir(errno_module)
                if name.startswith("E") and name.isupper()}


class SimError(EmberError):
    """A virtual board could not be started, found or stopped."""
