"""The bare-metal virtual board's supervisor: relays a pty to MicroPython running under QEMU.

One process per board, started by the launcher for a `qemu` profile (qemu-mps2-an385). The
firmware is bare metal and does a board's work itself: its REPLs, Ctrl-C, soft reset, and a
hard reset (machine.reset() restarts the machine in place, flash kept). So unlike the unix
board's supervisor (supervisor.py) this one plays no REPL states; it relays bytes between
the host's pty and QEMU's UART0 (a second pty, which QEMU opens by path) and adds the
faults of the link and the power, with the same parts as the unix board:

- link speed: both directions paced to baud/10 bytes per second (host_side.py);
- line noise: bytes flipped or dropped at a seeded rate, both directions (host_side.py);
- power cut: after N bytes from the host, or on SIGUSR1, QEMU is killed at once and the port
  stays open but silent; the flash image keeps every store made before (board_flash.c);
- reflash (SIGHUP, `ember flash --firmware`): QEMU restarts on the new ELF, flash kept;
- UART1 (machine.UART(1)): QEMU's second serial port, on a pty pair of its own whose host
  end is published beside the console, relayed as the unix board's UARTs are.

The flash image is QEMU's memory-backend-file behind the machine's 16 MiB PSRAM, shared
with the file: the first fs_bytes hold the littlefs2 filesystem. QEMU runs without
semihosting (the guest has no call that names a host file) in a session of its own that dies
with this supervisor, and with QEMU's seccomp sandbox on where QEMU has it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from host_tools.sim import registry, sandbox
from host_tools.sim.host_side import HostSide
from host_tools.sim.ptys import open_raw_pair
from host_tools.sim.states import Request
from host_tools.sim.supervisor import (
    BUFFER_LIMIT,
    READ_CHUNK,
    REFLASH_DONE,
    REFLASH_REQUEST,
    flush,
    relay,
)

QEMU = "qemu-system-arm"
MACHINE = "mps2-an385"
FLASH_REGION_BYTES = 16 * 1024 * 1024  # the PSRAM QEMU's mps2-an385 has (and must have)
QEMU_PACKAGE = "qemu-system-arm"
QEMU_HELP = f"install Debian's {QEMU_PACKAGE} (apt-get install {QEMU_PACKAGE})"
# QEMU that ends this soon after it started did not boot at all (a broken ELF, an image it
# cannot map): restarting it again would only spin.
FAILED_START_S = 2.0


class QemuMissing(RuntimeError):
    """qemu-system-arm is not on PATH."""


def find_qemu() -> str:
    found = shutil.which(QEMU)
    if found is None:
        raise QemuMissing(f"{QEMU} not found: the qemu board runs under it; {QEMU_HELP}")
    return found


def prepare_flash(state_dir: Path, fs_bytes: int) -> Path:
    """The image behind the flash region: made on first use with the filesystem's part
    erased (0xFF) and the rest of the 16 MiB left sparse; never resized."""
    image = state_dir / "flash.img"
    if not image.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        with open(image, "wb") as f:
            f.write(b"\xff" * fs_bytes)
            f.truncate(FLASH_REGION_BYTES)
    elif image.stat().st_size != FLASH_REGION_BYTES:
        raise SystemExit(f"{image}: holds {image.stat().st_size} bytes, but the qemu board's "
                         f"flash image is its {FLASH_REGION_BYTES}-byte PSRAM region (the "
                         f"filesystem in its first {fs_bytes}): is it another board's state?")
    return image


def qemu_command(qemu: str, kernel: Path, image: Path, serials: tuple[str, ...],
                 sandboxed: bool) -> list[str]:
    """QEMU with the board's ELF, its UARTs on `serials` (UART0 first), its PSRAM backed by
    `image`."""
    command = [
        qemu, "-machine", f"{MACHINE},memory-backend=flash",
        "-object", f"memory-backend-file,id=flash,size={FLASH_REGION_BYTES},"
                   f"mem-path={image},share=on",
        "-display", "none", "-monitor", "none", "-nodefaults", "-net", "none",
        *(arg for path in serials for arg in ("-serial", path)),
        "-kernel", str(kernel),
    ]  # fmt: skip
    if sandboxed:
        command += ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                                "resourcecontrol=deny"]
    return command


def has_seccomp(qemu: str) -> bool:
    """Whether this QEMU was built with its seccomp sandbox: its help lists -sandbox only
    then."""
    probe = subprocess.run([qemu, "-help"], capture_output=True, text=True, check=False,
                           stdin=subprocess.DEVNULL)
    return any(line.startswith("-sandbox ") for line in probe.stdout.splitlines())


@dataclass
class QemuConfig:
    board: str
    fs_bytes: int
    state_dir: Path
    baud: int | None = None
    power_cut_after: int | None = None
    ephemeral: bool = False
    noise_rate: float = 0.0
    noise_seed: int = 0


class QemuSupervisor:
    """Relays host pty <-> QEMU's UART0 pty, with the link's and the power's faults."""

    def __init__(self, config: QemuConfig) -> None:
        self.config = config
        self.qemu = find_qemu()
        self.sandboxed = has_seccomp(self.qemu)
        self.image = prepare_flash(config.state_dir, config.fs_bytes)
        self.kernel = sandbox.firmware_path(config.state_dir)
        self.console = open_raw_pair()
        self.uart0 = open_raw_pair()
        self.uart1 = (open_raw_pair(), open_raw_pair())  # (host end, QEMU's end)
        self.uart1_buffers = (bytearray(), bytearray())  # (to the board, to the host)
        self.host = HostSide(self.console.master, config.baud, config.noise_rate,
                             config.noise_seed)
        self.to_host = self.host.to_host  # one buffer: the host side only ever mutates it
        self.to_board = bytearray()
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.powered = False
        self.host_bytes = 0
        self.requests: set[Request] = set()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)

    # -- QEMU's lifecycle ------------------------------------------------------------------
    def boot(self) -> None:
        """Powers the board on: QEMU starts on the ELF in the state's root folder."""
        root = str(sandbox.root_dir(self.config.state_dir))
        log = open(self.config.state_dir / "qemu.log", "ab")  # noqa: SIM115 - QEMU's stderr
        try:
            self.proc = subprocess.Popen(
                qemu_command(self.qemu, self.kernel, self.image,
                             (self.uart0.slave_path, self.uart1[1].slave_path), self.sandboxed),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=root,
                preexec_fn=sandbox.confine_process,
            )
        finally:
            log.close()
        self.started_at = time.monotonic()
        self.powered = True

    def kill(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.to_board.clear()
        for buffer in self.uart1_buffers:
            buffer.clear()
        for pty in (self.uart0, self.uart1[1]):
            self.drain(pty.slave)  # what the board was sent but never read goes too

    def drain(self, fd: int) -> None:
        os.set_blocking(fd, False)
        try:
            with contextlib.suppress(BlockingIOError, OSError):
                while os.read(fd, READ_CHUNK):
                    pass
        finally:
            os.set_blocking(fd, True)

    def power_cut(self) -> None:
        self.kill()
        self.powered = False
        self.to_host.clear()

    def reflash(self) -> None:
        self.kill()
        self.to_host.clear()
        self.boot()
        state = self.config.state_dir
        with contextlib.suppress(OSError):
            (state / REFLASH_DONE).write_text((state / REFLASH_REQUEST).read_text())

    def on_qemu_exit(self) -> None:
        """QEMU ended by itself (it should not: a reset restarts the machine in place):
        logged, and the board powered on again, as a crashed board's watchdog would; unless
        it ended at once, when the board stays off (qemu.log says why)."""
        assert self.proc is not None
        code = self.proc.wait()
        self.proc = None
        if time.monotonic() - self.started_at < FAILED_START_S:
            print(f"ember: qemu exited with {code} as it started; the board stays off "
                  f"(see {self.config.state_dir / 'qemu.log'})", file=sys.stderr, flush=True)
            self.powered = False
            return
        print(f"ember: qemu exited with {code}; restarting it", file=sys.stderr, flush=True)
        self.boot()

    # -- data paths -----------------------------------------------------------------------
    def from_host(self, data: bytes) -> None:
        if not self.powered:
            return
        limit = self.config.power_cut_after
        cut = limit is not None and self.host_bytes + len(data) >= limit
        if cut:
            assert limit is not None
            data = data[: limit - self.host_bytes]
        self.host_bytes += len(data)
        self.to_board += data
        if cut:
            self.write_to_board()
            self.power_cut()

    def from_board(self, data: bytes) -> None:
        if self.powered:
            self.host.queue(data)

    def write_to_board(self) -> None:
        if self.to_board:
            with contextlib.suppress(BlockingIOError, OSError):
                del self.to_board[: os.write(self.uart0.master, self.to_board)]

    # -- the loop -------------------------------------------------------------------------
    def request(self, request: Request, wake: bytes) -> None:
        """From a signal handler: noted now, acted on in step()."""
        self.requests.add(request)
        with contextlib.suppress(OSError):
            os.write(self.wake_w, wake)

    def step(self) -> None:
        now = time.monotonic()
        host, board = self.console.master, self.uart0.master
        poller = select.poll()
        host_events, timeout_s = self.host.wanted(now, room=len(self.to_board) < BUFFER_LIMIT)
        if host_events:
            poller.register(host, host_events)
        board_events = select.POLLIN if len(self.to_host) < BUFFER_LIMIT else 0
        if self.to_board:
            board_events |= select.POLLOUT
        if board_events:
            poller.register(board, board_events)
        poller.register(self.wake_r, select.POLLIN)
        (uart_host, uart_board), (to_board, to_host) = self.uart1, self.uart1_buffers
        poller.register(uart_host.master, select.POLLIN | (select.POLLOUT if to_host else 0))
        poller.register(uart_board.master, select.POLLIN | (select.POLLOUT if to_board else 0))
        ready = dict(poller.poll(max(1, int(timeout_s * 1000))))
        if self.wake_r in ready:
            os.read(self.wake_r, 64)
        if Request.POWER_CUT in self.requests:
            self.requests.discard(Request.POWER_CUT)
            self.power_cut()
        if Request.REFLASH in self.requests:
            self.requests.discard(Request.REFLASH)
            self.reflash()
        if self.proc is not None and self.proc.poll() is not None:
            self.on_qemu_exit()
        now = time.monotonic()
        if ready.get(board, 0) & select.POLLIN:
            with contextlib.suppress(BlockingIOError, OSError):
                self.from_board(os.read(board, READ_CHUNK))
        typed = self.host.receive(now, ready.get(host, 0))
        if typed:
            self.from_host(typed)
        self.write_to_board()
        self.host.send(now, ready.get(host, 0) & host_events)
        relay(uart_host.master, ready, to_board)
        relay(uart_board.master, ready, to_host)
        flush(uart_host.master, ready, to_host)
        flush(uart_board.master, ready, to_board)

    def run(self, ready_fd: int | None) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.request(Request.STOP, b"s"))
        signal.signal(signal.SIGINT, lambda *_: self.request(Request.STOP, b"s"))
        signal.signal(signal.SIGUSR1, lambda *_: self.request(Request.POWER_CUT, b"p"))
        signal.signal(signal.SIGHUP, lambda *_: self.request(Request.REFLASH, b"f"))
        record = registry.SimRecord(
            pid=os.getpid(),
            port=self.console.slave_path,
            board=self.config.board,
            state_dir=str(self.config.state_dir),
            baud=self.config.baud,
            uarts={"1": self.uart1[0].slave_path},
            log=str(self.config.state_dir / "supervisor.log"),
            ephemeral=self.config.ephemeral,
            firmware=str(self.kernel),
        )
        self.boot()
        registry.publish(record)
        if ready_fd is not None:
            os.write(ready_fd, record.to_json().encode() + b"\n")
            os.close(ready_fd)
        try:
            while Request.STOP not in self.requests:
                self.step()
        finally:
            self.kill()
            registry.withdraw(record.pid)
            for pair in (self.console, self.uart0, *self.uart1):
                pair.close()
            if self.config.ephemeral:
                shutil.rmtree(self.config.state_dir, ignore_errors=True)


def parse_args(argv: list[str]) -> tuple[QemuConfig, int | None]:
    parser = argparse.ArgumentParser(prog="python -m host_tools.sim.qemu_supervisor")
    parser.add_argument("--board", required=True)
    parser.add_argument("--fs-bytes", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--baud", type=int)
    parser.add_argument("--power-cut-after", type=int)
    parser.add_argument("--ephemeral", action="store_true")
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--noise-seed", type=int, default=0)
    parser.add_argument("--ready-fd", type=int)
    args = parser.parse_args(argv)
    config = QemuConfig(board=args.board, fs_bytes=args.fs_bytes, state_dir=args.state,
                        baud=args.baud, power_cut_after=args.power_cut_after,
                        ephemeral=args.ephemeral, noise_rate=args.noise,
                        noise_seed=args.noise_seed)
    return config, args.ready_fd


def main(argv: list[str] | None = None) -> None:
    config, ready_fd = parse_args(sys.argv[1:] if argv is None else argv)
    QemuSupervisor(config).run(ready_fd)


if __name__ == "__main__":
    main()
