"""A program running in a board's raw REPL: the one reader of the raw REPL's framing.

After mpremote's transport has written a program (raw-paste mode), the board answers
`output 0x04 error-text 0x04 >`. Every reader in ember (Link.exec, the test Board's
start/expect/wait, the push receiver's protocol, `ember run`) goes through a Program handed
out by `Link.start`: it splits output from error text, streams or keeps the output, notices
a board that reset while the program ran (its friendly banner where output was expected),
and on the end reads the `>` prompt and tells the Link, so the next program neither skips
nor waits for it. mpremote's own `follow` is not used: it has no handle to read part of
the output, expect a pattern, interrupt, or see a reset.
"""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import serial

from host_tools.errors import DeviceError, LinkError

if TYPE_CHECKING:
    from host_tools.link.session import Link

BANNER = b'Type "help()" for more information.'  # the friendly REPL's, after any reset
PROMPT_TIMEOUT_S = 3.0  # the '>' after a program's end comes at once; this is generous
LONE_END_GRACE_S = 1.0  # see `noisy`


class BoardResetError(LinkError):
    """The board reset while a program ran: the program is gone."""


class Program:
    """A started program. `read()` what it printed so far, `expect()` a pattern in it,
    `wait()` for its end, `interrupt()` it with Ctrl-C, `write()` to its stdin.

    `keep_output=False` is for a caller that consumes what `read()` returns itself.
    `noisy=True` is for a program that speaks a protocol over a link that may damage
    bytes (the push receiver): a lone 0x04 is taken for the end only if the second one
    follows within LONE_END_GRACE_S; else it was noise, and is dropped from the output."""

    def __init__(self, link: Link, *, on_output: Callable[[bytes], None] | None = None,
                 noisy: bool = False, keep_output: bool = True) -> None:
        self._link = link
        self._serial: serial.Serial = link.serial
        self.on_output = on_output
        self.noisy = noisy
        self.keep_output = keep_output and on_output is None
        self.out = bytearray()  # kept output (none when streamed to on_output)
        self.err = bytearray()  # the error text between the two 0x04
        self.ends = 0  # 0x04 bytes seen
        self.prompt = False  # the '>' after the end was read
        self.decoded = ""  # the kept output as text, for expect()
        self.seen = 0  # expect() matched up to here in `decoded`
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._tail = b""  # the last output bytes, to see a reset banner
        self._first_end_at = 0.0  # noisy: when the first 0x04 came

    # -- state ---------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.ends == 2

    @property
    def error_text(self) -> str:
        return self.err.decode("utf-8", "replace").replace("\r\n", "\n")

    def device_error(self) -> DeviceError | None:
        """The board's exception, parsed, if the program ended with one."""
        return DeviceError.from_traceback(self.error_text) if self.err else None

    # -- reading -------------------------------------------------------------------------
    def read(self, timeout: float) -> bytes:
        """What the program printed within `timeout` (at least one byte's wait): the new
        output, b"" if none came. Raises BoardResetError, or LinkError if the port failed."""
        if self.done:
            return b""
        try:
            self._serial.timeout = max(0.0, min(timeout, 0.2 if not self.ends else 0.1))
            data = self._serial.read(max(1, min(self._serial.in_waiting, 65536)))
        except (OSError, serial.SerialException) as error:
            self._link.forget_state()
            raise LinkError(f"link to {self._link.port} lost: {error}") from None
        new = self._feed(data)
        if (self.noisy and self.ends == 1
                and time.monotonic() - self._first_end_at > LONE_END_GRACE_S):
            new += self._noise_after_all()
        if self.done:
            self._read_prompt()
        return new

    def wait(self, timeout: float | None) -> bool:
        """Reads until the program ends (True) or `timeout` passes (False); None: no limit."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.read(remaining)
        return True

    def expect(self, pattern: str | re.Pattern[str], timeout: float) -> re.Match[str] | None:
        """The first match of `pattern` in the output after the last match, waiting up to
        `timeout`; None if the program ended or the time passed first."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.decoded, self.seen)
            if match:
                self.seen = match.end()
                return match
            remaining = deadline - time.monotonic()
            if self.done or remaining <= 0:
                return None
            self.read(remaining)

    def unmatched(self) -> str:
        """The kept output after the last expect() match."""
        return self.decoded[self.seen :]

    # -- acting on it --------------------------------------------------------------------
    def interrupt(self) -> None:
        """Ctrl-C: a KeyboardInterrupt in the program (its kbd_intr permitting)."""
        self.write(b"\x03")

    def write(self, data: bytes) -> None:
        """Bytes to the program's stdin (a protocol's commands)."""
        try:
            self._serial.write(data)
        except (OSError, serial.SerialException) as error:
            self._link.forget_state()
            raise LinkError(f"link to {self._link.port} lost: {error}") from None

    def stop(self, timeout: float) -> bool:
        """Interrupts a running program and reads it to its end; False if it did not end
        (kbd_intr(-1), a hang in C): the Link then enters the raw REPL afresh."""
        if not self.done:
            self.interrupt()
            self.wait(timeout)
        if not self.done:
            self._link.forget_state()
        return self.done

    # -- internals -----------------------------------------------------------------------
    def _feed(self, data: bytes) -> bytes:
        new = bytearray()
        while data and not self.done:
            end = data.find(b"\x04")
            part = data if end < 0 else data[:end]
            if self.ends == 0:
                new += part
                self._output(part, final=end >= 0)
            else:
                self.err += part
            if end < 0:
                break
            self.ends += 1
            if self.ends == 1:
                self._first_end_at = time.monotonic()
            data = data[end + 1 :]
        if self.done and data.startswith(b">"):
            self.prompt = True
        return bytes(new)

    def _output(self, part: bytes, final: bool) -> None:
        if not part:
            return
        if self.on_output is not None:
            self.on_output(part)
        elif self.keep_output:
            self.out += part
            self.decoded += self._decoder.decode(part, final=final)
        self._tail = (self._tail + part)[-96:]
        if self._tail.endswith(b">>> ") and BANNER in self._tail:
            self._link.forget_state()
            raise BoardResetError(f"{self._link.port}: the board reset while running the code")

    def _noise_after_all(self) -> bytes:
        """A lone 0x04 with no second one: a damaged byte, not the end."""
        held = bytes(self.err)
        self.err.clear()
        self.ends = 0
        self._output(held, final=False)
        return held

    def _read_prompt(self) -> None:
        if not self.prompt:
            try:
                self._serial.timeout = PROMPT_TIMEOUT_S
                self.prompt = self._serial.read(1) == b">"
            except (OSError, serial.SerialException):
                self.prompt = False
        self._link.program_ended(prompt_read=self.prompt)
