"""A board under test: exec, eval, push, reset, start/expect and UARTs over one recorded Link."""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import serial

from host_tools.boards.profiles import BoardProfile, load_profile
from host_tools.errors import DeviceError, EmberError, LinkError
from host_tools.install import micropython_source, qemu_firmware
from host_tools.install.runtime import RUNTIME_DEST, board_target, install_runtime
from host_tools.link import device_code
from host_tools.link.program import Program
from host_tools.link.session import Link
from host_tools.mpy import natmod
from host_tools.mpy.compiler import Target, compile_file
from host_tools.paths import FIRMWARE_DIR, RUNTIME_DIR
from host_tools.push.session import PushResult, plan, push
from host_tools.sim.launcher import VirtualBoard
from host_tools.testing.transcript import RecordingSerial, Transcript

STOP_TIMEOUT_S = 3.0  # a program interrupted by Ctrl-C must have ended by then
SETTLE_S = 0.05  # a started program that printed its last line gets this long to end
RESET_TIMEOUT_S = 15.0
UART_TIMEOUT_S = 5.0
TAIL_CHARS = 600

# Device-side statements sent through the raw REPL. Each resets __main__ for a test: modules
# imported since the last reset are unloaded and the REPL's globals start empty.
RUNNER = "host/runner.py"  # the board's side of fresh() and call(), under firmware/


T = TypeVar("T")


class DeviceTimeout(EmberError):
    """Code on the board did not finish in time; Ctrl-C stopped it (or did not: `stopped`)."""

    def __init__(self, message: str, output: str = "", stopped: bool = True) -> None:
        super().__init__(message)
        self.output = output
        self.stopped = stopped


NATIVE_DIR = FIRMWARE_DIR / "native" / "_ember"  # ember's native module (C)
NATIVE_DEST = "/lib"


