"""Board profiles: load and validate boards/*.toml, match USB VID:PID, list connected boards."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from serial.tools import list_ports

from host_tools.mpy.compiler import ARCH_NAMES
from host_tools.errors import EmberError
from host_tools.paths import BOARDS_DIR

BOARDS_DIR_ENV = "EMBER_BOARDS_DIR"

LINK_KINDS = ("usb-cdc", "uart")
FLASHERS = ("esptool", "uf2", "dfu-util", "bossac", "qemu")  # qemu: the virtual board's ELF
# The board architectures: mpy-cross's -march values, as numbered in .mpy headers.
MPY_ARCHES = tuple(arch for arch in ARCH_NAMES if arch)

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
_PORT_RE = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_USB_ID_RE = re.compile(r"([0-9A-F]{4}):([0-9A-F]{4})\Z")

# The schema: table -> key -> expected type name. Order is the order errors are checked in.
_TOP_KEYS = (
    "name",
    "description",
    "port",
    "mpy_arch",
    "heap_bytes",
    "fs_bytes",
    "block_size",
    "link",
    "flash",
    "hil",
)
_LINK_KEYS = ("kind", "baud", "usb_ids")
_LINK_OPTIONAL = {"reset": "machine"}  # key -> default
RESET_METHODS = ("machine", "rts")  # machine.reset(), or a pulse on the bridge's RTS line
_FLASH_KEYS = ("flasher", "chip")
# MicroPython port -> the sys.platform its firmware reports (ports/<port>/mpconfigport.h).
SYS_PLATFORM = {"esp8266": "esp8266", "esp32": "esp32", "rp2": "rp2", "stm32": "pyboard",
                "samd": "samd"}
_HIL_KEYS = ("uart", "tx_pin", "rx_pin")


class BoardProfileError(EmberError, ValueError):
    """A board profile is missing, unreadable or invalid; the message names the file and key."""

    def __init__(self, message: str, path: Path | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.key = key


class UnknownBoardError(BoardProfileError):
    """No profile has the requested name; the message lists the known names."""


class UsbId(NamedTuple):
    """A USB vendor/product id pair; str() gives the profile form, e.g. '2E8A:0005'."""

    vid: int
    pid: int

    def __str__(self) -> str:
        return f"{self.vid:04X}:{self.pid:04X}"

    @classmethod
    def parse(cls, text: str) -> UsbId:
        """Parse 'VVVV:PPPP' (upper-case hex); raises ValueError otherwise."""
        match = _USB_ID_RE.match(text)
        if match is None:
            raise ValueError(f"not an upper-case hex VID:PID like '2E8A:0005': {text!r}")
        return cls(int(match.group(1), 16), int(match.group(2), 16))


@dataclass(frozen=True)
class LinkSpec:
    """How the host talks to the board's REPL."""

    kind: str  # "usb-cdc" or "uart"
    baud: int  # uart: the REPL baud; usb-cdc: nominal rate for throttling a virtual link
    usb_ids: tuple[UsbId, ...]
    # How `ember reset` resets it: "machine" (machine.reset() through the REPL) or "rts"
    # (a pulse on RTS, which ESP dev boards wire to the chip's EN pin, as esptool does).
    reset: str = "machine"


@dataclass(frozen=True)
class FlashSpec:
    """How firmware images are written to the board."""

    flasher: str  # "esptool", "uf2", "dfu-util" or "bossac"
    chip: str  # esptool's --chip value; informative for the other flashers


@dataclass(frozen=True)
class HilPins:
    """The UART and pins that hardware-in-the-loop loopback tests wire TX to RX on."""

    uart: int
    tx_pin: int
    rx_pin: int


@dataclass(frozen=True)
class BoardProfile:
    """One board as data: what the firmware, flash, link and test wiring look like."""

    name: str
    description: str
    port: str  # MicroPython port: esp8266, esp32, rp2, stm32, samd, ...
    mpy_arch: str  # mpy-cross -march value
    heap_bytes: int  # usable GC heap of the stock firmware
    fs_bytes: int  # filesystem size of the stock firmware's partition
    block_size: int  # filesystem block (erase) size
    link: LinkSpec
    flash: FlashSpec
    hil: HilPins
    path: Path | None = field(default=None, compare=False, repr=False)

    @property
    def fs_blocks(self) -> int:
        """Number of filesystem blocks (fs_bytes is always a whole number of blocks)."""
        return self.fs_bytes // self.block_size

    def matches_usb(self, vid: int, pid: int) -> bool:
        """True if a USB device with this VID:PID may be this board."""
        return UsbId(vid, pid) in self.link.usb_ids


