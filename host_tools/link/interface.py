"""The interface jobs depend on: what a link to a board offers, not how it is made.

`host_tools.link.session.Link` is the one implementation (a serial port or pyserial URL
through mpremote's transport); push, install, boards and bench take a `BoardLink` so a
test can hand them a fake, and only the modules that open ports (the CLI's context, the
test Board, the benchmarks that start virtual boards) construct a Link.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import serial

if TYPE_CHECKING:
    from host_tools.link.program import Program

Progress = Callable[[int, int], None]  # a job's (bytes done, bytes in all)


class BoardLink(Protocol):
    """A MicroPython board behind a port: programs in its raw REPL, and its REPL state."""

    port: str

    @property
    def serial(self) -> serial.Serial: ...

    def raw_repl(self, soft_reset: bool = False) -> None: ...

    def friendly_repl(self) -> None: ...

    def start(self, code: str | bytes, *, on_output: Callable[[bytes], None] | None = None,
              noisy: bool = False, keep_output: bool = True) -> Program: ...

    def exec(self, code: str | bytes, *, timeout: float | None = ...,
             on_output: Callable[[bytes], None] | None = None) -> bytes: ...

    def eval(self, expression: str, *, timeout: float | None = ...) -> object: ...

    def interrupt(self) -> None: ...

    def forget_state(self) -> None: ...

    def at_friendly_repl(self) -> None: ...

    def program_ended(self, prompt_read: bool) -> None: ...

    def close(self) -> None: ...