class Board:
    """One board (real or virtual) for tests: `Board(port, profile)`; the constructor does no
    I/O, the first call opens the link; `close()` is idempotent."""

    def __init__(
        self,
        port: str,
        profile: BoardProfile,
        *,
        timeout: float = 30.0,
        uarts: Mapping[int, str] | None = None,
        transcript: Transcript | None = None,
        sim: VirtualBoard | None = None,
        baudrate: int = 115200,
    ) -> None:
        self.port = port
        self.profile = profile
        self.timeout = timeout
        self.uarts: dict[int, str] = dict(uarts or {})
        self.transcript = transcript or Transcript()
        self.sim = sim
        self.baudrate = baudrate
        self.needs_reset = True  # at first use, and after a MemoryError, timeout, lost prompt
        self.installed: set[tuple[str, str]] = set()  # (local, dest) pushed in this board's life
        self._link: Link | None = None
        self._program: Program | None = None
        self._keep_modules: tuple[str, ...] | None = None
        self._wedged = False  # a program ignored Ctrl-C
        self.native = False  # install_runtime adds ember's native module (_ember) too
        self._open_uarts: dict[int, serial.Serial] = {}

    @classmethod
    def virtual(cls, board: str, *, baud: int | None = None, timeout: float = 30.0,
                transcript: Transcript | None = None, heap_bytes: int | None = None,
                state_dir: Path | None = None, frozen_runtime: bool = True,
                native: bool = False) -> Board:
        """Starts a virtual board of profile `board` (its heap overridden by heap_bytes, its
        flash kept in state_dir if given, its firmware without ember if not frozen_runtime)
        and returns a Board that owns it. With `native`, ember's native module is there: on
        the bare-metal board linked into its firmware (a native .mpy's code would sit in
        its heap there), on a unix board pushed as a native .mpy by install_runtime."""
        profile = load_profile(board)
        if heap_bytes:
            profile = dataclasses.replace(profile, heap_bytes=heap_bytes)
        firmware = None
        if native and qemu_firmware.is_qemu(profile):
            firmware = Path(qemu_firmware.build(
                profile, micropython_source.resolve(None), runtime=frozen_runtime,
                heap_bytes=heap_bytes, c_modules=[NATIVE_DIR]).image)
        sim = VirtualBoard(board, baud=baud, heap_bytes=heap_bytes, state_dir=state_dir,
                           frozen_runtime=frozen_runtime, firmware=firmware)
        sim.__enter__()
        assert sim.record is not None
        uarts = {int(n): path for n, path in sim.record.uarts.items()}
        made = cls(sim.port, profile, timeout=timeout, uarts=uarts, transcript=transcript,
                   sim=sim)
        made.native = native and firmware is None
        return made

    # -- the link ------------------------------------------------------------------------
    @property
    def link(self) -> Link:
        if self._link is None:
            link = Link(self.port, baudrate=self.baudrate)
            link.open()
            transport = link.transport
            transport.serial = RecordingSerial(transport.serial, self.transcript)
            self._link = link
        return self._link

    def close(self) -> None:
        self._close_link()
        sim, self.sim = self.sim, None
        if sim is not None:
            sim.close()
        self.transcript.flush()

    def _close_link(self) -> None:
        for port in self._open_uarts.values():
            port.close()
        self._open_uarts.clear()
        link, self._link, self._program = self._link, None, None
        if link is not None:
            link.close()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- running code --------------------------------------------------------------------
    def exec(self, code: str, *, timeout: float | None = None) -> str:
        """Runs code in the raw REPL and returns what it printed; a device exception raises
        DeviceError (with the traceback), a hang past `timeout` raises DeviceTimeout."""
        self.start(code)
        self._wait(self.timeout if timeout is None else timeout)
        return self._result()

    def eval(self, expression: str, *, timeout: float | None = None) -> object:
        """The value of a device expression, through its repr()."""
        return device_code.value(self, expression, timeout=timeout)

    def start(self, code: str) -> None:
        """Starts code without waiting: follow it with expect(), wait() or stop()."""
        self.settle()
        try:
            self._program = self.link.start(code)
        except LinkError:
            self.needs_reset = True
            raise

    def expect(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        """Waits for `pattern` (a regex) in the output of the started program since start()
        or the last expect(); returns the match, or fails saying what came instead."""
        program = self._program
        if program is None:
            raise AssertionError("expect() needs a program started with board.start(code)")
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        match = self._guarded(lambda: program.expect(regex, timeout))
        if match is not None:
            return match
        tail = program.unmatched()[-TAIL_CHARS:]
        why = (
            f"the program ended{': ' + _last_line(program.err) if program.err else ''}"
            if program.done
            else f"not within {timeout:g} s"
        )
        raise AssertionError(
            f"expected /{regex.pattern}/ on {self.port}: {why}; got (last {TAIL_CHARS} chars):"
            f"\n{tail!r}\nfull transcript: {self.transcript.where()}"
        )

    def wait(self, timeout: float | None = None) -> str:
        """Waits for the started program to end; returns its output not yet matched."""
        self._wait(self.timeout if timeout is None else timeout)
        return self._result(unmatched=True)

    def stop(self) -> str:
        """Stops the started program with Ctrl-C (if it still runs); returns its output."""
        program = self._program
        if program is None:
            return ""
        self._program = None
        if not self._guarded(lambda: program.stop(STOP_TIMEOUT_S)):
            # Ctrl-C did not help (kbd_intr(-1), a hang in C): reset before the next use
            self.needs_reset = self._wedged = True
        else:
            self._ended(program)
        return program.decoded

    def settle(self) -> None:
        """Ends what start() began: a program that has just finished is read to its end,
        one still running is stopped with Ctrl-C."""
        program = self._program
        if program is None:
            return
        self._guarded(lambda: program.wait(SETTLE_S))
        self.stop()

    # -- state ---------------------------------------------------------------------------
    def ready(self) -> None:
        """Ends a started program, and soft-resets the board if it was left in doubt."""
        self.settle()
        if self.needs_reset:
            self.reset()

    def reset(self, soft: bool = True) -> None:
        """Soft reset (Ctrl-D in the raw REPL), or a hard one through machine.reset().
        A virtual board that does not answer is restarted (its flash is lost)."""
        self.settle()
        if soft and self._wedged and self.sim is not None:
            self.restart()  # quicker than waiting for a board that ignores Ctrl-C to answer
        elif soft:
            self._link_lost()
            try:
                self.link.raw_repl(soft_reset=True)
            except LinkError:
                if self.sim is None:
                    raise
                self.restart()
        else:
            device_code.start(self.link, "host/probe.py", "hard_reset")
            self._link_lost()
            self._reopen_after_reset()
        self.needs_reset = self._wedged = False
        self._keep_modules = None

    def fresh(self) -> None:
        """Fresh state for the next test: a soft reset if the last one left the board in
        doubt, else a new globals dict and the modules it imported unloaded."""
        self.ready()
        device_code.output_of(self, RUNNER, "fresh", device_code.GLOBALS, self._keep(),
                              keep=True)
        for port in self._open_uarts.values():
            port.reset_input_buffer()

    def _keep(self) -> tuple[str, ...]:
        """The modules a fresh state keeps: those loaded when the board was first used."""
        if self._keep_modules is None:
            modules = device_code.call(self, RUNNER, "module_names", keep=True)
            self._keep_modules = tuple(str(m) for m in modules)  # type: ignore[attr-defined]
        return self._keep_modules

    def call(self, module: str, function: str, *, path: str = "/tests",
             timeout: float | None = None) -> str:
        """Calls module.function() (a module under `path` on the board) in fresh state."""
        self.ready()
        return str(device_code.output_of(self, RUNNER, "fresh_call", device_code.GLOBALS,
                                         self._keep(), path, module, function,
                                         keep=True, timeout=timeout))

    def restart(self) -> None:
        """Restarts a virtual board: a new interpreter, a blank flash, new ports."""
        sim = self.sim
        if sim is None:
            raise LinkError(f"{self.port} is not a virtual board: it cannot be restarted")
        self._close_link()
        sim.close()
        sim.__enter__()
        assert sim.record is not None
        self.port = sim.port
        self.uarts = {int(n): path for n, path in sim.record.uarts.items()}
        self.installed.clear()
        self._keep_modules = None
        self.needs_reset = self._wedged = False
        self.transcript.record("note", f"virtual board restarted on {self.port}".encode())

    # -- files ---------------------------------------------------------------------------
    def push(self, *paths: str | Path | tuple[Path, str], dest: str = "/") -> PushResult:
        """Incremental, verified push of files or folders (a folder keeps its layout)."""
        self.settle()
        sources = [p if isinstance(p, tuple) else Path(p) for p in paths]
        return push(self.link, plan(sources, dest=dest), dest=dest)

    def install_runtime(self) -> None:
        """Installs firmware/ember as .mpy in /lib/ember, as `ember flash` does, once per
        board life (and then only what changed): small heaps cannot compile it from source."""
        key = (str(RUNTIME_DIR), RUNTIME_DEST)
        if key not in self.installed:
            self.settle()
            install_runtime(self.link, board=self.profile.name)
            self.installed.add(key)
        native = (str(NATIVE_DIR), f"{NATIVE_DEST}/_ember.mpy")
        if self.native and native not in self.installed:
            target, _ = board_target(self.link, self.profile.name)  # the arch it runs
            if target.arch is None:
                raise EmberError(f"{self.profile.name}: --ember-native, but the board runs "
                                 "no native code")
            built = natmod.build(NATIVE_DIR, target.arch, micropython_source.resolve(None))
            self.push((built, "_ember.mpy"), dest=NATIVE_DEST)
            self.installed.add(native)

    def push_module(self, path: Path, dest: str, name: str) -> None:
        """Compiles a test module for the board (.mpy: no heap spent compiling on the
        board, as the runtime) and pushes it once as dest/name.mpy; tracebacks name it
        dest/name.py. A syntax error is raised as CompileError before the board is touched."""
        key = (str(path), f"{dest}/{name}.mpy")
        if key in self.installed:
            return
        target = Target.for_profile(self.profile)
        with tempfile.TemporaryDirectory(prefix="ember-test-module-") as tmp:
            source = Path(tmp) / f"{name}.py"
            shutil.copyfile(path, source)
            built = compile_file(source, target, Path(tmp) / "out", root=Path(tmp),
                                 source_name=f"{dest}/{name}.py")
            self.push((built, f"{name}.mpy"), dest=dest)
        self.installed.add(key)

    def push_once(self, path: Path, dest: str, name: str | None = None) -> None:
        """Pushes a file or folder unless this board already got it since it started."""
        key = (str(path), f"{dest}/{name or ''}")
        if key not in self.installed:
            self.push((path, name) if name else path, dest=dest)
            self.installed.add(key)

    # -- UARTs ---------------------------------------------------------------------------
    def uart(self, n: int) -> serial.Serial:
        """The host end of the board's UART n, open (the same object on every call)."""
        if n not in self._open_uarts:
            if n not in self.uarts:
                raise LinkError(
                    f"{self.profile.name} on {self.port}: no host port for UART {n} "
                    f"(known: {sorted(self.uarts) or 'none'}; give one with --ember-uart {n}=PORT)"
                )
            port = serial.serial_for_url(self.uarts[n], do_not_open=True, timeout=UART_TIMEOUT_S)
            port.open()
            self._open_uarts[n] = port
        return self._open_uarts[n]

    # -- internals -----------------------------------------------------------------------
    def _guarded(self, step: Callable[[], T]) -> T:
        """A step of the started program; a lost link or a board that reset leaves the
        board in doubt: reset before its next use."""
        try:
            return step()
        except LinkError:
            self.needs_reset = True
            self._program = None
            raise

    def _wait(self, timeout: float) -> None:
        program = self._program
        if program is None:
            raise DeviceError("nothing started on the board")
        if self._guarded(lambda: program.wait(timeout)):
            return
        output = self.stop()
        self.needs_reset = True
        if program.done:
            raise DeviceTimeout(f"no end within {timeout:g} s: stopped with Ctrl-C", output)
        raise DeviceTimeout(
            f"no end within {timeout:g} s, and Ctrl-C did not stop it: the board is reset "
            "before its next use", output, stopped=False)

    def _result(self, unmatched: bool = False) -> str:
        program = self._program
        assert program is not None and program.done
        self._program = None
        self._ended(program)
        error = program.device_error()
        if error is not None:
            raise error
        text = program.unmatched() if unmatched else program.decoded
        return text.replace("\r\n", "\n")

    def _ended(self, program: Program) -> None:
        """A finished program: without its '>' prompt, or after a MemoryError, the board
        is reset before its next use."""
        error = program.device_error()
        if not program.prompt or (error is not None and error.kind == "MemoryError"):
            self.needs_reset = True

    def _link_lost(self) -> None:
        """The raw REPL state is unknown: enter it afresh next time."""
        self.needs_reset = True
        if self._link is not None:
            self._link.forget_state()

    def _reopen_after_reset(self) -> None:
        deadline = time.monotonic() + RESET_TIMEOUT_S
        while True:
            try:
                self.link.raw_repl(soft_reset=False)
                return
            except LinkError:
                if time.monotonic() > deadline:
                    raise
                link, self._link = self._link, None  # a USB board re-enumerates: reopen
                if link is not None:
                    link.close()
                time.sleep(0.2)  # polling for the port to come back, bounded by the deadline


def _last_line(err: bytes | bytearray) -> str:
    lines = [line for line in bytes(err).decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
