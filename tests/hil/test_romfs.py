"""ROMFS: an app and the runtime as one image, deployed to a virtual board, imported from /rom."""

from __future__ import annotations

from pathlib import Path

import pytest
from mpremote.romfs import VfsRomWriter

from host_tools.errors import CommandError
from host_tools.install import romfs
from host_tools.install.runtime import board_target
from host_tools.link.session import Link
from host_tools.push.session import plan, push
from host_tools.sim.launcher import VirtualBoard

APP = "def hello():\n    return 'from romfs'\n"

# A stand-in for ROMFS-enabled firmware's vfs module on the virtual board: one 16 KiB
# partition in RAM behind vfs.rom_ioctl (the request numbers mpremote's deploy uses), the
# real VfsRom/mount/umount beside it. Installed as sys.modules['vfs'] for one test.
FAKE_VFS = """\
import vfs as _vfs

VfsRom = _vfs.VfsRom
mount = _vfs.mount
umount = _vfs.umount
part = bytearray(16384)
calls = []


def rom_ioctl(op, *args):
    calls.append(op)
    if op == 1:  # number of partitions
        return 1
    if op == 2:  # the partition, as a buffer
        return memoryview(part) if args[0] == 0 else -19
    if op == 3:  # prepare (erase): returns the minimum write size
        part[:] = b"\\xff" * len(part)
        return 16
    if op == 4:  # write
        offset, buf = args[1], args[2]
        part[offset:offset + len(buf)] = buf
        return 0
    if op == 5:  # complete
        return 0
    if op == 6:  # erase-block size
        return 4096
    return -22
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    return folder


def test_image_layout_app_on_top_runtime_under_lib(app_dir: Path) -> None:
    image = romfs.build_romfs([app_dir])  # no target: source files
    assert image.startswith(VfsRomWriter.ROMFS_HEADER)
    assert b"app.py" in image and APP.encode() in image
    assert b"__init__.py" in image and b"ember" in image


def test_image_from_files_refuses_bad_names() -> None:
    with pytest.raises(CommandError, match="appears twice"):
        romfs.image_from_files([("a.py", b"1"), ("a.py", b"2")])
    with pytest.raises(CommandError, match="both a file and a folder"):
        romfs.image_from_files([("lib", b"1"), ("lib/x.py", b"2")])
    with pytest.raises(CommandError, match="plain ASCII"):
        romfs.image_from_files([("caf\u00e9.py", b"1")])


def test_romfs_app_runs_from_rom_on_the_virtual_board(sim: VirtualBoard, app_dir: Path) -> None:
    with Link(sim.port) as link:
        target, _ = board_target(link, None)
        image = romfs.build_romfs([app_dir], target)
        result = romfs.deploy_romfs(link, image)
        assert result == romfs.RomfsDeployment("ram", len(image))
        # The virtual board mounts a RAM copy with vfs.VfsRom; the app imports from /rom.
        assert link.eval("__import__('os').listdir('/rom')") == ["app.mpy", "lib"]
        assert link.eval("__import__('app').hello()") == "from romfs"
        assert link.eval("__import__('app').__file__") == "/rom/app.mpy"
        assert link.eval("__import__('ember').__file__") == "/rom/lib/ember/__init__.mpy"
        assert link.eval("[p for p in __import__('sys').path if p.startswith('/rom')]") == [
            "/rom", "/rom/lib"]


def test_romfs_deploy_again_replaces_the_mount(sim: VirtualBoard, app_dir: Path) -> None:
    with Link(sim.port) as link:
        romfs.deploy_romfs(link, romfs.build_romfs([app_dir], runtime=False))
        (app_dir / "app.py").write_text("def hello():\n    return 'second'\n")
        romfs.deploy_romfs(link, romfs.build_romfs([app_dir], runtime=False))
        assert link.eval("__import__('app').hello()") == "second"
        assert link.eval("__import__('os').listdir('/rom')") == ["app.py"]


def test_romfs_partition_path_with_rom_ioctl(sim: VirtualBoard, app_dir: Path,
                                             tmp_path: Path) -> None:
    fake = tmp_path / "fakevfs.py"
    fake.write_text(FAKE_VFS)
    with Link(sim.port) as link:
        push(link, plan([(fake, "fakevfs.py")], "/"), dest="/")
        link.exec("import sys, fakevfs\nsys.modules['vfs'] = fakevfs")
        target, _ = board_target(link, None)
        image = romfs.build_romfs([app_dir], target)
        done: list[tuple[int, int]] = []
        result = romfs.deploy_romfs(link, image, progress=lambda n, total: done.append((n, total)))
        assert result == romfs.RomfsDeployment("partition", len(image), 16384)
        assert done[-1] == (len(image), len(image))
        assert link.eval(f"bytes(__import__('fakevfs').part[:{len(image)}])") == image
        assert set(link.eval("__import__('fakevfs').calls")) >= {1, 2, 3, 4, 5, 6}
        assert link.eval("__import__('app').hello()") == "from romfs"
        assert link.eval("__import__('app').__file__") == "/rom/app.mpy"


def test_romfs_too_big_for_the_partition(sim: VirtualBoard, tmp_path: Path) -> None:
    fake = tmp_path / "fakevfs.py"
    fake.write_text(FAKE_VFS)
    image = romfs.image_from_files([("big.bin", bytes(20000))])
    with Link(sim.port) as link:
        push(link, plan([(fake, "fakevfs.py")], "/"), dest="/")
        link.exec("import sys, fakevfs\nsys.modules['vfs'] = fakevfs")
        with pytest.raises(CommandError, match="partition 0 holds 16384"):
            romfs.deploy_romfs(link, image)


def test_romfs_without_partition_or_ram_copy_is_refused(sim: VirtualBoard) -> None:
    image = romfs.image_from_files([("a.py", b"x = 1\n")])
    with Link(sim.port) as link:
        with pytest.raises(CommandError, match="no ROMFS partition 0"):
            romfs.deploy_romfs(link, image, in_ram=False)
        with pytest.raises(CommandError, match="not a ROMFS image"):
            romfs.deploy_romfs(link, b"not an image")


def test_install_romfs_builds_for_the_board(sim: VirtualBoard, app_dir: Path) -> None:
    with Link(sim.port) as link:
        result = romfs.install_romfs(link, [app_dir])
        assert result.kind == "ram"
        assert link.eval("__import__('app').hello()") == "from romfs"
