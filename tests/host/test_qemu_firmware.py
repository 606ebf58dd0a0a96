"""The qemu board's build and QEMU's command line, without building or running anything."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from host_tools.boards.profiles import load_profile
from host_tools.errors import CommandError
from host_tools.install import qemu_firmware
from host_tools.install.virtual_firmware import gc_arena_bytes
from host_tools.sim import qemu_supervisor

PROFILE = load_profile("qemu-mps2-an385")


def test_make_args_take_the_heap_and_flash_from_the_profile() -> None:
    args = qemu_firmware.make_args(PROFILE, PROFILE.heap_bytes)
    assert "BOARD=MPS2_AN385" in args and "MICROPY_VFS_LFS2=1" in args
    assert f"MICROPY_HEAP_SIZE={gc_arena_bytes(PROFILE.heap_bytes)}" in args
    assert f"USER_C_MODULES={qemu_firmware.BOARD_DIR}" in args
    defines = next(a for a in args if a.startswith("CFLAGS_EXTRA="))
    assert f"-DEMBER_FLASH_BYTES={PROFILE.fs_bytes}" in defines
    assert f"-DEMBER_BLOCK_SIZE={PROFILE.block_size}" in defines


def test_the_manifest_freezes_the_boot_and_the_runtime_unless_told_not_to() -> None:
    with_runtime = qemu_firmware.manifest_text(runtime=True)
    assert "manifest_boot.py" in with_runtime and "firmware/manifest.py" in with_runtime
    bare = qemu_firmware.manifest_text(runtime=False)
    assert "manifest_boot.py" in bare and "firmware/manifest.py" not in bare


def test_a_flash_bigger_than_its_region_is_refused() -> None:
    big = replace(PROFILE, fs_bytes=32 * 1024 * 1024)
    with pytest.raises(CommandError, match="fs_bytes"):
        qemu_firmware.check_profile(big)


def test_qemu_runs_without_semihosting_with_its_flash_shared_with_the_image() -> None:
    command = qemu_supervisor.qemu_command("qemu-system-arm", Path("/s/root/firmware"),
                                           Path("/s/flash.img"), ("/dev/pts/8", "/dev/pts/9"),
                                           sandboxed=True)
    assert not any("semihosting" in arg for arg in command)
    backend = command[command.index("-object") + 1]
    assert "mem-path=/s/flash.img" in backend and "share=on" in backend
    assert command.count("-serial") == 2 and command.index("/dev/pts/8") < command.index(
        "/dev/pts/9")
    assert "-sandbox" in command


def test_a_new_image_is_the_region_with_an_erased_filesystem(tmp_path: Path) -> None:
    image = qemu_supervisor.prepare_flash(tmp_path, 8192)
    assert image.stat().st_size == qemu_supervisor.FLASH_REGION_BYTES
    with open(image, "rb") as f:
        assert f.read(8192) == b"\xff" * 8192


def test_an_image_of_another_size_is_refused(tmp_path: Path) -> None:
    (tmp_path / "flash.img").write_bytes(bytes(4096))
    with pytest.raises(SystemExit, match="4096 bytes"):
        qemu_supervisor.prepare_flash(tmp_path, 8192)
