"""Flashers: command lines, image checks, missing tools, and a UF2 copy to a fake boot drive."""

from __future__ import annotations

import os
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from host_tools.boards import profiles as boards
from host_tools.errors import CommandError
from host_tools.install import flash
from host_tools.link import device_code

RP2040 = 0xE48BFF56
SAMD21 = 0x68ED2B88


def uf2_image(blocks: int = 3, family: int | None = RP2040) -> bytes:
    """A well-formed UF2 file of `blocks` blocks (payload 256 bytes each)."""
    flags = flash.UF2_FLAG_FAMILY if family is not None else 0
    out = b""
    for index in range(blocks):
        head = struct.pack("<IIIIIIII", flash.UF2_MAGIC_START0, flash.UF2_MAGIC_START1, flags,
                           0x10000000 + 256 * index, 256, index, blocks,
                           family if family is not None else 0)
        out += head + bytes(476) + struct.pack("<I", flash.UF2_MAGIC_END)
    return out


class FakeLink:
    """Stands in for Link at the bootloader request: records code, runs a side effect."""

    def __init__(self, on_start: Callable[[], None] | None = None) -> None:
        self.on_start = on_start
        self.ports: list[str] = []
        self.started: list[str] = []

    def __call__(self, port: str) -> FakeLink:
        self.ports.append(port)
        return self

    def __enter__(self) -> FakeLink:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def start(self, code: str | bytes) -> None:
        self.started.append(code if isinstance(code, str) else code.decode())
        if self.on_start is not None:
            self.on_start()


class FakeRunner:
    """Records tool command lines and answers with a fixed exit code and output."""

    def __init__(self, returncode: int = 0, stdout: str = "") -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.calls: list[list[str]] = []

    def __call__(self, command: Sequence[str], quiet: bool) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(command))
        return subprocess.CompletedProcess(list(command), self.returncode, self.stdout, "")


@pytest.fixture
def port(tmp_path: Path) -> str:
    """A path that exists, standing in for the board's serial device."""
    device = tmp_path / "ttyACM-fake"
    device.write_bytes(b"")
    return str(device)


@pytest.fixture
def drive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "RPI-RP2"
    folder.mkdir()
    monkeypatch.setenv(flash.UF2_DRIVE_ENV, str(folder))
    return folder


def mark_as_boot_drive(folder: Path) -> None:
    (folder / flash.UF2_INFO).write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\n"
                                         "Board-ID: RPI-RP2\n")


def one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(error.value)
    assert "\n" not in text, text
    return text


# --- registry -------------------------------------------------------------------------------


def test_every_flasher_name_has_a_class() -> None:
    assert set(flash.FLASHERS) == set(boards.FLASHERS)


@pytest.mark.parametrize("name", boards.profile_names())
def test_every_profile_gets_its_flasher(name: str, port: str) -> None:
    profile = boards.load_profile(name)
    flasher = flash.flasher_for(profile, port)
    assert isinstance(flasher, flash.FLASHERS[profile.flash.flasher])


# --- esptool --------------------------------------------------------------------------------


def test_esptool_esp8266_writes_at_0_with_detected_size() -> None:
    args = flash.esptool_args("esp8266", "/dev/ttyUSB0", Path("fw.bin"))
    assert args == ["--chip", "esp8266", "--port", "/dev/ttyUSB0", "--baud", "460800",
                    "write-flash", "--flash-size", "detect", "0x0", "fw.bin"]


def test_esptool_esp32_writes_at_0x1000() -> None:
    args = flash.esptool_args("esp32", "/dev/ttyUSB0", Path("fw.bin"))
    assert args == ["--chip", "esp32", "--port", "/dev/ttyUSB0", "--baud", "460800",
                    "write-flash", "0x1000", "fw.bin"]


@pytest.mark.parametrize(("chip", "offset"), [("esp32s3", "0x0"), ("ESP32-C3", "0x0"),
                                              ("esp32s2", "0x1000"), ("esp32p4", "0x2000")])
def test_esptool_offsets_of_other_chips(chip: str, offset: str) -> None:
    assert flash.esptool_args(chip, "COM3", Path("x.bin"))[-2] == offset


def test_esptool_unknown_chip_is_refused() -> None:
    with pytest.raises(CommandError, match="no firmware offset known") as error:
        flash.esptool_args("esp31", "COM3", Path("x.bin"))
    one_line(error)


