"""`ember firmware build` for real ports: the port build command line, the freeze manifest,
and MICROPY_DIR errors (the virtual target is built for real in test_firmware_virtual.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.boards import profiles as boards
from host_tools.errors import CommandError
from host_tools.install import firmware_build, qemu_firmware
from host_tools.push.session import receiver_tag

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60


@pytest.fixture
def micropy(tmp_path: Path) -> Path:
    """A folder shaped like a MicroPython clone (no source needed for the command line)."""
    clone = tmp_path / "micropython"
    (clone / "py").mkdir(parents=True)
    (clone / "py" / "mpconfig.h").write_text("")
    (clone / "ports").mkdir()
    return clone


def run_build(*args: str, env_drop: tuple[str, ...] = ("MICROPY_DIR", "BOARD"),
              build_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`ember firmware build ARGS` with MICROPY_DIR unset (and builds under build_dir)."""
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    if build_dir is not None:
        env["EMBER_BUILD_DIR"] = str(build_dir)
    return subprocess.run([sys.executable, "-m", "host_tools", "firmware", "build", *args],
                          capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT, env=env)


def test_every_board_profile_maps_to_a_micropython_board() -> None:
    names = set(boards.profile_names())
    virtual = {n for n in names if qemu_firmware.is_qemu(boards.load_profile(n))}
    assert set(firmware_build.PORT_BUILDS) == names - virtual
    # The bare-metal virtual board is the qemu port's MPS2_AN385, built by qemu_firmware.
    assert virtual == {"qemu-mps2-an385"} and qemu_firmware.MP_BOARD == "MPS2_AN385"


@pytest.mark.parametrize(("name", "board"), [
    ("esp8266-generic", "ESP8266_GENERIC"), ("esp32-generic", "ESP32_GENERIC"),
    ("rp2-pico", "RPI_PICO"), ("rp2-pico-w", "RPI_PICO_W"), ("stm32-pybv11", "PYBV11"),
    ("samd21-generic", "SAMD_GENERIC_D21X18"),
])
def test_board_names(name: str, board: str) -> None:
    assert firmware_build.port_build(boards.load_profile(name)).board == board


