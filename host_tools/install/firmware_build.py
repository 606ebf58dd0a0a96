"""`ember firmware build`: MicroPython built from source with the ember runtime frozen in.

Two targets (the bare-metal virtual board, qemu-mps2-an385, has one: the qemu port's, built
by qemu_firmware.py with or without `--virtual`). `--virtual`: the board's virtual firmware,
the 32-bit unix port with ember's variant (host_tools/virtual_firmware.py), which every
unix virtual board runs. Without it: the
board's real port, built by the port's own make with a freeze manifest that includes the
port's base manifest (the modules the board needs to boot and mount its filesystem) and
ember's firmware/manifest.py, the board's MicroPython BOARD name, a build folder of its own,
and the profile's feature cuts. Frozen bytecode runs from flash, so the runtime costs no RAM
for its code. A real port builds on a user's clone with its submodules and toolchain
(`make -C $MICROPY_DIR/ports/<port> BOARD=<BOARD> submodules` once).

    ember firmware build --board esp8266-generic --virtual --micropython micropython-1.28.0.tar.gz
    make firmware BOARD=rp2-pico MICROPY_DIR=~/src/micropython
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from host_tools.boards.profiles import BoardProfile, load_profile
from host_tools.errors import CommandError
from host_tools.install import micropython_source, qemu_firmware, virtual_firmware
from host_tools.install.micropython_source import MICROPY_DIR_ENV
from host_tools.install.virtual_firmware import FirmwareBuild
from host_tools.paths import FIRMWARE_DIR

EMBER_MANIFEST = FIRMWARE_DIR / "manifest.py"
BUILD_SUFFIX = "-ember"  # build-<BOARD>-ember: never mixed with a stock build's objects


@dataclass(frozen=True)
class PortBuild:
    """How one profile maps onto MicroPython's tree: board name, base manifest, cuts."""

    board: str  # MicroPython BOARD name (ports/<port>/boards/<BOARD>)
    base_manifest: str  # included first; $(PORT_DIR)/$(BOARD_DIR) as manifest files allow
    cuts: tuple[str, ...] = ()  # make variables (VAR=VALUE) that leave features out
    image: str = "firmware.bin"  # what the build leaves in its build folder


# Board names: ports/<port>/boards/. Base manifests: the port's boards/manifest.py (boot,
# filesystem set-up, drivers), which leaves out a board's optional extras: for ESP8266_GENERIC
# that cuts asyncio, urequests, umqtt, ssd1306, upysh (boards/ESP8266_GENERIC/manifest_2MiB.py);
# ember's loop replaces asyncio. The Pico W keeps its board manifest (its network helpers).
# Cuts are `?=` variables of the board's .mk, so the command line overrides them:
# ESP8266_GENERIC/mpconfigvariant.mk has MICROPY_PY_BTREE ?= 1 and MICROPY_PY_ESPNOW ?= 1.
# samd21-generic builds SAMD_GENERIC_D21X18, the generic SAMD21x18 board its profile names.
PORT_BUILDS: dict[str, PortBuild] = {
    "esp8266-generic": PortBuild(
        "ESP8266_GENERIC", "$(PORT_DIR)/boards/manifest.py",
        ("MICROPY_PY_BTREE=0", "MICROPY_PY_ESPNOW=0"),
    ),
    "esp32-generic": PortBuild("ESP32_GENERIC", "$(PORT_DIR)/boards/manifest.py"),
    "rp2-pico": PortBuild("RPI_PICO", "$(PORT_DIR)/boards/manifest.py", image="firmware.uf2"),
    "rp2-pico-w": PortBuild("RPI_PICO_W", "$(BOARD_DIR)/manifest.py", image="firmware.uf2"),
    "stm32-pybv11": PortBuild("PYBV11", "$(PORT_DIR)/boards/manifest.py", image="firmware.dfu"),
    "samd21-generic": PortBuild(
        "SAMD_GENERIC_D21X18", "$(PORT_DIR)/boards/manifest.py", image="firmware.uf2"
    ),
}

