"""Typed errors of the host tools; only the CLI's main() prints them and sets the exit code."""


class EmberError(Exception):
    """Base of every error the ember command reports as a one-line reason."""


class CommandError(EmberError):
    """The user asked for something that cannot be done as asked (bad arguments, input)."""


class LinkError(EmberError):
    """The serial link failed: no such port, busy port, not a MicroPython board, timeout."""


class BoardSilentError(LinkError):
    """Nothing at all came back from the port: no board, no power, or the wrong port."""


class ReceiverStoppedError(LinkError):
    """The push receiver ended on the board with an error (`reason`: its last line)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class DeviceError(EmberError):
    """Code on the board raised; carries the device's traceback text."""

    def __init__(self, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.traceback = traceback


class SimError(EmberError):
    """A virtual board could not be started, found or stopped."""