def test_esptool_runs_as_python_module(tmp_path: Path, port: str) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\xe9" + bytes(63))
    runner = FakeRunner()
    flasher = flash.flasher_for(boards.load_profile("esp32-generic"), port, runner=runner)
    flasher.check(image)
    flasher.write(image)
    assert runner.calls == [[sys.executable, "-m", "esptool", "--chip", "esp32", "--port", port,
                             "--baud", "460800", "write-flash", "0x1000", str(image)]]


def test_esptool_missing_is_one_line_error(tmp_path: Path, port: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\xe9" + bytes(63))
    real_find_spec = flash.importlib.util.find_spec

    def no_esptool(name: str, *args: object) -> object:
        return None if name == "esptool" else real_find_spec(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(flash.importlib.util, "find_spec", no_esptool)
    runner = FakeRunner()
    flasher = flash.flasher_for(boards.load_profile("esp8266-generic"), port, runner=runner)
    with pytest.raises(CommandError, match="esptool is not installed") as error:
        flasher.write(image)
    one_line(error)
    assert runner.calls == []


def test_esptool_failure_names_its_reason(tmp_path: Path, port: str) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\xe9" + bytes(63))
    runner = FakeRunner(2, "esptool v5\nConnecting....\nA fatal error occurred: Failed to "
                           "connect to ESP8266: No serial data received.\n")
    flasher = flash.flasher_for(boards.load_profile("esp8266-generic"), port, runner=runner)
    with pytest.raises(CommandError, match="exit 2.*No serial data received") as error:
        flasher.write(image)
    one_line(error)


def test_esptool_refuses_a_file_that_is_not_an_esp_image(tmp_path: Path, port: str) -> None:
    image = tmp_path / "notes.bin"
    image.write_bytes(b"hello")
    flasher = flash.flasher_for(boards.load_profile("esp32-generic"), port)
    with pytest.raises(CommandError, match="not an ESP firmware image"):
        flasher.check(image)


# --- dfu-util and bossac ----------------------------------------------------------------------


def test_dfu_util_command_line() -> None:
    assert flash.dfu_util_args(Path("PYBV11.dfu")) == ["-a", "0", "-d", "0483:df11", "-D",
                                                       "PYBV11.dfu"]


def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_dfu_util_missing_is_one_line_error(tmp_path: Path, port: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    image = tmp_path / "fw.dfu"
    image.write_bytes(flash.DFUSE_PREFIX + bytes(16))
    empty_path(tmp_path, monkeypatch)
    flasher = flash.flasher_for(boards.load_profile("stm32-pybv11"), port)
    with pytest.raises(CommandError, match="dfu-util is not installed") as error:
        flasher.write(image)
    one_line(error)


def fake_tool(bin_dir: Path, name: str, listing: str = "") -> Path:
    """A shell script on PATH that logs its arguments and prints `listing` for -l."""
    log = bin_dir / f"{name}.log"
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n'
                      f'if [ "$1" = "-l" ]; then printf "%s\\n" "{listing}"; fi\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return log


@pytest.mark.skipif(os.name == "nt", reason="shell-script stand-in for the tool")
def test_dfu_util_downloads_once_the_device_is_listed(tmp_path: Path, port: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    image = tmp_path / "fw.dfu"
    image.write_bytes(flash.DFUSE_PREFIX + bytes(16))
    bin_dir = empty_path(tmp_path, monkeypatch)
    log = fake_tool(bin_dir, "dfu-util", "Found DFU: [0483:df11] ver=2200, devnum=5, alt=0")
    link = FakeLink()
    flasher = flash.flasher_for(boards.load_profile("stm32-pybv11"), port, quiet=True,
                                open_link=link)
    flasher.check(image)
    flasher.write(image)
    assert log.read_text().splitlines() == ["-l -d 0483:df11", f"-a 0 -d 0483:df11 -D {image}"]
    assert link.started == []  # already in DFU mode: no bootloader request


@pytest.mark.skipif(os.name == "nt", reason="shell-script stand-in for the tool")
def test_dfu_util_no_device_errors_after_the_deadline(tmp_path: Path, port: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    image = tmp_path / "fw.dfu"
    image.write_bytes(flash.DFUSE_PREFIX + bytes(16))
    fake_tool(empty_path(tmp_path, monkeypatch), "dfu-util", "")
    link = FakeLink()
    flasher = flash.flasher_for(boards.load_profile("stm32-pybv11"), port, quiet=True,
                                open_link=link, bootloader_timeout=0.3)
    with pytest.raises(CommandError, match="no DFU device 0483:df11") as error:
        flasher.write(image)
    one_line(error)
    assert link.started == [device_code.one_off(*flash.BOOTLOADER_REQUEST)]


def test_dfu_util_refuses_a_file_without_the_dfuse_prefix(tmp_path: Path, port: str) -> None:
    image = tmp_path / "fw.dfu"
    image.write_bytes(b"\x00" * 32)
    flasher = flash.flasher_for(boards.load_profile("stm32-pybv11"), port)
    with pytest.raises(CommandError, match="not a DfuSe image"):
        flasher.check(image)


def test_bossac_command_line() -> None:
    assert flash.bossac_args("samd21x18a", "/dev/ttyACM0", Path("fw.bin")) == [
        "-p", "/dev/ttyACM0", "-U", "-e", "-w", "-v", "-R", "--offset=0x2000", "fw.bin"]
    assert "--offset=0x4000" in flash.bossac_args("SAMD51J19A", "COM4", Path("fw.bin"))


def test_bossac_missing_is_one_line_error(tmp_path: Path, port: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(bytes(64))
    empty_path(tmp_path, monkeypatch)
    profile = boards.load_profile("samd21-generic")
    flasher = flash.BossacFlasher(profile, port)
    with pytest.raises(CommandError, match="bossac is not installed") as error:
        flasher.write(image)
    one_line(error)


# --- UF2 ------------------------------------------------------------------------------------


def test_uf2_check_counts_blocks() -> None:
    assert flash.check_uf2(uf2_image(5), "fw.uf2", "rp2040") == 5


@pytest.mark.parametrize("data", [b"", b"hello world", bytes(512), uf2_image(2)[:-1] + b"\x00"])
def test_uf2_check_refuses_non_uf2_data(data: bytes) -> None:
    with pytest.raises(CommandError, match="is not a UF2 file") as error:
        flash.check_uf2(data, "fw.uf2", "rp2040")
    one_line(error)


def test_uf2_check_refuses_another_chips_family() -> None:
    with pytest.raises(CommandError, match="family 0x68ed2b88, not rp2040"):
        flash.check_uf2(uf2_image(2, family=SAMD21), "samd.uf2", "rp2040")
    flash.check_uf2(uf2_image(2, family=SAMD21), "samd.uf2", "samd21x18a")
    flash.check_uf2(uf2_image(2, family=None), "old.uf2", "rp2040")  # no family: accepted


def test_uf2_board_id_is_read_from_info_file() -> None:
    assert flash.uf2_board_id("UF2 Bootloader v3.0\nBoard-ID: RPI-RP2\n") == "RPI-RP2"
    assert flash.uf2_board_id("nothing here") == ""


def test_uf2_copies_to_a_mounted_boot_drive(tmp_path: Path, port: str, drive: Path) -> None:
    mark_as_boot_drive(drive)
    image = tmp_path / "firmware.uf2"
    image.write_bytes(uf2_image(4))
    link = FakeLink()
    flasher = flash.flasher_for(boards.load_profile("rp2-pico"), port, open_link=link)
    flasher.check(image)
    flasher.write(image)
    assert (drive / "firmware.uf2").read_bytes() == image.read_bytes()
    assert link.started == []  # the drive was already there


def test_uf2_asks_the_board_for_its_bootloader_then_copies(tmp_path: Path, port: str,
                                                           drive: Path) -> None:
    image = tmp_path / "firmware.uf2"
    image.write_bytes(uf2_image(4))
    # machine.bootloader() replaced: "entering the bootloader" mounts the drive.
    link = FakeLink(on_start=lambda: mark_as_boot_drive(drive))
    flasher = flash.flasher_for(boards.load_profile("rp2-pico"), port, open_link=link,
                                bootloader_timeout=5.0)
    flasher.write(image)
    assert link.ports == [port]
    assert link.started == [device_code.one_off(*flash.BOOTLOADER_REQUEST)]
    assert "machine.bootloader()" in device_code.compacted(flash.BOOTLOADER_REQUEST[0])
    assert (drive / "firmware.uf2").read_bytes() == image.read_bytes()


def test_uf2_without_a_drive_errors_after_the_deadline(tmp_path: Path, port: str,
                                                       drive: Path) -> None:
    image = tmp_path / "firmware.uf2"
    image.write_bytes(uf2_image(2))
    link = FakeLink()  # the board "resets" but no drive ever appears
    flasher = flash.flasher_for(boards.load_profile("rp2-pico"), port, open_link=link,
                                bootloader_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(CommandError, match="no RPI-RP2 boot drive") as error:
        flasher.write(image)
    assert time.monotonic() - started < 5
    assert flash.UF2_DRIVE_ENV in one_line(error)
    assert link.started == [device_code.one_off(*flash.BOOTLOADER_REQUEST)]
    assert not (drive / "firmware.uf2").exists()


def test_uf2_refuses_a_non_uf2_file_before_touching_the_board(tmp_path: Path, port: str,
                                                              drive: Path) -> None:
    mark_as_boot_drive(drive)
    image = tmp_path / "firmware.uf2"
    image.write_bytes(b"\x7fELF" + bytes(1020))
    link = FakeLink()
    with pytest.raises(CommandError, match="not a UF2 file"):
        flash.write_firmware(port, image, "rp2-pico", quiet=True, open_link=link)
    assert link.started == [] and not (drive / "firmware.uf2").exists()


def test_uf2_drive_is_found_by_board_id_among_mounts(tmp_path: Path, port: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(flash.UF2_DRIVE_ENV, raising=False)
    other = tmp_path / "media" / "user" / "USBSTICK"
    boot = tmp_path / "media" / "user" / "RPI-RP2"
    for folder in (other, boot):
        folder.mkdir(parents=True)
    (other / "notes.txt").write_text("not a boot drive")
    mark_as_boot_drive(boot)
    monkeypatch.setattr(flash, "UF2_MOUNT_GLOBS", (str(tmp_path / "media" / "*" / "*"),))
    flasher = flash.Uf2Flasher(boards.load_profile("rp2-pico"), port)
    assert flasher.find_drive() == boot
    samd = flash.Uf2Flasher(boards.load_profile("samd21-generic"), port)
    assert samd.find_drive() is None  # an RP2 drive is not a SAMD21 one


# --- write_firmware -------------------------------------------------------------------------


def test_write_firmware_needs_a_board(tmp_path: Path, port: str) -> None:
    with pytest.raises(CommandError, match="--board is needed to know the flasher") as error:
        flash.write_firmware(port, tmp_path / "fw.uf2", None)
    one_line(error)


def test_write_firmware_on_a_virtual_board_swaps_its_image(
        tmp_path: Path, port: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # As esptool writes a real board's flash, a virtual board gets the image in place of its
    # firmware (tests/hil/test_virtual_board.py swaps one for real).
    from host_tools.sim import launcher

    record = object()
    swapped: list[tuple[object, Path]] = []
    monkeypatch.setattr(flash.registry, "find", lambda path: record)
    monkeypatch.setattr(launcher, "reflash", lambda rec, image: swapped.append((rec, image)))
    flash.write_firmware(port, tmp_path / "micropython", None)
    assert swapped == [(record, tmp_path / "micropython")]


def test_write_firmware_missing_image(tmp_path: Path, port: str) -> None:
    with pytest.raises(CommandError, match="no such firmware image") as error:
        flash.write_firmware(port, tmp_path / "missing.uf2", "rp2-pico")
    one_line(error)


@pytest.mark.parametrize(("board", "name", "wanted"), [
    ("rp2-pico", "fw.bin", ".uf2"), ("esp32-generic", "fw.uf2", ".bin"),
    ("stm32-pybv11", "fw.bin", ".dfu"), ("esp8266-generic", "fw.dfu", ".bin"),
])
def test_write_firmware_refuses_the_wrong_suffix(tmp_path: Path, port: str, board: str,
                                                 name: str, wanted: str) -> None:
    image = tmp_path / name
    image.write_bytes(bytes(512))
    with pytest.raises(CommandError, match=f"takes a \\{wanted} image") as error:
        flash.write_firmware(port, image, board)
    one_line(error)


def test_write_firmware_uf2_end_to_end(tmp_path: Path, port: str, drive: Path) -> None:
    image = tmp_path / "RPI_PICO-v1.29.uf2"
    image.write_bytes(uf2_image(3))
    link = FakeLink(on_start=lambda: mark_as_boot_drive(drive))
    flash.write_firmware(port, image, "rp2-pico", quiet=True, open_link=link,
                         bootloader_timeout=5.0)
    assert (drive / image.name).read_bytes() == image.read_bytes()


def test_port_that_never_returns_is_a_link_error(tmp_path: Path) -> None:
    from host_tools.errors import LinkError

    with pytest.raises(LinkError, match="did not come back") as error:
        flash.wait_for_port(str(tmp_path / "gone"), 0.2)
    one_line(error)
    flash.wait_for_port("rfc2217://lab:4000", 0.0)  # URLs are not waited for
