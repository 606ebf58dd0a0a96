"""Opens a board by port or pyserial URL and runs code on it through mpremote's transport.

mpremote's SerialTransport does the raw REPL, raw-paste and file helpers; this module adds
what it lacks for ember: a constructor that does no I/O, port errors turned into one-line
`LinkError`s (no such port, busy, permission denied, not a MicroPython board), a raw-REPL
entry that survives a board printing at boot or running a busy main.py, bounded timeouts,
and device tracebacks raised as `DeviceError`.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import struct
import time
from collections.abc import Callable
from types import TracebackType

import serial
from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from host_tools.errors import BoardSilentError, LinkError
from host_tools.errors import device_location as device_location  # re-exported
from host_tools.link import device_code
from host_tools.link.program import Program

# Features that must act at points of the session register here, so the session knows
# none of them (the rule: no feature lives in the transport).
# Called after every soft reset the Link makes, with the Link in the raw REPL: the boot
# guard takes back its count of that boot (install/safe_mode.py registers it).
SOFT_RESET_HOOKS: list[Callable[[Link], None]] = []
# Called when Ctrl-C does not bring the raw REPL, with a `say(bytes)` that writes and reads
# the answer: a program that reads stdin as data is told to end (push/session.py registers
# the receiver's padding and Q).
UNHEEDED_INTERRUPT_HOOKS: list[Callable[[Callable[[bytes], None]], None]] = []
STOP_TIMEOUT_S = 3.0  # a program interrupted with Ctrl-C must have ended by then
DRAIN_TIMEOUT_S = 5.0  # what a program prints after the user's Ctrl-C is shown this long

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
ENTER_ATTEMPTS = 4
ATTEMPT_TIMEOUT_S = 2.5
DEFAULT_EXEC_TIMEOUT_S = 30.0
RAW_PASTE_TIMEOUT_S = 5.0  # a board answers each raw-paste window within this


def _port_error(port: str, error: Exception) -> LinkError:
    """The one-line reason a port did not open, told apart by the errno pyserial and the
    OS attach to the error (never by its text)."""
    code = getattr(error, "errno", None)
    if code == errno.ENOENT:
        return LinkError(f"no such port {port}: is the board plugged in? (try `ember boards`)")
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK):
        return LinkError(f"port {port} is busy: another program (a REPL, mpremote?) has it open")
    if code in (errno.EACCES, errno.EPERM):
        return LinkError(
            f"permission denied on {port}: add yourself to the 'dialout' (or 'uucp') group"
        )
    return LinkError(f"cannot open {port}: {error}")


class _Transport(SerialTransport):
    """mpremote's SerialTransport with a sturdier, bounded entry into the raw REPL."""

    prompt_read = False  # the '>' that starts the next program was read by a Program

    def exec_raw_no_follow(self, command: str | bytes) -> None:
        if self.prompt_read:
            self.prompt_read = False
            real = self.read_until

            def prompt_already_read(*args: object, **kwargs: object) -> bytes:
                self.read_until = real  # type: ignore[method-assign]
                return b">"

            self.read_until = prompt_already_read  # type: ignore[method-assign]
        # mpremote prints what it read to stdout when the raw-paste handshake fails; only
        # the command is written here (output is read later), so nothing else is caught,
        # and what it printed goes into the error instead of the user's terminal.
        printed = io.StringIO()
        # mpremote's raw-paste handshake reads with the port's timeout, which it leaves
        # at None (blocking); ours may be a short read timeout from the last reader.
        self.serial.timeout = RAW_PASTE_TIMEOUT_S
        try:
            with contextlib.redirect_stdout(printed):
                super().exec_raw_no_follow(command)
        except TransportError as error:
            detail = printed.getvalue().strip()
            if detail:
                raise TransportError(f"{error.args[0] if error.args else error} "
                                     f"(read {detail})") from None
            raise

    def enter_raw_repl(self, soft_reset: bool = True, timeout_overall: float = 10) -> None:
        # Entering afresh leaves a new '>' to read, whatever an earlier reader took: a
        # stale prompt_read would make exec_raw_no_follow skip it, and the raw-paste
        # handshake would then read ">R" (seen after a push receiver died).
        self.prompt_read = False
        seen = b""
        heard = False
        for attempt in range(ENTER_ATTEMPTS):
            if attempt >= 2 and not heard:
                raise BoardSilentError(
                    f"no answer from {self.device_name}: is the board powered, and is this its "
                    "port?"
                )
            if attempt == 1:
                # Ctrl-C went unheeded: a program that reads stdin as data (a push receiver
                # left by a host that vanished) may be running; its owner knows how to end it.
                for hook in UNHEEDED_INTERRUPT_HOOKS:
                    hook(self._say)
            self.serial.write(b"\r\x03\x03")  # ctrl-C twice: stop a running program or main.py
            heard = bool(self._drain_quietly(0.05)) or heard
            self.serial.write(b"\r\x01")  # ctrl-A: enter the raw REPL
            # The '>' prompt after the banner is left for exec_raw_no_follow to read.
            seen = self._read_until_within(RAW_BANNER, ATTEMPT_TIMEOUT_S)
            heard = heard or bool(seen)
            if seen.endswith(RAW_BANNER):
                break
        else:
            tail = seen[-80:]
            raise LinkError(
                f"no MicroPython raw REPL on {self.device_name}: is it a MicroPython board? "
                f"(last bytes: {tail!r})"
            )
        if soft_reset:
            if not self._read_until_within(b">", ATTEMPT_TIMEOUT_S).endswith(b">"):
                raise LinkError(f"{self.device_name}: no raw REPL prompt")
            self.serial.write(b"\x04")  # ctrl-D: soft reset
            seen = self._read_until_within(b"soft reboot\r\n", timeout_overall)
            if not seen.endswith(b"soft reboot\r\n"):
                raise LinkError(f"{self.device_name} did not soft-reboot (got {seen[-80:]!r})")
            seen = self._read_until_within(RAW_BANNER, timeout_overall)
            if not seen.endswith(RAW_BANNER):
                raise LinkError(f"{self.device_name} did not come back after soft reboot")
        self.in_raw_repl = True

    def _say(self, data: bytes) -> None:
        """Writes bytes for a hook and reads what the board answers until it is quiet."""
        self.serial.write(data)
        self._drain_quietly(0.3)

    def _drain_quietly(self, quiet_s: float, limit_s: float = 1.0) -> bytes:
        """Reads until the board has been quiet for quiet_s (a busy printer: limit_s)."""
        deadline = time.monotonic() + limit_s
        self.serial.timeout = quiet_s
        drained = b""
        while time.monotonic() < deadline:
            chunk = self.serial.read(4096)
            if not chunk:
                break
            drained = (drained + chunk)[-256:]
        return drained

    def _read_until_within(self, ending: bytes, timeout_s: float) -> bytes:
        """Reads up to and including `ending`, never past it, within timeout_s."""
        deadline = time.monotonic() + timeout_s
        data = b""
        self.serial.timeout = 0.05
        while not data.endswith(ending) and time.monotonic() < deadline:
            data += self.serial.read(len(ending) - _overlap(data, ending))
            if len(data) > 65536:
                data = data[-4096:]
        return data


