"""Safe mode: the boot guard as /boot.py, and getting a board out of a crash loop.

The guard (firmware/boot_guard.py, whose comments say why) counts boots in a row that do
not reach healthy; after 3 it renames /main.py to /.ember/main.py.safe, so the firmware
finds no main.py and the board stays at its REPL. That needs nothing from the host. When
the guard is not there, or main.py is busy rather than crashing, `enter_safe_mode` does
the same from the host: Ctrl-C again and again, through the resets, until the REPL
answers, then main.py is set aside. `leave_safe_mode` puts it back.

The device side of every helper here is a function of firmware/boot_guard.py, run through
host_tools/link/device_code.py whether or not the board has the guard installed.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass

import serial

from host_tools.errors import DeviceError, LinkError
from host_tools.link import device_code
from host_tools.link.interface import Progress
from host_tools.link.session import SOFT_RESET_HOOKS, Link
from host_tools.paths import FIRMWARE_DIR
from host_tools.push.session import PushResult, plan, push

GUARD = FIRMWARE_DIR / "boot_guard.py"
GUARD_MARK = "# ember boot guard"  # the first line of firmware/boot_guard.py
ENTER_TIMEOUT_S = 30.0
CTRL_C_EVERY_S = 0.02  # a board that resets in a loop runs Python only briefly each time
PROMPT = b">>> "
PORT_BACK_S = 0.05  # how often to look for a USB port that a reset took away


def install_boot_guard(link: Link, *, progress: Progress | None = None) -> PushResult | None:
    """Pushes the guard as /boot.py (only if changed), unless the board has a boot.py that
    is not the guard: that one is left alone and None is returned."""
    first_line = _guard_call(link, "boot_py")
    if first_line is not None and not str(first_line).startswith(GUARD_MARK):
        return None
    return push(link, plan([(GUARD, "boot.py")]), dest="/", progress=progress)


def guard_limit() -> int:
    """How many boots in a row that never reach healthy set main.py aside (the guard's
    LIMIT, read from firmware/boot_guard.py itself)."""
    for node in ast.parse(GUARD.read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "LIMIT" and isinstance(node.value, ast.Constant)):
            return int(node.value.value)
    raise ValueError(f"{GUARD} has no LIMIT")


HEALTHY = ("a boot counts as healthy once ember.run() has run for 5 s, or once the app "
           "calls ember.healthy()")


@dataclass(frozen=True)
class SafeModeStatus:
    safe: bool  # main.py is set aside
    boots: int  # boots in a row, with a main.py, not healthy yet
    guard: bool  # the guard is /boot.py
    limit: int

    def as_json(self) -> dict[str, object]:
        return {"safe_mode": self.safe, "boots_not_healthy": self.boots,
                "guard_installed": self.guard, "limit": self.limit}

    def words(self) -> str:
        if self.safe:
            return ("safe mode: ON, main.py is set aside as /.ember/main.py.safe; "
                    "`ember safe-mode leave` puts it back")
        if not self.guard:
            return "safe mode: off; no boot guard (`ember safe-mode install` adds one)"
        return (f"safe mode: off; {self.boots} of {self.limit} boots in a row not healthy "
                "before main.py is set aside")


def safe_mode_status(link: Link) -> tuple[bool, int]:
    """(safe, boots): whether main.py is set aside, and the guard's count of boots in a
    row that have not reached healthy. Sends only what these need of the guard (a few
    hundred bytes, which a 20 KB board compiles)."""
    safe, boots = _guard_call(link, "status")  # type: ignore[misc]
    return bool(safe), int(boots)


def safe_mode_report(link: Link) -> SafeModeStatus:
    """safe_mode_status, and whether the guard is installed, for `ember safe-mode status`."""
    safe, boots = safe_mode_status(link)
    first_line = _guard_call(link, "boot_py")
    return SafeModeStatus(safe, boots,
                          first_line is not None and str(first_line).startswith(GUARD_MARK),
                          guard_limit())


def uninstall_boot_guard(link: Link) -> bool:
    """Takes the guard off the board (main.py put back first if it was set aside); False
    if /boot.py is not ember's guard (it is left alone)."""
    return bool(_guard_call(link, "uninstall"))