# The compiler each port's build needs on PATH (ports/<port>/README.md).
TOOLCHAINS: dict[str, tuple[str, str]] = {
    "esp8266": ("xtensa-lx106-elf-gcc", "the esp-open-sdk toolchain (or the docker image the "
                "esp8266 README names)"),
    "esp32": ("idf.py", "ESP-IDF: source $IDF_PATH/export.sh"),
    "rp2": ("arm-none-eabi-gcc", "the Arm GNU toolchain (apt install gcc-arm-none-eabi) and "
            "cmake"),
    "stm32": ("arm-none-eabi-gcc", "the Arm GNU toolchain (apt install gcc-arm-none-eabi)"),
    "samd": ("arm-none-eabi-gcc", "the Arm GNU toolchain (apt install gcc-arm-none-eabi)"),
}


def port_build(profile: BoardProfile) -> PortBuild:
    found = PORT_BUILDS.get(profile.name)
    if found is None and qemu_firmware.is_qemu(profile):
        raise CommandError(f"{profile.name} is a virtual board: ember builds its firmware "
                           f"itself (ember firmware build --board {profile.name}, no --dry-run)")
    if found is None:
        known = ", ".join(PORT_BUILDS)
        raise CommandError(f"no MicroPython board mapped for {profile.name!r}; known: {known}")
    return found


def build_dir(profile: BoardProfile, micropy_dir: Path) -> Path:
    """Where the port build puts its output: ports/<port>/build-<BOARD>-ember."""
    board = port_build(profile).board
    return micropy_dir / "ports" / profile.port / f"build-{board}{BUILD_SUFFIX}"


def manifest_text(profile: BoardProfile, ember_manifest: Path = EMBER_MANIFEST) -> str:
    """The freeze manifest: the port's base modules, then the ember runtime."""
    base = port_build(profile).base_manifest
    return (
        f"# Generated by ember (host_tools/firmware_build.py) for {profile.name}.\n"
        "# The modules the board needs to boot and mount its filesystem:\n"
        f"include({base!r})\n"
        "# The ember runtime, frozen: its bytecode runs from flash and costs no RAM.\n"
        f"include({str(ember_manifest.resolve())!r})\n"
        "# The push receiver, frozen: a push leaves nothing on the heap.\n"
        f"{virtual_firmware.receiver_line()}\n"
    )


def write_manifest(profile: BoardProfile, out_dir: Path) -> Path:
    """Writes <out_dir>/<board>/manifest.py and returns its absolute path."""
    path = (out_dir / profile.name / "manifest.py").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(manifest_text(profile))
    return path


def firmware_command(profile: BoardProfile, micropy_dir: Path, manifest: Path, *,
                     extra: list[str] | None = None, jobs: int | None = None) -> list[str]:
    """The port build: make -C <MICROPY_DIR>/ports/<port> BOARD=... FROZEN_MANIFEST=... cuts."""
    spec = port_build(profile)
    micropy_dir = micropy_dir.expanduser().resolve()
    command = ["make", "-C", str(micropy_dir / "ports" / profile.port)]
    if jobs:
        command.append(f"-j{jobs}")
    command += [
        f"BOARD={spec.board}",
        f"BUILD={build_dir(profile, micropy_dir).name}",
        f"FROZEN_MANIFEST={manifest.resolve()}",
        *spec.cuts,
        *(extra or []),
    ]
    return command


def submodules_command(profile: BoardProfile, micropy_dir: Path) -> list[str]:
    """Fetches the git submodules the port build needs (once per clone)."""
    micropy_dir = micropy_dir.expanduser().resolve()
    return ["make", "-C", str(micropy_dir / "ports" / profile.port),
            f"BOARD={port_build(profile).board}", "submodules"]


