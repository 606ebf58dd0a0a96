"""Builds a board's virtual firmware: MicroPython's unix port, 32-bit, with ember frozen in.

The build is ember's own variant (boards/virtual/unix32: a board's HAL, machine module and
boot, no host filesystem) compiled with `gcc -m32` against a MicroPython source, plus the
profile's cuts. A build is cached by everything that makes it: the source, the variant's
files, the frozen runtime and the cuts; profiles of one port with the same cuts share one,
and builds that differ only in what is frozen share their compiled objects. Builds go under
the build folder (EMBER_BUILD_DIR, else the user's cache), never into the source.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from host_tools.boards.profiles import BoardProfile, sys_platform
from host_tools.errors import CommandError
from host_tools.install.micropython_source import Source
from host_tools.paths import FIRMWARE_DIR, VIRTUAL_BOARD_DIR, cache_dir
from host_tools.push.session import RECEIVER, receiver_tag

BUILD_DIR_ENV = "EMBER_BUILD_DIR"
VARIANT_DIR = VIRTUAL_BOARD_DIR / "unix32"
IMAGE_NAME = "micropython"
META_NAME = "firmware.json"
LINK_MAP_NAME = "link.map"  # the image's link map, beside it
CC_32 = "gcc -m32"
TOOLCHAIN_HELP = "install Debian's gcc-multilib (apt-get install gcc-multilib)"


@dataclass(frozen=True)
class VirtualCuts:
    """What a profile's virtual firmware leaves in or out, as its real firmware does."""

    rom_level: str = "EXTRA_FEATURES"  # MICROPY_CONFIG_ROM_LEVEL_<this>, the port's own
    network: bool = False  # socket: the host's network stands in for the board's Wi-Fi
    defines: tuple[str, ...] = ()  # the port's own settings on top of its level
    asyncio: bool = True  # frozen in, as the port's boards/manifest.py freezes it
    platform: str = "rp2"  # sys.platform, the port's own (MicroPython's test runner reads it)
    board_name: str = "ember virtual board"  # os.uname().machine begins with it (per port,
    # so that profiles of one port with the same cuts share a build)

    def make_args(self) -> list[str]:
        cflags = [f"-DMICROPY_CONFIG_ROM_LEVEL=MICROPY_CONFIG_ROM_LEVEL_{self.rom_level}",
                  f"-DMICROPY_PY_SYS_PLATFORM='\"{self.platform}\"'",  # quoted for the shell
                  f"-DMICROPY_HW_BOARD_NAME='\"{self.board_name}\"'",
                  *(f"-D{d}" for d in self.defines)]
        return [f"CFLAGS_EXTRA={' '.join(cflags)}", f"MICROPY_PY_SOCKET={int(self.network)}"]


# From each port's mpconfigport.h: every port ember serves is EXTRA_FEATURES but the SAMD21
# (ports/samd/mcu/samd21/mpconfigmcu.h: BASIC_FEATURES, terse errors, no complex numbers, and
# on a board without external flash no deflate or asyncio); the ESP8266, ESP32 and Pico W
# have networking. All use single-precision float and mpz long ints, as the variant does.
# asyncio is frozen where the port's boards/manifest.py freezes it (rp2, esp32, stm32), not
# on the ESP8266, whose ember build takes that manifest (firmware_build.PORT_BUILDS).
VIRTUAL_CUTS: dict[str, VirtualCuts] = {
    "esp8266-generic": VirtualCuts(network=True, asyncio=False),
    "esp32-generic": VirtualCuts(network=True),
    "rp2-pico-w": VirtualCuts(network=True),
    "samd21-generic": VirtualCuts(
        rom_level="BASIC_FEATURES",
        defines=("MICROPY_ERROR_REPORTING=MICROPY_ERROR_REPORTING_TERSE",
                 "MICROPY_PY_BUILTINS_COMPLEX=0", "MICROPY_PY_DEFLATE=0"),
        asyncio=False,
    ),
}