def _overlap(data: bytes, ending: bytes) -> int:
    """Length of the longest tail of data that begins `ending` (so reads never overshoot)."""
    for size in range(min(len(data), len(ending) - 1), 0, -1):
        if ending.startswith(data[-size:]):
            return size
    return 0


class Link:
    """One board behind a port or pyserial URL. `with Link(port) as link: link.exec(...)`."""

    def __init__(self, port: str, *, baudrate: int = 115200, exclusive: bool = True) -> None:
        self.port = port
        self.baudrate = baudrate
        self.exclusive = exclusive
        self._transport: _Transport | None = None

    # -- opening and closing -------------------------------------------------------------
    def open(self) -> Link:
        if self._transport is not None:
            return self
        if "://" not in self.port and not os.path.exists(self.port):
            raise LinkError(
                f"no such port {self.port}: is the board plugged in? (try `ember boards`)"
            )
        try:
            self._transport = _Transport(
                self.port, baudrate=self.baudrate, exclusive=self.exclusive
            )
        except (serial.SerialException, OSError, TransportError) as error:
            raise self._why_not_open(error) from None
        return self

    def _why_not_open(self, error: Exception) -> LinkError:
        # mpremote reports every failure as "failed to access": open the port once more to
        # learn the reason (busy, permission) from pyserial itself.
        try:
            probe = serial.serial_for_url(
                self.port, do_not_open=True, baudrate=self.baudrate, exclusive=self.exclusive
            )
            probe.open()
            probe.close()
        except (serial.SerialException, OSError) as reason:
            return _port_error(self.port, reason)
        return _port_error(self.port, error)

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is None:
            return
        try:
            if transport.in_raw_repl:
                transport.exit_raw_repl()
            transport.close()
        except (OSError, serial.SerialException):
            pass

    def __enter__(self) -> Link:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def transport(self) -> _Transport:
        if self._transport is None:
            self.open()
        assert self._transport is not None
        return self._transport

    @property
    def serial(self) -> serial.Serial:
        return self.transport.serial

    # -- REPL ----------------------------------------------------------------------------
    def raw_repl(self, soft_reset: bool = False) -> None:
        """Enters the raw REPL (with a soft reset first if asked), then runs the soft-reset
        hooks (SOFT_RESET_HOOKS)."""
        transport = self.transport
        if soft_reset or not transport.in_raw_repl:
            try:
                transport.enter_raw_repl(soft_reset=soft_reset)
            except (serial.SerialException, OSError) as error:
                raise LinkError(f"link to {self.port} lost: {error}") from None
        if soft_reset:
            for hook in SOFT_RESET_HOOKS:
                hook(self)

    def friendly_repl(self) -> None:
        if self.transport.in_raw_repl:
            self.transport.exit_raw_repl()

    def forget_state(self) -> None:
        """The board's REPL state is unknown (it reset, a program was abandoned, the link
        was disturbed): the next program enters the raw REPL afresh."""
        if self._transport is not None:
            self._transport.in_raw_repl = False
            self._transport.prompt_read = False

    def at_friendly_repl(self) -> None:
        """The board is at its friendly '>>>' prompt now (it reset, say): the session
        knows it, and the next program enters the raw REPL afresh."""
        self.forget_state()

    def program_ended(self, prompt_read: bool) -> None:
        """A Program read its end: with the raw REPL's '>' (the next program starts at
        once) or without (the state is unknown)."""
        if prompt_read:
            self.transport.prompt_read = True
        else:
            self.forget_state()

    def start(self, code: str | bytes, *, on_output: Callable[[bytes], None] | None = None,
              noisy: bool = False, keep_output: bool = True) -> Program:
        """Starts code in the raw REPL and returns its Program without waiting for it."""
        self.raw_repl()
        try:
            self.transport.exec_raw_no_follow(code)
        except (TransportError, struct.error) as error:  # struct: a cut window-size reply
            self.forget_state()
            detail = error.args[0] if error.args else error
            raise LinkError(f"{self.port}: the board stopped answering the raw REPL "
                            f"({detail})") from None
        except (serial.SerialException, OSError) as error:
            self.forget_state()
            raise LinkError(f"link to {self.port} lost: {error}") from None
        return Program(self, on_output=on_output, noisy=noisy, keep_output=keep_output)

    def exec(
        self,
        code: str | bytes,
        *,
        timeout: float | None = DEFAULT_EXEC_TIMEOUT_S,
        on_output: Callable[[bytes], None] | None = None,
    ) -> bytes:
        """Runs code in the raw REPL; returns its output (or streams it to on_output) or
        raises DeviceError. A board that resets while the code runs (machine.reset(), a
        crash) raises LinkError; so does code still running after `timeout` seconds, once
        Ctrl-C has stopped it."""
        program = self.start(code, on_output=on_output)
        try:
            ended = program.wait(timeout)
        except KeyboardInterrupt:  # Ctrl-C on the host: on the board too, and read its end
            program.stop(DRAIN_TIMEOUT_S)
            raise
        if not ended:
            stopped = program.stop(STOP_TIMEOUT_S)
            raise LinkError(f"{self.port}: the board did not finish in {timeout:g} s"
                            + ("; interrupted it with Ctrl-C" if stopped else
                               ", and Ctrl-C did not stop it"))
        error = program.device_error()
        if error is not None:
            raise error
        return bytes(program.out)

    def eval(self, expression: str, *, timeout: float | None = DEFAULT_EXEC_TIMEOUT_S) -> object:
        """The value of the caller's expression on the board, through its repr()."""
        return device_code.value(self, expression, timeout=timeout)

    def interrupt(self) -> None:
        """Ctrl-C: stops what runs on the board (its kbd_intr permitting)."""
        self.serial.write(b"\x03")
