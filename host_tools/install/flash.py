"""Writes firmware images with the board's flasher: esptool, a UF2 drive copy, dfu-util, bossac.

Flashers are small classes chosen by the profile's `flash.flasher` (the FLASHERS registry, as
esptool keeps one class per chip). Each builds its tool's command line in a pure function, so
tests check it without hardware, and checks the image before anything touches the board: the
file suffix, then its format (ESP image magic, UF2 block magics and family, DfuSe prefix).
Boards that must enter a bootloader first are asked to with `machine.bootloader()` through
the Link; afterwards the serial port is awaited so the runtime install can follow.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import string
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import ClassVar, Protocol

from host_tools.boards.profiles import BoardProfile, load_profile
from host_tools.errors import CommandError, EmberError, LinkError
from host_tools.link import device_code
from host_tools.link.session import Link
from host_tools.sim import registry

UF2_DRIVE_ENV = "EMBER_UF2_DRIVE"  # a folder to use as the UF2 boot drive (tests, odd mounts)
PORT_TIMEOUT_S = 20.0  # the board's serial port comes back after flashing
BOOTLOADER_TIMEOUT_S = 20.0  # a UF2 drive mounts / a DFU device enumerates
TOOL_TIMEOUT_S = 600.0  # one flashing tool run
POLL_S = 0.2  # how often a drive, device or port is looked for (no event to wait on)

# esptool: MicroPython's deploy instructions (ports/esp32/boards/*/board.json "flash_offset",
# deploy_s2.md, deploy_s3.md, deploy_c3.md; the esp8266 tutorial writes at 0).
ESPTOOL_BAUD = 460800
ESP_FLASH_OFFSETS: dict[str, int] = {
    "esp8266": 0x0,
    "esp32": 0x1000,
    "esp32s2": 0x1000,
    "esp32s3": 0x0,
    "esp32c2": 0x0,
    "esp32c3": 0x0,
    "esp32c6": 0x0,
    "esp32c5": 0x2000,
    "esp32p4": 0x2000,
}
BOOTLOADER_REQUEST = ("host/probe.py", "enter_bootloader")  # machine.bootloader() on the board
ESP_IMAGE_MAGIC = 0xE9  # first byte of every ESP application/bootloader image

# UF2 (github.com/microsoft/uf2 README): 512-byte blocks, magics at offsets 0, 4 and 508.
UF2_BLOCK = 512
UF2_MAGIC_START0 = 0x0A324655  # "UF2\n"
UF2_MAGIC_START1 = 0x9E5D5157
UF2_MAGIC_END = 0x0AB16F30
UF2_FLAG_FAMILY = 0x00002000  # the file-size word holds a family id
UF2_INFO = "INFO_UF2.TXT"
# Family ids (uf2families.json) and drive Board-IDs, by the start of the profile's chip name.
UF2_FAMILIES: dict[str, int] = {"rp2040": 0xE48BFF56, "samd21": 0x68ED2B88, "samd51": 0x55114460}
UF2_BOARD_IDS: dict[str, str] = {"rp2040": "RPI-RP2", "samd21": "SAMD21", "samd51": "SAMD51"}
UF2_MOUNT_GLOBS = ("/media/*/*", "/run/media/*/*", "/media/*", "/Volumes/*")

# STM32 ROM bootloader in DFU mode (AN2606); MicroPython's stm32 Makefile uses the same id.
DFU_DEVICE = "0483:df11"
DFUSE_PREFIX = b"DfuSe"

# bossac: application offset after the SAM-BA/Arduino bootloader.
BOSSAC_OFFSETS: dict[str, int] = {"samd21": 0x2000, "samd51": 0x4000}


class LinkLike(Protocol):
    def start(self, code: str | bytes) -> None: ...


LinkOpener = Callable[[str], AbstractContextManager[LinkLike]]
Runner = Callable[[Sequence[str], bool], "subprocess.CompletedProcess[str]"]


def _require_tool(name: str, install: str, purpose: str) -> str:
    """The path of an external flashing tool, or a one-line error saying how to get it."""
    found = shutil.which(name)
    if found is None:
        raise CommandError(f"{name} is not installed ({install}): {purpose}")
    return found


def run_tool(command: Sequence[str], quiet: bool) -> subprocess.CompletedProcess[str]:
    """Runs a flashing tool; quiet captures its output, else the tool prints its own progress."""
    try:
        return subprocess.run(list(command), capture_output=quiet, text=True,
                              timeout=TOOL_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise CommandError(f"{command[0]}: not found") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"{Path(command[0]).name} did not finish within "
                           f"{TOOL_TIMEOUT_S:.0f} s") from None


def _tool_failed(tool: str, result: subprocess.CompletedProcess[str]) -> CommandError:
    lines = [line.strip() for line in (result.stdout or "").splitlines()
             + (result.stderr or "").splitlines() if line.strip()]
    fatal = [line for line in lines if "fatal error" in line.lower()]
    errors = [line for line in lines if "error" in line.lower()]
    reason = (fatal or errors or lines or ["its output is above"])[-1]
    return CommandError(f"{tool} failed (exit {result.returncode}): {reason}")


def _chip_key(chip: str, table: Mapping[str, object]) -> str | None:
    """The table key the chip name starts with ('samd21x18a' -> 'samd21'), if any."""
    name = chip.lower().replace("-", "")
    for key in sorted(table, key=len, reverse=True):
        if name.startswith(key):
            return key
    return None


# --- command lines (pure) -------------------------------------------------------------------


def esptool_args(chip: str, port: str, image: Path, baud: int = ESPTOOL_BAUD) -> list[str]:
    """esptool's arguments to write a MicroPython image at the chip's documented offset."""
    key = chip.lower().replace("-", "")
    if key not in ESP_FLASH_OFFSETS:
        known = ", ".join(ESP_FLASH_OFFSETS)
        raise CommandError(f"no firmware offset known for esptool chip {chip!r}; known: {known}")
    # The esp8266 tutorial asks for --flash-size detect: its images are built for any size.
    size = ["--flash-size", "detect"] if key == "esp8266" else []
    return ["--chip", key, "--port", port, "--baud", str(baud), "write-flash", *size,
            hex(ESP_FLASH_OFFSETS[key]), str(image)]


def dfu_util_args(image: Path, device: str = DFU_DEVICE) -> list[str]:
    """dfu-util's arguments to download a DfuSe image to alt setting 0 of the device."""
    return ["-a", "0", "-d", device, "-D", str(image)]


