"""The virtual board's supervisor: relays a pseudo-terminal to the MicroPython interpreter.

One process per virtual board, started by `ember sim start` (or `VirtualBoard`). The host
opens the console pty as it would a board's USB or UART port; the supervisor relays bytes
to and from the real `micropython` interpreter, which runs on a second pty, and adds what a
board has and the unix port lacks:

- resets: the interpreter exits on Ctrl-D at the friendly REPL, and at a soft reset asked for
  from the raw REPL the supervisor stops it; either way it is restarted on the same flash
  image, printing `MPY: soft reboot` and running boot.py (and main.py, except after a
  raw-REPL soft reset, which stays in the raw REPL as the firmware does);
- Ctrl-C: turned into SIGINT while code runs and `micropython.kbd_intr` is enabled, and passed
  on as a data byte when `kbd_intr(-1)` is in force (the firmware says which: status.py);
- link speed: both directions paced to baud/10 bytes per second when a baud is given;
- power cut: after N bytes from the host, or on SIGUSR1, the interpreter is killed at once and
  the port stays open but silent; the flash image keeps what had been written;
- line noise: bytes flipped or dropped at a seeded rate, both directions;
- UARTs: each board UART is a pty pair whose host end is published beside the console.

The board's modes are the states of states.py, changed only by `Supervisor._enter`, which
checks each move against its table. Written by hand: pyserial and mpremote are clients of a
port, and nothing in the field serves one for an interpreter. Nothing here is imported by
the host tools' link code.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from host_tools.paths import VIRTUAL_BOARD_DIR
from host_tools.sim import registry, sandbox
from host_tools.sim.host_side import HostSide
from host_tools.sim.interpreter import find_micropython
from host_tools.sim.ptys import PtyPair, open_raw_pair, set_interpreter_mode
from host_tools.sim.states import (
    BOOTS,
    RAW,
    REPL,
    BoardState,
    Request,
    check_transition,
    repl_state,
)
from host_tools.sim.status import STATUS_FD_ENV, InterpreterStatus

DEVICE_DIR = VIRTUAL_BOARD_DIR
CTRL_C, CTRL_D = 0x03, 0x04
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
RAW_PROMPT_ENDS = (RAW_BANNER + b">", b"\x04>")
FRIENDLY_PROMPT = b">>> "
PROMPT_ENDS = (FRIENDLY_PROMPT, b"... ", *RAW_PROMPT_ENDS)
RAW_MARKER = b"\x1bember:raw\x1b"  # printed by sim_boot.py; never reaches the host
MOUNTED_MARKER = b"\x1bember:mounted\x1b"  # likewise: the flash is at /, host files gone
SOFT_REBOOT = b"MPY: soft reboot\r\n"
# The firmware's frozen boot (boards/virtual/unix32/frozen/_boot.py), run in the REPL's globals.
BOOT_COMMAND = "__import__('_boot').start(globals())"
# `ember flash --firmware` (launcher.reflash) writes a nonce to REFLASH_REQUEST in the state
# folder and sends SIGHUP; once the new firmware boots, the nonce is echoed to REFLASH_DONE.
REFLASH_REQUEST = "firmware.request"
REFLASH_DONE = "firmware.booted"
BUFFER_LIMIT = 1 << 16
SIGINT_SETTLE_S = 1.0
READ_CHUNK = 65536


@dataclass
class SimConfig:
    board: str
    heap_bytes: int
    fs_bytes: int
    block_size: int
    state_dir: Path
    baud: int | None = None
    power_cut_after: int | None = None
    uarts: tuple[int, ...] = (1,)
    freq_hz: int = 125_000_000
    ephemeral: bool = False
    noise_rate: float = 0.0
    noise_seed: int = 0
    firmware: bool = False  # state_dir/root/firmware is ember's build; else the PyPI fallback
    pin_wires: str = ""  # "15:13": pins wired together for HIL loopback tests


def prepare_flash(state_dir: Path, fs_bytes: int) -> Path:
    """The flash image: created erased (0xFF) on first use, never resized."""
    image = state_dir / "flash.img"
    if not image.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        with open(image, "wb") as f:
            f.write(b"\xff" * fs_bytes)
    elif image.stat().st_size != fs_bytes:
        raise SystemExit(
            f"{image}: holds {image.stat().st_size} bytes but the board's flash is {fs_bytes}"
        )
    return image


class Supervisor:
    """Relays host pty <-> interpreter pty and plays the board's resets and faults."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.image = prepare_flash(config.state_dir, config.fs_bytes)
        self.console = open_raw_pair()
        self.interp_tty = open_raw_pair()
        self.uart_ends: dict[int, tuple[PtyPair, PtyPair]] = {
            n: (open_raw_pair(), open_raw_pair()) for n in config.uarts
        }
        self.host = HostSide(self.console.master, config.baud, config.noise_rate,
                             config.noise_seed)
        self.to_host = self.host.to_host  # one buffer: the host side only ever mutates it
        self.to_interp = bytearray()
        self.held = bytearray()  # host input kept back while the interpreter changes state
        self.uart_buffers = {n: (bytearray(), bytearray()) for n in config.uarts}
        self.proc: subprocess.Popen[bytes] | None = None
        self.status: InterpreterStatus | None = None  # the running interpreter's reports
        self.state = BoardState.OFF
        self.host_bytes = 0
        self.output_tail = b""
        # Host input waits until this time for the interpreter to read its console: forever
        # (math.inf) from a start until it first does, a while after a SIGINT; 0: no wait.
        self.hold_until = 0.0
        self.sigint_at = 0.0
        self.pending_marker = b""
        self.before_mount = bytearray()  # host input that came before the flash was mounted
        self.boot_go = -1  # write end of the pipe the firmware waits on once mounted
        self.requests: set[Request] = set()  # from signal handlers, taken in step()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.reset_cause = 1  # machine.PWRON_RESET
        # The firmware reaches its flash only through this descriptor (it names no path).
        self.flash_fd = os.open(self.image, os.O_RDWR | os.O_CLOEXEC)
        # machine.unique_id(): the same for a board's state folder at every boot
        self.uid = hashlib.sha256(str(config.state_dir.resolve()).encode()).hexdigest()[:16]

    # -- states ---------------------------------------------------------------------------
    def _enter(self, state: BoardState) -> None:
        """The one place the board's state changes: raises on a move the table forbids."""
        check_transition(self.state, state)
        self.state = state

    # -- interpreter lifecycle -------------------------------------------------------------
    def boot(self, run_main: bool, raw: bool) -> None:
        set_interpreter_mode(self.interp_tty)
        fd = self.interp_tty.slave
        # Its write end goes to the interpreter alone: its end of file is the exit.
        status = InterpreterStatus(reports=self.config.firmware, console_slave=fd)
        try:
            if self.config.firmware:
                command, env, pass_fds = self.firmware_command(run_main, raw)
                go_read, self.boot_go = os.pipe()
                env["EMBER_SIM_BOOT_FD"] = str(go_read)
                env[STATUS_FD_ENV] = str(status.write_fd)
                root = str(sandbox.root_dir(self.config.state_dir))
                try:
                    self.proc = subprocess.Popen(
                        command, stdin=fd, stdout=fd, stderr=fd, env=env,
                        pass_fds=(*pass_fds, go_read, status.write_fd),
                        preexec_fn=lambda: sandbox.confine(root),
                    )
                finally:
                    os.close(go_read)
            else:
                command, env = self.fallback_command(run_main, raw)
                self.proc = subprocess.Popen(
                    command, stdin=fd, stdout=fd, stderr=fd, env=env, cwd=DEVICE_DIR,
                    pass_fds=(status.write_fd,), start_new_session=True,
                )
        except BaseException:
            status.close()
            raise
        status.started(self.proc.pid)
        self.status = status
        self._enter(BoardState.RAW_BOOTING if raw else BoardState.BOOTING)
        self.hold_until = math.inf  # until the new interpreter first reads its console
        self.pending_marker = b""
        self.output_tail = b""
        self.sigint_at = 0.0  # a new interpreter: no SIGINT of the last one is pending

    def release_boot(self) -> None:
        """Lets a firmware that has mounted its flash go on to boot.py and main.py."""
        if self.boot_go >= 0:
            with contextlib.suppress(OSError):
                os.write(self.boot_go, b"g")
            os.close(self.boot_go)
            self.boot_go = -1

    def firmware_command(self, run_main: bool, raw: bool
                         ) -> tuple[list[str], dict[str, str], tuple[int, ...]]:
        """ember's firmware: settings in a clean environment, flash and UARTs as descriptors."""
        env = {
            "MICROPYPATH": ".frozen",
            "EMBER_SIM_FLASH_FD": str(self.flash_fd),
            "EMBER_SIM_BLOCK_SIZE": str(self.config.block_size),
            "EMBER_SIM_MAIN": "1" if run_main else "0",
            "EMBER_SIM_RAW": "1" if raw else "0",
            "EMBER_SIM_UID": self.uid,
            "EMBER_SIM_FREQ": str(self.config.freq_hz),
            "EMBER_SIM_RESET_CAUSE": str(self.reset_cause),
            "EMBER_SIM_PIN_WIRES": self.config.pin_wires,
        }
        pass_fds = [self.flash_fd]
        for n, (_host_end, board_end) in self.uart_ends.items():
            env[f"EMBER_SIM_UART{n}_FD"] = str(board_end.slave)
            pass_fds.append(board_end.slave)
        command = [f"./{sandbox.FIRMWARE_NAME}", "-X", f"heapsize={self.config.heap_bytes}",
                   "-i", "-c", BOOT_COMMAND]
        return command, env, tuple(pass_fds)

    def fallback_command(self, run_main: bool, raw: bool) -> tuple[list[str], dict[str, str]]:
        """The PyPI 64-bit interpreter, made board-like by boards/virtual/sim_boot.py."""
        env = dict(os.environ)
        env.update(
            EMBER_SIM_IMAGE=str(self.image),
            EMBER_SIM_BLOCK_SIZE=str(self.config.block_size),
            EMBER_SIM_MAIN="1" if run_main else "0",
            EMBER_SIM_RAW="1" if raw else "0",
            EMBER_SIM_UID=self.uid,
            EMBER_SIM_FREQ=str(self.config.freq_hz),
            EMBER_SIM_DIR=str(DEVICE_DIR),
        )
        for n, (_host_end, board_end) in self.uart_ends.items():
            env[f"EMBER_SIM_UART{n}"] = board_end.slave_path
        command = [str(find_micropython()), "-X", f"heapsize={self.config.heap_bytes}", "-i",
                   str(DEVICE_DIR / "sim_boot.py")]
        return command, env

    def forget_interpreter(self) -> None:
        """After its exit: the board is between two starts (RESET)."""
        assert self.status is not None
        self.status.close()
        self.proc, self.status = None, None
        self._enter(BoardState.RESET)
        self.release_boot()

    def kill_interpreter(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        self.forget_interpreter()
        self.to_interp.clear()
        self.held.clear()
        self.before_mount.clear()
        self.drain_unread_input()

    def drain_unread_input(self) -> bytes:
        """Takes back what the interpreter was sent but never read (still in its terminal)."""
        os.set_blocking(self.interp_tty.slave, False)
        try:
            return read_available(self.interp_tty.slave)
        finally:
            os.set_blocking(self.interp_tty.slave, True)

    def on_interpreter_exit(self) -> None:
        assert self.proc is not None
        code = self.proc.wait()
        raw = self.state in RAW  # the REPL it was in (or booting back to)
        self.forget_interpreter()
        self.drain_interpreter_output()
        # What the host sent while the firmware restarted waits for the next one, as a UART's
        # receive buffer keeps it across a soft reset: unread input first, then the rest.
        self.held[:0] = self.drain_unread_input() + bytes(self.to_interp)
        self.to_interp.clear()
        if code == -signal.SIGUSR2 or (code < 0 and code != -signal.SIGUSR1):
            self.reset_cause = 2  # machine.HARD_RESET
            self.held.clear()  # a hard reset drops what the UART held
            self.before_mount.clear()
            self.boot(run_main=True, raw=False)  # machine.reset() or a crash: a hard reset
        else:
            self.reset_cause = 5  # machine.SOFT_RESET
            self.emit(SOFT_REBOOT)
            self.boot(run_main=not raw, raw=raw)

    def soft_reset_from_raw_repl(self) -> None:
        self.kill_interpreter()
        self.reset_cause = 5  # machine.SOFT_RESET
        self.emit(b"OK\r\n" + SOFT_REBOOT)
        self.boot(run_main=False, raw=True)

    def power_cut(self) -> None:
        self.kill_interpreter()
        self._enter(BoardState.OFF)
        self.to_host.clear()

    # -- data paths -----------------------------------------------------------------------
    def emit(self, data: bytes) -> None:
        if self.state is not BoardState.OFF:
            self.host.queue(data)

    def running_code(self) -> bool:
        """False only while the REPL waits at a prompt: its last words were a prompt and it
        is blocked reading the terminal. (The unix port's terminal modes can't tell: it
        saves the "original" settings anew each time its REPL starts.)"""
        if self.status is None:
            return False
        return not (self.output_tail.endswith(PROMPT_ENDS) and self.status.waiting())

    def from_host(self, data: bytes) -> None:
        if self.state is BoardState.OFF or self.proc is None:
            return
        limit = self.config.power_cut_after
        cut = limit is not None and self.host_bytes + len(data) >= limit
        if cut:
            data = data[: limit - self.host_bytes]
        self.host_bytes += len(data)
        if self.state in BOOTS:
            # Until the flash is mounted, the interpreter still sees the host's filesystem:
            # a Ctrl-C now would leave its REPL there. Nothing reaches it before the mount.
            self.before_mount += data
        else:
            self.take_host_input(data)
        if cut:
            self.flush_held(force=True)
            self.write_pending_to_interpreter()
            self.power_cut()

    def take_host_input(self, data: bytes) -> None:
        if CTRL_C in data or CTRL_D in data:
            data = self.handle_control_bytes(data)
        if data:
            if self.state is BoardState.RAW_PROMPT:
                self._enter(BoardState.RAW_REPL)  # typed at: no longer a fresh prompt
            self.held += data

    def on_mounted(self) -> None:
        raw = self.state is BoardState.RAW_BOOTING
        self._enter(BoardState.RAW_BOOT_SCRIPTS if raw else BoardState.FRIENDLY_REPL)
        early, self.before_mount = bytes(self.before_mount), bytearray()
        if early:
            self.take_host_input(early)  # a Ctrl-C typed while booting: its SIGINT now,
        self.release_boot()  # then the go byte, so the firmware handles it before boot.py

    def handle_control_bytes(self, data: bytes) -> bytes:
        assert self.proc is not None and self.status is not None
        out = bytearray()
        for at, byte in enumerate(data):
            if byte == CTRL_C and self.running_code() and self.status.sigint_caught():
                now = time.monotonic()
                if now - self.sigint_at > 0.1:  # a second SIGINT before the first is handled
                    self.status.interrupted()  # would make the unix port exit
                    self.proc.send_signal(signal.SIGINT)
                    self.sigint_at = now
                    self.hold_until = max(self.hold_until, now + SIGINT_SETTLE_S)
                continue
            if (
                byte == CTRL_D
                and self.state is BoardState.RAW_PROMPT
                and not out
                and not self.held
                and not self.running_code()
            ):
                self.soft_reset_from_raw_repl()
                # What the host typed after the reset request waits for the new firmware's
                # raw REPL, as a board's UART buffer keeps it through a soft reset.
                self.take_host_input(data[at + 1 :])
                return b""
            out.append(byte)
        return bytes(out)

    def hold_input(self) -> bool:
        """Whether host input must wait: until the interpreter reads its terminal (as it starts,
        and after a SIGINT), and during the quiet entry into the raw REPL after a reset."""
        if self.status is None:
            return True
        if self.state not in REPL:
            # Booting: input typed during a reset waits for the REPL the board comes back
            # to (the raw one after a raw-REPL reset), whatever the interpreter is doing.
            return True
        if not self.hold_until:
            return False
        if self.status.waiting():
            self.hold_until = 0.0
            self.sigint_at = 0.0
            return False
        if time.monotonic() > self.hold_until:  # a SIGINT not taken in time: hold no more
            self.hold_until = 0.0
            self.sigint_at = 0.0
            self.status.forgive_interrupts()
            return False
        return True

    def flush_held(self, force: bool = False) -> None:
        if self.held and (force or not self.hold_input()):
            self.to_interp += self.held
            self.held.clear()

    def from_interpreter(self, data: bytes) -> None:
        data = self.pending_marker + data
        self.pending_marker = b""
        # The markers count only while booting: a program that prints one is just output.
        if self.state in BOOTS and MOUNTED_MARKER in data:
            before, after = data.split(MOUNTED_MARKER, 1)
            self.from_interpreter(before)
            self.on_mounted()
            data = self.pending_marker + after
            self.pending_marker = b""
        awaiting_raw = self.state in (BoardState.RAW_BOOTING, BoardState.RAW_BOOT_SCRIPTS)
        if self.state is BoardState.RAW_BOOT_SCRIPTS and RAW_MARKER in data:
            before, after = data.split(RAW_MARKER, 1)
            self.track_and_emit(before)
            self._enter(BoardState.RAW_ENTRY_PROMPT)
            data = after
        else:
            # Keep back a tail that could be the start of a marker split across reads.
            for keep in range(min(len(MOUNTED_MARKER) - 1, len(data)), 0, -1):
                tail = data[-keep:]
                if ((awaiting_raw and RAW_MARKER.startswith(tail))
                        or (self.state in BOOTS and MOUNTED_MARKER.startswith(tail))):
                    self.pending_marker = tail
                    data = data[:-keep]
                    break
        if self.state is BoardState.RAW_ENTRY_PROMPT:
            self.output_tail = (self.output_tail + data)[-64:]
            if self.output_tail.endswith(FRIENDLY_PROMPT):
                self.to_interp += b"\x01"  # ctrl-A: into the raw REPL, quietly
                self._enter(BoardState.RAW_ENTRY_BANNER)
                self.output_tail = b""
            return
        if self.state is BoardState.RAW_ENTRY_BANNER:
            self.output_tail = (self.output_tail + data)[-256:]
            start = self.output_tail.find(RAW_BANNER)
            if start < 0:
                return
            data = self.output_tail[start:]
            self.output_tail = b""
        self.track_and_emit(data)

    def track_and_emit(self, data: bytes) -> None:
        if not data:
            return
        tail = (self.output_tail + data)[-64:]
        self.output_tail = tail
        if self.state in REPL or self.state is BoardState.RAW_ENTRY_BANNER:
            # The REPL's own words say which REPL it is in, and whether at a fresh raw prompt.
            raw = self.state in RAW
            if RAW_BANNER in tail:
                raw = True
            if tail.endswith(FRIENDLY_PROMPT):
                raw = False
            self._enter(repl_state(raw, raw and tail.endswith(RAW_PROMPT_ENDS)))
        self.emit(data)

    def drain_interpreter_output(self) -> None:
        data = read_available(self.interp_tty.master)
        if data:
            self.from_interpreter(data)

    def write_pending_to_interpreter(self) -> None:
        if self.to_interp:
            with contextlib.suppress(BlockingIOError):
                written = os.write(self.interp_tty.master, self.to_interp)
                del self.to_interp[:written]
                if self.status is not None:
                    self.status.wrote(written)

    # -- the loop -------------------------------------------------------------------------
    def request(self, request: Request, wake: bytes) -> None:
        """From a signal handler: noted now, acted on in step() (or by run()'s loop)."""
        self.requests.add(request)
        with contextlib.suppress(OSError):
            os.write(self.wake_w, wake)

    def request_stop(self, *_args: object) -> None:
        self.request(Request.STOP, b"s")

    def request_reflash(self, *_args: object) -> None:
        """SIGHUP: `ember flash --firmware` has put a new image in place; boot it."""
        self.request(Request.REFLASH, b"f")

    def reflash(self) -> None:
        self.kill_interpreter()
        self.reset_cause = 1  # machine.PWRON_RESET: new firmware, as after esptool's reset
        self.boot(run_main=True, raw=False)
        state = self.config.state_dir
        with contextlib.suppress(OSError):
            (state / REFLASH_DONE).write_text((state / REFLASH_REQUEST).read_text())

    def request_power_cut(self, *_args: object) -> None:
        self.request(Request.POWER_CUT, b"p")

    def step(self) -> None:
        now = time.monotonic()
        poller = select.poll()
        host, interp = self.console.master, self.interp_tty.master
        host_events, timeout_s = self.host.wanted(
            now, room=len(self.held) + len(self.to_interp) < BUFFER_LIMIT)
        if host_events:
            poller.register(host, host_events)
        interp_events = 0
        if self.proc is not None and len(self.to_host) < BUFFER_LIMIT:
            interp_events |= select.POLLIN
        if self.to_interp:
            interp_events |= select.POLLOUT
        if interp_events:
            poller.register(interp, interp_events)
        if self.status is not None:  # reports, and its end of file at the interpreter's exit
            poller.register(self.status.fileno(), select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        if self.held:
            timeout_s = min(timeout_s, 0.001)  # re-check whether the interpreter can take it
        for (host_end, board_end), (to_board, to_host) in zip(
            self.uart_ends.values(), self.uart_buffers.values(), strict=True
        ):
            poller.register(host_end.master, select.POLLIN | (select.POLLOUT if to_host else 0))
            poller.register(board_end.master, select.POLLIN | (select.POLLOUT if to_board else 0))
        events = poller.poll(max(0, int(timeout_s * 1000)) if timeout_s < 1.0 else 1000)
        ready = {fd: mask for fd, mask in events}
        if self.wake_r in ready:
            os.read(self.wake_r, 64)
        if Request.POWER_CUT in self.requests:
            self.requests.discard(Request.POWER_CUT)
            self.power_cut()
        if Request.REFLASH in self.requests:
            self.requests.discard(Request.REFLASH)
            self.reflash()
        now = time.monotonic()
        if ready.get(interp, 0) & (select.POLLIN | select.POLLHUP):
            try:
                data = os.read(interp, READ_CHUNK)
            except (BlockingIOError, OSError):
                data = b""
            if data:
                self.from_interpreter(data)
        typed = self.host.receive(now, ready.get(host, 0))
        if typed:
            self.from_host(typed)
        if (self.status is not None and self.status.fileno() in ready
                and not self.status.read()):
            self.on_interpreter_exit()
        self.flush_held()
        if self.to_interp and self.proc is not None:
            self.write_pending_to_interpreter()
        self.host.send(now, ready.get(host, 0) & host_events)
        for (host_end, board_end), (to_board, to_host) in zip(
            self.uart_ends.values(), self.uart_buffers.values(), strict=True
        ):
            relay(host_end.master, ready, to_board)
            relay(board_end.master, ready, to_host)
            flush(host_end.master, ready, to_host)
            flush(board_end.master, ready, to_board)

    def run(self, ready_fd: int | None) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGUSR1, self.request_power_cut)
        signal.signal(signal.SIGHUP, self.request_reflash)
        record = registry.SimRecord(
            pid=os.getpid(),
            port=self.console.slave_path,
            board=self.config.board,
            state_dir=str(self.config.state_dir),
            baud=self.config.baud,
            uarts={str(n): host_end.slave_path for n, (host_end, _) in self.uart_ends.items()},
            log=str(self.config.state_dir / "supervisor.log"),
            ephemeral=self.config.ephemeral,
            firmware=(str(sandbox.firmware_path(self.config.state_dir))
                      if self.config.firmware else ""),
        )
        self.boot(run_main=True, raw=False)
        registry.publish(record)
        if ready_fd is not None:
            os.write(ready_fd, record.to_json().encode() + b"\n")
            os.close(ready_fd)
        try:
            while Request.STOP not in self.requests:
                self.step()
        finally:
            self.kill_interpreter()
            self._enter(BoardState.STOPPED)
            registry.withdraw(record.pid)
            for pair in [self.console, self.interp_tty]:
                pair.close()
            os.close(self.flash_fd)
            for ends in self.uart_ends.values():
                for pair in ends:
                    pair.close()
            if self.config.ephemeral:
                import shutil

                shutil.rmtree(self.config.state_dir, ignore_errors=True)


def read_available(fd: int) -> bytes:
    """All a non-blocking descriptor holds now."""
    data = bytearray()
    while True:
        try:
            chunk = os.read(fd, READ_CHUNK)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def relay(fd: int, ready: dict[int, int], into: bytearray) -> None:
    if ready.get(fd, 0) & select.POLLIN and len(into) < BUFFER_LIMIT:
        with contextlib.suppress(BlockingIOError, OSError):
            into += os.read(fd, READ_CHUNK)


def flush(fd: int, ready: dict[int, int], pending: bytearray) -> None:
    if pending and ready.get(fd, 0) & select.POLLOUT:
        with contextlib.suppress(BlockingIOError, OSError):
            del pending[: os.write(fd, pending)]


def parse_args(argv: list[str]) -> tuple[SimConfig, int | None]:
    parser = argparse.ArgumentParser(prog="python -m host_tools.sim.supervisor")
    parser.add_argument("--board", required=True)
    parser.add_argument("--heap-bytes", type=int, required=True)
    parser.add_argument("--fs-bytes", type=int, required=True)
    parser.add_argument("--block-size", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--baud", type=int)
    parser.add_argument("--power-cut-after", type=int)
    parser.add_argument("--uarts", default="1")
    parser.add_argument("--freq", type=int, default=125_000_000)
    parser.add_argument("--ephemeral", action="store_true")
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--noise-seed", type=int, default=0)
    parser.add_argument("--ready-fd", type=int)
    parser.add_argument("--firmware", action="store_true",
                        help="run STATE/root/firmware (ember's build), not the PyPI interpreter")
    parser.add_argument("--pin-wires", default="")
    args = parser.parse_args(argv)
    config = SimConfig(
        board=args.board,
        heap_bytes=args.heap_bytes,
        fs_bytes=args.fs_bytes,
        block_size=args.block_size,
        state_dir=args.state,
        baud=args.baud,
        power_cut_after=args.power_cut_after,
        uarts=tuple(int(n) for n in args.uarts.split(",") if n),
        freq_hz=args.freq,
        ephemeral=args.ephemeral,
        noise_rate=args.noise,
        noise_seed=args.noise_seed,
        firmware=args.firmware,
        pin_wires=args.pin_wires,
    )
    return config, args.ready_fd


def main(argv: list[str] | None = None) -> None:
    config, ready_fd = parse_args(sys.argv[1:] if argv is None else argv)
    Supervisor(config).run(ready_fd)


if __name__ == "__main__":
    main()