@dataclass(frozen=True)
class DetectedPort:
    """A USB serial port found on this host, with the profiles its VID:PID matches."""

    device: str
    description: str
    serial_number: str | None
    vid: int
    pid: int
    location: str | None = None
    boards: tuple[str, ...] = ()  # matching profile names; empty when nothing matches

    @property
    def usb_id(self) -> UsbId:
        return UsbId(self.vid, self.pid)


def boards_dir() -> Path:
    """The directory holding board profiles: $EMBER_BOARDS_DIR, else the repository's boards/."""
    override = os.environ.get(BOARDS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return BOARDS_DIR


def profile_names(directory: Path | None = None) -> list[str]:
    """Names of the profiles in a directory (default boards_dir()), sorted; not validated."""
    directory = boards_dir() if directory is None else directory
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.toml") if p.is_file())


def load_profile(name_or_path: str | os.PathLike[str]) -> BoardProfile:
    """Load and validate one profile, by board name (e.g. 'rp2-pico') or by path to a .toml."""
    text = os.fspath(name_or_path)
    if text.endswith(".toml") or os.sep in text or (os.altsep and os.altsep in text):
        path = Path(text)
        if not path.is_file():
            raise BoardProfileError(f"{_show(path)}: no such board profile", path=path)
        return _load_file(path)
    directory = boards_dir()
    path = directory / f"{text}.toml"
    if not path.is_file():
        known = profile_names(directory)
        hint = difflib.get_close_matches(text, known, n=1)
        message = f"unknown board {text!r}"
        if hint:
            message += f" (did you mean {hint[0]!r}?)"
        message += f"; known boards: {', '.join(known) if known else 'none'} (in {directory})"
        raise UnknownBoardError(message, path=path)
    return _load_file(path)


def all_profiles() -> list[BoardProfile]:
    """Every profile in boards_dir(), validated, sorted by name; the first invalid one raises."""
    directory = boards_dir()
    return [_load_file(directory / f"{name}.toml") for name in profile_names(directory)]


def match_usb(
    vid: int, pid: int, profiles: Iterable[BoardProfile] | None = None
) -> list[BoardProfile]:
    """Profiles whose USB id list holds VID:PID (several when boards share a USB bridge or id)."""
    candidates = all_profiles() if profiles is None else profiles
    return [p for p in candidates if p.matches_usb(vid, pid)]


def detect_ports(profiles: Iterable[BoardProfile] | None = None) -> list[DetectedPort]:
    """USB serial ports on this host, each with the names of the profiles it matches."""
    known = all_profiles() if profiles is None else list(profiles)
    found: list[DetectedPort] = []
    for info in list_ports.comports():
        if info.vid is None or info.pid is None:
            continue  # not a USB device (built-in UART, Bluetooth, ...): cannot be matched
        names = tuple(p.name for p in match_usb(info.vid, info.pid, known))
        found.append(
            DetectedPort(
                device=info.device,
                description=info.description or "",
                serial_number=info.serial_number,
                vid=info.vid,
                pid=info.pid,
                location=info.location,
                boards=names,
            )
        )
    return sorted(found, key=lambda port: port.device)


# --- loading and validation -------------------------------------------------------------------


def _show(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _load_file(path: Path) -> BoardProfile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BoardProfileError(f"{_show(path)}: cannot read: {exc.strerror}", path=path) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BoardProfileError(f"{_show(path)}: not valid TOML: {exc}", path=path) from exc
    return _Validator(path).profile(data)


class _Validator:
    """Turns the parsed TOML of one file into a BoardProfile, or raises naming file and key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> BoardProfileError:
        return BoardProfileError(f"{_show(self.path)}: key {key!r} {problem}", self.path, key)

    def profile(self, data: Mapping[str, Any]) -> BoardProfile:
        self.check_keys(data, _TOP_KEYS, prefix="")
        name = self.string(data, "name")
        if not _NAME_RE.match(name):
            raise self.fail("name", f"must be lower-case letters, digits and '-', got {name!r}")
        if name != self.path.stem:
            raise self.fail("name", f"must equal the file name {self.path.stem!r}, got {name!r}")
        port = self.string(data, "port")
        if not _PORT_RE.match(port):
            raise self.fail("port", f"must be a MicroPython port name like 'rp2', got {port!r}")
        mpy_arch = self.choice(data, "mpy_arch", MPY_ARCHES)
        heap_bytes = self.positive(data, "heap_bytes")
        fs_bytes = self.positive(data, "fs_bytes")
        block_size = self.positive(data, "block_size")
        if fs_bytes % block_size:
            raise self.fail(
                "fs_bytes", f"must be a whole number of {block_size}-byte blocks, got {fs_bytes}"
            )
        if fs_bytes < 2 * block_size:
            raise self.fail("fs_bytes", f"must hold at least 2 blocks, got {fs_bytes}")
        return BoardProfile(
            name=name,
            description=self.string(data, "description"),
            port=port,
            mpy_arch=mpy_arch,
            heap_bytes=heap_bytes,
            fs_bytes=fs_bytes,
            block_size=block_size,
            link=self.link(self.table(data, "link")),
            flash=self.flash(self.table(data, "flash")),
            hil=self.hil(self.table(data, "hil")),
            path=self.path,
        )

    def link(self, data: Mapping[str, Any]) -> LinkSpec:
        data = {**_LINK_OPTIONAL, **data}
        self.check_keys(data, (*_LINK_KEYS, *_LINK_OPTIONAL), prefix="link.")
        reset = self.choice(data, "reset", RESET_METHODS, prefix="link.")
        kind = self.choice(data, "kind", LINK_KINDS, prefix="link.")
        baud = self.positive(data, "baud", prefix="link.")
        ids = data.get("usb_ids")
        if ids is None:
            raise self.fail("link.usb_ids", "is missing")
        if not isinstance(ids, list):
            raise self.fail("link.usb_ids", f"must be a list of 'VVVV:PPPP' strings, got {ids!r}")
        usb_ids: list[UsbId] = []
        for index, item in enumerate(ids):
            key = f"link.usb_ids[{index}]"
            if not isinstance(item, str):
                raise self.fail(key, f"must be a string like '2E8A:0005', got {item!r}")
            try:
                usb_id = UsbId.parse(item)
            except ValueError:
                raise self.fail(
                    key, f"must be upper-case hex VID:PID like '2E8A:0005', got {item!r}"
                ) from None
            if usb_id in usb_ids:
                raise self.fail(key, f"repeats {item!r}")
            usb_ids.append(usb_id)
        return LinkSpec(kind=kind, baud=baud, usb_ids=tuple(usb_ids), reset=reset)

    def flash(self, data: Mapping[str, Any]) -> FlashSpec:
        self.check_keys(data, _FLASH_KEYS, prefix="flash.")
        return FlashSpec(
            flasher=self.choice(data, "flasher", FLASHERS, prefix="flash."),
            chip=self.string(data, "chip", prefix="flash."),
        )

    def hil(self, data: Mapping[str, Any]) -> HilPins:
        self.check_keys(data, _HIL_KEYS, prefix="hil.")
        pins = HilPins(
            uart=self.natural(data, "uart", prefix="hil."),
            tx_pin=self.natural(data, "tx_pin", prefix="hil."),
            rx_pin=self.natural(data, "rx_pin", prefix="hil."),
        )
        if pins.tx_pin == pins.rx_pin:
            raise self.fail("hil.rx_pin", f"must differ from hil.tx_pin, got {pins.rx_pin}")
        return pins

    # -- single values --

    def check_keys(self, data: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
        for key in data:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
                extra = f" (did you mean {prefix + hint[0]!r}?)" if hint else ""
                allowed_text = ", ".join(allowed)
                raise self.fail(
                    f"{prefix}{key}", f"is not a known key{extra}; allowed: {allowed_text}"
                )
        for key in allowed:
            if key not in data:
                raise self.fail(f"{prefix}{key}", "is missing")

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data[key]
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table ([{key}]), got {value!r}")
        return value

    def string(self, data: Mapping[str, Any], key: str, prefix: str = "") -> str:
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(prefix + key, f"must be a non-empty string, got {value!r}")
        return value

    def choice(
        self, data: Mapping[str, Any], key: str, allowed: tuple[str, ...], prefix: str = ""
    ) -> str:
        value = data[key]
        if value not in allowed:
            raise self.fail(prefix + key, f"must be one of {', '.join(allowed)}; got {value!r}")
        return str(value)

    def positive(self, data: Mapping[str, Any], key: str, prefix: str = "") -> int:
        value = data[key]
        if not _is_int(value) or value <= 0:
            raise self.fail(prefix + key, f"must be a positive integer, got {value!r}")
        return int(value)

    def natural(self, data: Mapping[str, Any], key: str, prefix: str = "") -> int:
        value = data[key]
        if not _is_int(value) or value < 0:
            raise self.fail(prefix + key, f"must be a non-negative integer, got {value!r}")
        return int(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def sys_platform(profile: BoardProfile) -> str:
    """What `sys.platform` says on the profile's board (its virtual firmware says the same)."""
    return SYS_PLATFORM.get(profile.port, profile.port)