def test_rp2_pico_command_line(micropy: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.py"
    command = firmware_build.firmware_command(boards.load_profile("rp2-pico"), micropy,
                                              manifest)
    assert command == ["make", "-C", str(micropy.resolve() / "ports" / "rp2"), "BOARD=RPI_PICO",
                       "BUILD=build-RPI_PICO-ember", f"FROZEN_MANIFEST={manifest.resolve()}"]


def test_esp8266_command_line_carries_the_feature_cuts(micropy: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.py"
    command = firmware_build.firmware_command(boards.load_profile("esp8266-generic"), micropy,
                                              manifest, extra=["V=1"], jobs=4)
    assert command == ["make", "-C", str(micropy.resolve() / "ports" / "esp8266"), "-j4",
                       "BOARD=ESP8266_GENERIC", "BUILD=build-ESP8266_GENERIC-ember",
                       f"FROZEN_MANIFEST={manifest.resolve()}", "MICROPY_PY_BTREE=0",
                       "MICROPY_PY_ESPNOW=0", "V=1"]


def test_submodules_command(micropy: Path) -> None:
    command = firmware_build.submodules_command(boards.load_profile("stm32-pybv11"), micropy)
    assert command == ["make", "-C", str(micropy.resolve() / "ports" / "stm32"), "BOARD=PYBV11",
                       "submodules"]


def test_manifest_includes_the_port_base_then_the_runtime(tmp_path: Path) -> None:
    path = firmware_build.write_manifest(boards.load_profile("rp2-pico"), tmp_path)
    assert path == (tmp_path / "rp2-pico" / "manifest.py").resolve()
    namespace: dict[str, list[str]] = {"included": [], "modules": []}
    # Run it as MicroPython's manifest tool would, recording include() and module() calls.
    exec(path.read_text(), {"include": namespace["included"].append,
                            "module": lambda name, base_path: namespace["modules"].append(
                                str(Path(base_path) / name))})
    assert namespace["included"] == ["$(PORT_DIR)/boards/manifest.py",
                                     str((ROOT / "firmware" / "manifest.py").resolve())]
    assert Path(namespace["included"][1]).is_file()
    # and the push receiver, as the module the quick start imports
    frozen = Path(namespace["modules"][0])
    assert frozen.name == f"rx_{receiver_tag()}.py"
    assert frozen.read_bytes() == (ROOT / "firmware" / "push" / "receiver.py").read_bytes()


def test_pico_w_keeps_its_board_manifest() -> None:
    text = firmware_build.manifest_text(boards.load_profile("rp2-pico-w"))
    assert "include('$(BOARD_DIR)/manifest.py')" in text


def test_micropy_dir_checks(micropy: Path, tmp_path: Path) -> None:
    assert firmware_build.check_micropy_dir(str(micropy)) == micropy.resolve()
    with pytest.raises(CommandError, match="MICROPY_DIR is not set"):
        firmware_build.check_micropy_dir("")
    with pytest.raises(CommandError, match="no such folder"):
        firmware_build.check_micropy_dir(str(tmp_path / "nowhere"))
    with pytest.raises(CommandError, match="is not a MicroPython clone"):
        firmware_build.check_micropy_dir(str(tmp_path))


def test_missing_micropy_dir_exits_1_with_one_line() -> None:
    result = run_build("--board", "rp2-pico")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ember: MICROPY_DIR is not set")


def test_empty_micropy_dir_from_make_is_the_same_error() -> None:
    # The Makefile exports MICROPY_DIR, empty when no source is found.
    result = run_build("--board", "rp2-pico", "--micropython", "")
    assert result.returncode == 1
    assert "MICROPY_DIR is not set" in result.stderr


def test_virtual_build_without_a_source_names_the_ways_to_give_one() -> None:
    result = run_build("--board", "rp2-pico", "--virtual")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no MicroPython source" in lines[0] and "MICROPY_DIR" in lines[0]


def test_missing_board_and_unknown_board(micropy: Path) -> None:
    result = run_build("--micropython", str(micropy))
    assert result.returncode == 1 and "needs --board NAME" in result.stderr
    result = run_build("--board", "rp2-pcio", "--micropython", str(micropy))
    assert result.returncode == 1 and "did you mean 'rp2-pico'" in result.stderr


def test_dry_run_prints_the_command(micropy: Path, tmp_path: Path) -> None:
    result = run_build("--board", "stm32-pybv11", "--micropython", str(micropy), "--dry-run",
                       "-j", "2", build_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = (tmp_path.resolve() / "firmware" / "port" / "stm32-pybv11" / "manifest.py")
    assert result.stdout.split() == ["make", "-C", str(micropy.resolve() / "ports" / "stm32"),
                                     "-j2", "BOARD=PYBV11", "BUILD=build-PYBV11-ember",
                                     f"FROZEN_MANIFEST={manifest}"]
    assert manifest.is_file()


IRQRING = Path(__file__).resolve().parents[2] / "examples" / "native_stream" / "app" / "irqring"


def test_a_c_module_joins_a_make_port_build_and_is_refused_on_a_cmake_port(
        micropy: Path, tmp_path: Path) -> None:
    result = run_build("--board", "stm32-pybv11", "--micropython", str(micropy), "--dry-run",
                       "--c-module", str(IRQRING), build_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    modules = next(a for a in result.stdout.split() if a.startswith("USER_C_MODULES="))
    folder = Path(modules.partition("=")[2])
    assert (folder / "irqring").resolve() == IRQRING  # one folder of links, as MicroPython wants
    result = run_build("--board", "rp2-pico", "--micropython", str(micropy), "--dry-run",
                       "--c-module", str(IRQRING), build_dir=tmp_path)
    assert result.returncode == 1 and "builds with CMake" in result.stderr


def test_a_folder_without_micropython_mk_is_not_a_c_module(micropy: Path,
                                                           tmp_path: Path) -> None:
    result = run_build("--board", "stm32-pybv11", "--micropython", str(micropy), "--dry-run",
                       "--c-module", str(tmp_path), build_dir=tmp_path)
    assert result.returncode == 1 and "not a user C module" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