def check_micropy_dir(value: str | None) -> Path:
    """MICROPY_DIR must name a MicroPython clone (it has py/ and ports/)."""
    if not value:
        raise CommandError(f"{MICROPY_DIR_ENV} is not set: point it (or --micropython) at a "
                           "MicroPython clone, e.g. make firmware BOARD=rp2-pico "
                           "MICROPY_DIR=~/src/micropython (git clone --branch v1.28.0 "
                           "https://github.com/micropython/micropython)")
    path = Path(value).expanduser()
    if not path.is_dir():
        raise CommandError(f"{MICROPY_DIR_ENV}={value}: no such folder")
    if not (path / "py" / "mpconfig.h").is_file() or not (path / "ports").is_dir():
        raise CommandError(f"{MICROPY_DIR_ENV}={value} is not a MicroPython clone "
                           "(no py/mpconfig.h or ports/)")
    return path.resolve()


def check_toolchain(profile: BoardProfile) -> None:
    tool, how = TOOLCHAINS.get(profile.port, ("", ""))
    if tool and shutil.which(tool) is None:
        raise CommandError(f"the {profile.port} port builds with {tool}, not found on PATH: "
                           f"install {how}")


# Ports whose build is CMake's: there USER_C_MODULES names a micropython.cmake, not a folder.
CMAKE_PORTS = frozenset({"rp2", "esp32"})


def port_command(board: str, micropython: str | None, *, jobs: int | None = None,
                 extra: list[str] | None = None, c_modules: Sequence[Path] = ()) -> list[str]:
    """The real port's build command for the board (its freeze manifest written first)."""
    profile = load_profile(board)
    port_build(profile)
    micropy_dir = check_micropy_dir(micropython or os.environ.get(MICROPY_DIR_ENV))
    manifest = write_manifest(profile, virtual_firmware.build_root() / "port")
    extra = list(extra or [])
    if c_modules:
        if profile.port in CMAKE_PORTS:
            raise CommandError(f"the {profile.port} port builds with CMake: link a C module "
                               "there with USER_C_MODULES=<its micropython.cmake> as a make "
                               "variable (--c-module takes make-built ports)")
        folder, _ = virtual_firmware.c_modules_folder(c_modules)
        extra.append(f"USER_C_MODULES={folder}")
    return firmware_command(profile, micropy_dir, manifest, extra=extra, jobs=jobs)


def build_firmware(board: str, micropython: str | None, *, virtual: bool = False,
                   jobs: int | None = None, extra: list[str] | None = None,
                   c_modules: Sequence[Path] = ()) -> FirmwareBuild:
    """Builds the board's firmware: its virtual target, or its real port; with the user C
    modules in `c_modules` linked in."""
    profile = load_profile(board)
    if qemu_firmware.is_qemu(profile):  # a virtual board only: its port is its virtual target
        return qemu_firmware.build(profile, micropython_source.resolve(micropython), jobs,
                                   c_modules=c_modules)
    if virtual:
        return virtual_firmware.build(profile, micropython_source.resolve(micropython), jobs,
                                      c_modules=c_modules)
    command = port_command(board, micropython, jobs=jobs, extra=extra, c_modules=c_modules)
    micropy_dir = check_micropy_dir(micropython or os.environ.get(MICROPY_DIR_ENV))
    check_toolchain(profile)
    started = time.monotonic()
    _run(command)
    out = build_dir(profile, micropy_dir)
    spec = port_build(profile)
    images = sorted(out.glob("firmware*" + Path(spec.image).suffix)) or [out / spec.image]
    elf = out / "firmware.elf"
    text, data, bss = virtual_firmware.image_sizes(elf) if elf.is_file() else (0, 0, 0)
    return FirmwareBuild(board=profile.name, port=profile.port, target="port",
                         image=str(images[0]), text=text, data=data, bss=bss,
                         seconds=round(time.monotonic() - started, 1), cached=False,
                         micropython="")


def _run(command: list[str]) -> None:
    try:
        result = subprocess.run(command, check=False)
    except FileNotFoundError:
        raise CommandError(f"{command[0]}: not found") from None
    if result.returncode != 0:
        raise CommandError(f"{' '.join(command[:3])} ... exited {result.returncode} "
                           "(MicroPython's build output is above)")