def bossac_args(chip: str, port: str, image: Path) -> list[str]:
    """bossac's arguments: erase, write after the bootloader, verify, reset."""
    key = _chip_key(chip, BOSSAC_OFFSETS)
    if key is None:
        known = ", ".join(BOSSAC_OFFSETS)
        raise CommandError(f"no bossac offset known for chip {chip!r}; known: {known}")
    return ["-p", port, "-U", "-e", "-w", "-v", "-R", f"--offset={hex(BOSSAC_OFFSETS[key])}",
            str(image)]


# --- image checks (pure) --------------------------------------------------------------------


def check_uf2(data: bytes, name: str, chip: str | None = None) -> int:
    """Checks every block's magics (and the family against the chip); returns the block count."""
    if not data or len(data) % UF2_BLOCK:
        raise CommandError(f"{name} is not a UF2 file: {len(data)} bytes is not a whole number "
                           f"of {UF2_BLOCK}-byte blocks")
    family_key = _chip_key(chip, UF2_FAMILIES) if chip else None
    for index in range(len(data) // UF2_BLOCK):
        block = data[index * UF2_BLOCK:(index + 1) * UF2_BLOCK]
        start0, start1, flags = struct.unpack_from("<III", block, 0)
        (end,) = struct.unpack_from("<I", block, UF2_BLOCK - 4)
        if (start0, start1, end) != (UF2_MAGIC_START0, UF2_MAGIC_START1, UF2_MAGIC_END):
            raise CommandError(f"{name} is not a UF2 file: block {index} lacks the UF2 magic "
                               "numbers")
        if family_key and flags & UF2_FLAG_FAMILY:
            (family,) = struct.unpack_from("<I", block, 28)
            if family != UF2_FAMILIES[family_key]:
                raise CommandError(f"{name} is for UF2 family 0x{family:08x}, not {chip} "
                                   f"(0x{UF2_FAMILIES[family_key]:08x})")
    return len(data) // UF2_BLOCK


def uf2_board_id(info_text: str) -> str:
    """The Board-ID line of a UF2 drive's INFO_UF2.TXT ('' if absent)."""
    for line in info_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "board-id":
            return value.strip()
    return ""


# --- flashers -------------------------------------------------------------------------------


class Flasher:
    """Writes one image to one board; subclasses name their tool and image suffix."""

    name: ClassVar[str]
    suffix: ClassVar[str]

    def __init__(self, profile: BoardProfile, port: str, *, quiet: bool = False,
                 runner: Runner = run_tool, open_link: LinkOpener = Link,
                 bootloader_timeout: float = BOOTLOADER_TIMEOUT_S) -> None:
        self.profile = profile
        self.port = port
        self.quiet = quiet
        self.runner = runner  # runs the tool; tests pass a fake
        self.open_link = open_link  # opens the board to ask for its bootloader
        self.bootloader_timeout = bootloader_timeout  # for a boot drive or DFU device

    def check(self, image: Path) -> None:
        """Refuses a missing image, one with the wrong suffix or the wrong format."""
        if not image.is_file():
            raise CommandError(f"{image}: no such firmware image")
        if image.suffix.lower() != self.suffix:
            raise CommandError(f"{image.name}: {self.profile.name} is flashed with {self.name}, "
                               f"which takes a {self.suffix} image")
        self.check_format(image)

    def check_format(self, image: Path) -> None:
        """Looks inside the image; the base class trusts the suffix."""

    def write(self, image: Path) -> None:
        raise NotImplementedError

    def request_bootloader(self) -> bool:
        """Asks MicroPython on the port to enter its bootloader; False if it cannot be reached."""
        if "://" not in self.port and not os.path.exists(self.port):
            return False
        try:
            with self.open_link(self.port) as link:
                # the board resets: no reply will come
                device_code.start(link, *BOOTLOADER_REQUEST)
        except LinkError:
            return False
        return True

    def run(self, command: list[str], name: str | None = None) -> None:
        result = self.runner(command, self.quiet)
        if result.returncode != 0:
            raise _tool_failed(name or Path(command[0]).name, result)


class EsptoolFlasher(Flasher):
    """esptool over the board's own serial port (its USB-serial chip resets it into ROM)."""

    name = "esptool"
    suffix = ".bin"

    def command(self, image: Path) -> list[str]:
        return [sys.executable, "-m", "esptool",
                *esptool_args(self.profile.flash.chip, self.port, image)]

    def check_format(self, image: Path) -> None:
        with image.open("rb") as file:
            first = file.read(1)
        if first != bytes([ESP_IMAGE_MAGIC]):
            got = f"0x{first[0]:02x}" if first else "nothing"
            raise CommandError(f"{image.name} is not an ESP firmware image (first byte {got}, "
                               f"not 0x{ESP_IMAGE_MAGIC:02x})")

    def write(self, image: Path) -> None:
        if importlib.util.find_spec("esptool") is None:
            raise CommandError("esptool is not installed: `pip install esptool`")
        self.run(self.command(image), "esptool")


class Uf2Flasher(Flasher):
    """Copies a .uf2 to the boot drive (RPI-RP2 and the like) the bootloader presents."""

    name = "a UF2 drive copy"
    suffix = ".uf2"

    @property
    def board_id(self) -> str | None:
        key = _chip_key(self.profile.flash.chip, UF2_BOARD_IDS)
        return UF2_BOARD_IDS[key] if key else None

    def check_format(self, image: Path) -> None:
        check_uf2(image.read_bytes(), image.name, self.profile.flash.chip)

    def candidates(self) -> list[Path]:
        """Mounted folders that may be the boot drive: $EMBER_UF2_DRIVE, else the usual mounts."""
        override = os.environ.get(UF2_DRIVE_ENV)
        if override:
            return [Path(override)]
        found = [Path(p) for pattern in UF2_MOUNT_GLOBS for p in glob.glob(pattern)]
        if sys.platform == "win32":
            found += [Path(f"{letter}:\\") for letter in string.ascii_uppercase[3:]]
        return found

    def find_drive(self) -> Path | None:
        """The one mounted UF2 drive for this chip (Board-ID, else the volume name) or None."""
        chosen = bool(os.environ.get(UF2_DRIVE_ENV))  # a folder named by the user is trusted
        wanted = self.board_id
        matches = []
        for folder in self.candidates():
            try:
                text = (folder / UF2_INFO).read_text(errors="replace")
            except OSError:
                continue
            if chosen or wanted is None or wanted in uf2_board_id(text) or folder.name == wanted:
                matches.append(folder)
        if len(matches) > 1:
            listing = ", ".join(str(m) for m in matches)
            raise CommandError(f"several UF2 boot drives are mounted ({listing}): set "
                               f"{UF2_DRIVE_ENV} to the one to flash")
        return matches[0] if matches else None

    def wait_for_drive(self) -> Path:
        deadline = time.monotonic() + self.bootloader_timeout
        while True:
            drive = self.find_drive()
            if drive is not None:
                return drive
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        where = os.environ.get(UF2_DRIVE_ENV) or ", ".join(UF2_MOUNT_GLOBS)
        label = self.board_id or "UF2"
        raise CommandError(f"no {label} boot drive with {UF2_INFO} appeared in {where} within "
                           f"{self.bootloader_timeout:g} s: start the bootloader (RP2: hold "
                           "BOOTSEL while plugging in; SAMD: double-tap reset), mount the drive, "
                           f"or set {UF2_DRIVE_ENV} to its folder")

    def write(self, image: Path) -> None:
        drive = self.find_drive()
        if drive is None:
            self.request_bootloader()
            drive = self.wait_for_drive()
        data = image.read_bytes()
        target = drive / image.name
        try:
            with target.open("wb") as file:
                file.write(data)
                file.flush()
                try:
                    os.fsync(file.fileno())
                except OSError:
                    pass  # the bootloader may already be rebooting into the new firmware
        except OSError as error:
            raise CommandError(f"cannot copy {image.name} to {drive}: {error}") from None


class DfuUtilFlasher(Flasher):
    """dfu-util to the STM32 ROM bootloader (entered by `machine.bootloader()` or BOOT0)."""

    name = "dfu-util"
    suffix = ".dfu"

    def check_format(self, image: Path) -> None:
        with image.open("rb") as file:
            head = file.read(len(DFUSE_PREFIX))
        if head != DFUSE_PREFIX:
            raise CommandError(f"{image.name} is not a DfuSe image (no {DFUSE_PREFIX!r} prefix)")

    def tool(self) -> str:
        return _require_tool("dfu-util", "apt install dfu-util, brew install dfu-util",
                             "it writes .dfu images to STM32 boards")

    def device_present(self, tool: str) -> bool:
        listing = self.runner([tool, "-l", "-d", DFU_DEVICE], True)
        return f"[{DFU_DEVICE}]" in (listing.stdout or "").lower()

    def write(self, image: Path) -> None:
        tool = self.tool()
        if not self.device_present(tool):
            self.request_bootloader()
            deadline = time.monotonic() + self.bootloader_timeout
            while not self.device_present(tool):
                if time.monotonic() >= deadline:
                    raise CommandError(f"no DFU device {DFU_DEVICE} appeared within "
                                       f"{self.bootloader_timeout:g} s: put the board in DFU mode "
                                       "(pyboard: BOOT0 jumper to 3V3, then reset)")
                time.sleep(POLL_S)
        self.run([tool, *dfu_util_args(image)])


class BossacFlasher(Flasher):
    """bossac to a SAMD SAM-BA/Arduino bootloader on the board's serial port."""

    name = "bossac"
    suffix = ".bin"

    def tool(self) -> str:
        return _require_tool("bossac", "apt install bossa-cli, brew install bossa",
                             "it writes .bin images to SAMD boards")

    def write(self, image: Path) -> None:
        tool = self.tool()
        args = bossac_args(self.profile.flash.chip, self.port, image)
        if self.request_bootloader():
            wait_for_port(self.port, PORT_TIMEOUT_S)
        self.run([tool, *args])


class QemuFlasher(Flasher):
    """The bare-metal virtual board's: its image is the ELF QEMU loads. Only a running
    virtual board takes one (write_firmware hands it to launcher.reflash); any other port
    is refused."""

    name = "qemu"
    suffix = ".elf"

    def write(self, image: Path) -> None:
        raise CommandError(f"{self.profile.name} is a virtual board and none runs on "
                           f"{self.port}: flash the port `ember sim start --board "
                           f"{self.profile.name}` printed")


FLASHERS: dict[str, type[Flasher]] = {
    "esptool": EsptoolFlasher,
    "uf2": Uf2Flasher,
    "dfu-util": DfuUtilFlasher,
    "bossac": BossacFlasher,
    "qemu": QemuFlasher,
}


def flasher_for(profile: BoardProfile, port: str, **options: object) -> Flasher:
    """The profile's flasher, ready for one port."""
    kind = FLASHERS.get(profile.flash.flasher)
    if kind is None:  # boards.py validates the name; a new flasher needs a class here too
        raise EmberError(f"{profile.name}: no flasher class for {profile.flash.flasher!r}")
    return kind(profile, port, **options)  # type: ignore[arg-type]


def wait_for_port(port: str, timeout: float) -> None:
    """Waits for a device path to exist again after a reset (URLs are not waited for)."""
    if "://" in port:
        return
    deadline = time.monotonic() + timeout
    while not os.path.exists(port):
        if time.monotonic() >= deadline:
            raise LinkError(f"{port} did not come back within {timeout:g} s after flashing: "
                            "is the new firmware a MicroPython build for this board?")
        time.sleep(POLL_S)


def write_firmware(port: str, image: Path, board: str | None, quiet: bool = False, *,
                   port_timeout: float = PORT_TIMEOUT_S, **options: object) -> None:
    """Writes a firmware image with the board's flasher, then waits for its serial port."""
    record = registry.find(port) if "://" not in port else None
    if record is not None:
        from host_tools.sim import launcher

        launcher.reflash(record, image)  # the image is checked there: a 32-bit x86 build
        return
    if board is None:
        raise CommandError("--board is needed to know the flasher (no profile matches "
                           f"{port}); e.g. --board rp2-pico")
    flasher = flasher_for(load_profile(board), port, quiet=quiet, **options)
    flasher.check(image)
    flasher.write(image)
    wait_for_port(port, port_timeout)