@dataclass(frozen=True)
class FirmwareBuild:
    """A built firmware image and what `ember firmware build --json` says of it."""

    board: str
    port: str
    target: str
    image: str
    text: int
    data: int
    bss: int
    seconds: float
    cached: bool
    micropython: str = ""
    objects: str = ""  # the folder its objects were compiled in ("": the image's obj/)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def build_root() -> Path:
    override = os.environ.get(BUILD_DIR_ENV)
    return (Path(override).expanduser() if override else
            cache_dir() / "build").resolve() / "firmware"


def gc_arena_bytes(heap_bytes: int) -> int:
    """The heap arena (-X heapsize, MICROPY_HEAP_SIZE) that leaves `heap_bytes` for objects on
    a 32-bit build: the GC keeps its allocation and finaliser tables (12 bits per 16-byte
    block) inside the arena."""
    return -(-heap_bytes * 524 // 512) + 32


def cuts_for(profile: BoardProfile) -> VirtualCuts:
    return dataclasses.replace(VIRTUAL_CUTS.get(profile.name, VirtualCuts()),
                               platform=sys_platform(profile),
                               board_name=f"ember virtual {profile.port}")


def _tree_digest(digest: Any, root: Path) -> None:  # a hashlib object
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")


def objects_key(source: Source, make_args: list[str], board_dir: Path = VARIANT_DIR) -> str:
    """What a build's compiled objects are cached by: the source, the board's own files (the
    variant) and the make arguments (the cuts); not what is frozen in, so that a runtime
    change, or a build with and one without it, share the objects and differ only in
    frozen_content.c."""
    digest = hashlib.sha256(source.identity.encode() + b"\0" + " ".join(make_args).encode())
    _tree_digest(digest, board_dir)
    return digest.hexdigest()[:16]


def build_key(source: Source, extra: list[str], board_dir: Path = VARIANT_DIR) -> str:
    """What a built image is cached by: its objects' key and the frozen runtime (extra holds
    the make arguments and the manifest)."""
    digest = hashlib.sha256(objects_key(source, extra, board_dir).encode())
    _tree_digest(digest, FIRMWARE_DIR / "ember")
    digest.update((FIRMWARE_DIR / "manifest.py").read_bytes())
    return digest.hexdigest()[:16]


class ToolchainMissing(CommandError):
    """No gcc that builds a 32-bit program here."""


@functools.cache
def check_toolchain() -> None:
    """gcc must build and link a 32-bit program (Debian: gcc-multilib); asked once."""
    if shutil.which("gcc") is None:
        raise ToolchainMissing(f"the virtual target builds with {CC_32}: gcc not found; "
                           f"{TOOLCHAIN_HELP}")
    probe = subprocess.run(
        ["gcc", "-m32", "-static", "-x", "c", "-", "-o", os.devnull],
        input=b"#include <stdio.h>\nint main(void){return 0;}\n", capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        raise ToolchainMissing(f"{CC_32} cannot build a 32-bit program here; {TOOLCHAIN_HELP}")


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """One builder per output folder at a time (two test workers may ask for one build)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_make(command: list[str], log: Path, what: str) -> None:
    with open(log, "ab") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-6:]
        raise CommandError(f"{what} failed (exit {result.returncode}; log {log}): "
                           + " | ".join(tail))


def mpy_cross(source: Source, jobs: int) -> Path:
    """mpy-cross of this source, built once into ember's build folder, not the source."""
    out = build_root() / f"mpy-cross-{hashlib.sha256(source.identity.encode()).hexdigest()[:12]}"
    program = out / "mpy-cross"
    with locked(out.with_suffix(".lock")):
        if not program.is_file():
            out.mkdir(parents=True, exist_ok=True)
            run_make(["make", "-C", str(source.mpy_cross_dir), f"-j{jobs}", f"BUILD={out}"],
                  out / "build.log", "building mpy-cross")
    return program


def image_sizes(image: Path) -> tuple[int, int, int]:
    result = subprocess.run(["size", str(image)], capture_output=True, text=True, check=False)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or len(lines) < 2:
        return 0, 0, 0
    text, data, bss = (int(v) for v in lines[1].split()[:3])
    return text, data, bss


@dataclass(frozen=True)
class PortMake:
    """How one port's firmware is made: the port folder, its compiler, what it leaves."""

    port: str = "unix"
    image_name: str = IMAGE_NAME  # in the build's objects folder, and as copied out
    map_name: str = f"{IMAGE_NAME}.map"  # the link map: copied out beside the image
    compiler_args: tuple[str, ...] = (f"CC={CC_32}", f"LD={CC_32}")
    check: Callable[[], None] = check_toolchain


def make_firmware(source: Source, out: Path, make_args: list[str], *, board: str, port: str,
                  target: str, jobs: int, how: PortMake | None = None,
                  objects: Path | None = None) -> FirmwareBuild:
    """Runs the port's make into `objects` (default out/obj) and copies its image to out,
    once: out/firmware.json marks a finished build. `how` names the port (default: the
    32-bit unix one).

    Builds that differ only in their FROZEN_MANIFEST may share one objects folder: make then
    recompiles only the frozen modules and relinks (about 4 s instead of 20). makemanifest.py
    decides by timestamps what to refreeze, which a manifest that lost a module or changed
    an -O level would fool, so the frozen part is always made anew."""
    how = how or PortMake()
    meta = out / META_NAME
    image = out / how.image_name
    objects = objects or out / "obj"
    with locked(out.with_suffix(".lock")):
        if meta.is_file() and image.is_file():
            return FirmwareBuild(**{**json.loads(meta.read_text()), "board": board,
                                    "image": str(image), "cached": True})
        how.check()
        started = time.monotonic()
        compiler = mpy_cross(source, jobs)
        with locked(objects.with_suffix(".lock")):
            objects.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(objects / "frozen_mpy", ignore_errors=True)
            (objects / "frozen_content.c").unlink(missing_ok=True)
            run_make(["make", "-C", str(source.root / "ports" / how.port), f"-j{jobs}",
                   f"BUILD={objects}", *how.compiler_args,
                   f"MICROPY_MPYCROSS={compiler}", *make_args],
                  out / "build.log", f"building the {target} firmware")
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy2(objects / how.image_name, image)
            if (objects / how.map_name).is_file():  # the next build here overwrites it
                shutil.copy2(objects / how.map_name, out / LINK_MAP_NAME)
        text, data, bss = image_sizes(image)
        result = FirmwareBuild(board=board, port=port, target=target, image=str(image),
                               text=text, data=data, bss=bss,
                               seconds=round(time.monotonic() - started, 1), cached=False,
                               micropython=source.version, objects=str(objects))
        meta.write_text(json.dumps(result.to_json()))
        return result


def manifest_text(cuts: VirtualCuts, runtime: bool) -> str:
    """The freeze manifest of a virtual firmware: the board's boot, asyncio where the port
    freezes it, and the ember runtime unless `runtime` is False."""
    lines = [f"# Generated by ember (host_tools/virtual_firmware.py): {cuts}",
             f"include({str(VARIANT_DIR / 'manifest_boot.py')!r})"]
    if cuts.asyncio:
        lines.append('include("$(MPY_DIR)/extmod/asyncio")')
    if runtime:
        lines.append(f"include({str(FIRMWARE_DIR / 'manifest.py')!r})")
        lines.append(receiver_line())
    return "\n".join(lines) + "\n"


def receiver_line() -> str:
    """The manifest line that freezes the push receiver (push/session.py says why)."""
    module = build_root() / "receiver" / f"rx_{receiver_tag()}.py"
    write_once(module, RECEIVER.read_text(encoding="utf-8"))
    return f"module({module.name!r}, base_path={str(module.parent)!r})"


def write_once(path: Path, text: str) -> None:
    """Writes a build input, whole (a second builder never sees it half-written)."""
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)


def c_modules_folder(modules: Sequence[Path]) -> tuple[Path, str]:
    """The folder USER_C_MODULES names for these user C modules: one link per module (MicroPython
    takes one folder and builds every */micropython.mk in it), and a digest of the modules'
    files, which the image's cache key takes in (their objects rebuild by make's own rules).
    Each module must be a folder with a micropython.mk."""
    resolved: list[Path] = []
    for module in modules:
        folder = Path(module).expanduser().resolve()
        if not (folder / "micropython.mk").is_file():
            raise CommandError(f"{module}: not a user C module (MicroPython's USER_C_MODULES "
                               "needs a folder with a micropython.mk)")
        resolved.append(folder)
    names = [m.name for m in resolved]
    if len(set(names)) != len(names):
        raise CommandError(f"two C modules share a folder name: {', '.join(names)}")
    listing = "\0".join(str(m) for m in resolved)
    folder = build_root() / f"c-modules-{hashlib.sha256(listing.encode()).hexdigest()[:16]}"
    folder.mkdir(parents=True, exist_ok=True)
    contents = hashlib.sha256()
    for module in resolved:
        link = folder / module.name
        if not link.is_symlink() or link.resolve() != module:
            partial = folder / f".{module.name}.{os.getpid()}"
            partial.unlink(missing_ok=True)
            partial.symlink_to(module, target_is_directory=True)
            partial.replace(link)
        _tree_digest(contents, module)
    return folder, contents.hexdigest()[:16]


def build(profile: BoardProfile, source: Source, jobs: int | None = None, *,
          runtime: bool = True, c_modules: Sequence[Path] = ()) -> FirmwareBuild:
    """The profile's virtual firmware, built now or taken from the cache. `runtime=False`
    leaves ember out (the board as a user of stock firmware has it: ember goes to /lib);
    `c_modules` are user C modules linked in (a build of their own)."""
    cuts = cuts_for(profile)
    manifest = manifest_text(cuts, runtime)
    make_args = cuts.make_args()
    keyed = [*make_args, manifest]
    if c_modules:
        folder, contents = c_modules_folder(c_modules)
        make_args.append(f"USER_C_MODULES={folder}")
        keyed = [*make_args, manifest, f"c-modules:{contents}"]
    out = build_root() / f"virtual-{build_key(source, keyed)}"
    objects = build_root() / f"objects-virtual-{objects_key(source, make_args)}"
    write_once(out / "manifest.py", manifest)
    return make_firmware(source, out, [f"VARIANT_DIR={VARIANT_DIR}", *make_args,
                                       f"FROZEN_MANIFEST={out / 'manifest.py'}"],
                         board=profile.name, port="unix",
                         target="virtual" if runtime else "virtual-bare",
                         jobs=jobs or os.cpu_count() or 1, objects=objects)


# The stock build a board's figures are compared with: the unix port's standard variant, also
# 32-bit, without ember. Its libffi, mbedtls and berkeley-db are git submodules a release
# tarball does not carry, so those three features are left out of it.
STOCK_ARGS = ["VARIANT=standard", "MICROPY_PY_FFI=0", "MICROPY_PY_SSL=0",
              "MICROPY_SSL_MBEDTLS=0", "MICROPY_PY_BTREE=0"]


def build_stock(source: Source, jobs: int | None = None) -> FirmwareBuild:
    digest = hashlib.sha256((source.identity + " ".join(STOCK_ARGS)).encode()).hexdigest()[:16]
    return make_firmware(source, build_root() / f"stock-{digest}", STOCK_ARGS, board="",
                         port="unix", target="stock", jobs=jobs or os.cpu_count() or 1)