def leave_safe_mode(link: Link) -> bool:
    """Puts the set-aside main.py back (unless a new one has been pushed since) and starts
    the count again; True if it was put back. The next boot runs main.py."""
    return bool(_guard_call(link, "leave"))


def enter_safe_mode(target: Link | str, *, timeout: float = ENTER_TIMEOUT_S) -> bool:
    """Gets a board that crash-loops or runs a busy main.py back to its REPL and sets
    main.py aside; True once it is set aside (False: the board has no main.py at all).

    Ctrl-C goes out every 20 ms, through the board's resets (a USB port that a reset takes
    away is opened again), until the friendly REPL answers; a soft reset from the raw REPL
    then boots the board without main.py, and main.py is renamed away before anything can
    reset it again (a hardware watchdog the app started, say: if it does, this starts
    over). Works with or without the guard installed. A main.py that turns Ctrl-C off
    (micropython.kbd_intr) is caught only while the board boots: press reset, or power it
    again, meanwhile.
    """
    link = target if isinstance(target, Link) else Link(target)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                _interrupt_to_repl(link, deadline)
                # Ctrl-C may have stopped the boot itself, before the filesystem was
                # mounted: a soft reset from the raw REPL boots again (boot.py too) but
                # does not run main.py, and stays in the raw REPL.
                link.raw_repl(soft_reset=True)
                return bool(_guard_call(link, "enter"))
            except (LinkError, OSError, serial.SerialException) as error:
                if time.monotonic() > deadline:
                    raise LinkError(
                        f"{link.port}: no REPL within {timeout:g} s of Ctrl-C ({error})"
                    ) from None
                link.close()  # the board reset under us: open the port afresh
    finally:
        if not isinstance(target, Link):
            link.close()


def _interrupt_to_repl(link: Link, deadline: float) -> None:
    """Sends Ctrl-C until the friendly REPL prompt ends what the board says. Raises
    LinkError at the deadline."""
    while True:
        try:
            port = link.serial
            break
        except LinkError:
            if time.monotonic() > deadline:
                raise
            time.sleep(PORT_BACK_S)  # a USB board re-enumerating: its port comes back
    port.timeout = CTRL_C_EVERY_S
    tail = b""
    quiet = 0  # rounds without a byte from the board
    while time.monotonic() < deadline:
        # Ctrl-C stops boot.py, main.py or a program, and at the REPL prints a prompt. A
        # board that stays silent may sit in the raw REPL (Ctrl-C prints nothing there):
        # Ctrl-B takes it to the friendly one, which prints its banner and prompt.
        port.write(b"\x03" if quiet < 5 else b"\x03\x02")
        data = port.read(4096)
        tail = (tail + data)[-256:]
        quiet = 0 if data else quiet + 1
        if tail.endswith(PROMPT):
            break
    else:
        raise LinkError(f"{link.port}: Ctrl-C brought no REPL prompt (last: {tail[-80:]!r})")
    port.reset_input_buffer()
    link.at_friendly_repl()  # whatever the link thought: the board is friendly now


def _guard_call(link: Link, function: str) -> object:
    """Runs one function of firmware/boot_guard.py on the board; returns its result. Its
    boot-time action (guarded by __name__) does not run, and the REPL's globals stay
    clean: device_code runs the file in a namespace of its own."""
    return device_code.call(link, "boot_guard.py", function)


def _uncount_our_boot(link: Link) -> None:
    """A soft reset ember made from the raw REPL ran boot.py, whose guard counted a boot
    that was not main.py's: take it back (firmware/uncount_boot.py says why)."""
    try:
        device_code.call(link, "uncount_boot.py", "uncount")
    except DeviceError:
        pass  # a read-only filesystem, say: the count is advice, the reset is done


SOFT_RESET_HOOKS.append(_uncount_our_boot)
