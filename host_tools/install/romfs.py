"""ROMFS images of an app and the runtime: built with mpremote's romfs writer, deployed to /rom.

A ROMFS holds files the firmware reads in place from flash: `.mpy` bytecode in it runs without
being copied to RAM, like frozen code, but is replaced without reflashing the firmware. The
image keeps the app's files at its top and the runtime under `lib/ember`, so once mounted at
/rom, `import app` and `import ember` find them through sys.path's '/rom' and '/rom/lib'.

Where it goes:
- firmware with ROMFS partitions (`vfs.rom_ioctl`, MicroPython 1.25+ builds that enable it):
  the partition is erased and written in chunks as `mpremote romfs deploy` does, then mounted;
- the unix port behind a virtual board has no partition: the image is pushed to /romfs.img
  and a copy of it held in RAM is mounted with `vfs.VfsRom` (which takes any buffer: bytes,
  bytearray or memoryview of the whole image). That copy costs RAM, unlike a real partition,
  and is gone after a reset: deploy again (or call `mount_in_ram`) after one.
"""

from __future__ import annotations

import binascii
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mpremote.romfs import VfsRomWriter

from host_tools.errors import CommandError, DeviceError
from host_tools.link import device_code
from host_tools.link.interface import BoardLink, Progress
from host_tools.mpy import compiler
from host_tools.mpy.compiler import BuildResult, Target
from host_tools.paths import RUNTIME_DIR, RUNTIME_OPTIMISE
from host_tools.push.session import plan, push

MOUNT_POINT = "/rom"
RUNTIME_PREFIX = "lib/ember"
RAM_IMAGE_PATH = "/romfs.img"
CHUNK = 4096  # bytes per write, as mpremote's deploy
DEVICE_STEPS = "host/romfs.py"  # the board's side of each step, under firmware/
SKIP_NAMES = {"__pycache__", ".DS_Store", compiler.INDEX_NAME}

# vfs.rom_ioctl request numbers (extmod/vfs_rom_ioctl.h, as mpremote's commands.py uses them).
# Block-device ioctl numbers for partitions that are objects (extmod/vfs.h).


@dataclass(frozen=True)
class RomfsDeployment:
    """Where an image went: 'partition' (flash, kept across resets) or 'ram' (a copy)."""

    kind: str
    size: int
    capacity: int | None = None  # partition bytes; None for a RAM copy
    mount_point: str = MOUNT_POINT


# --- building ---------------------------------------------------------------------------


def _files(result: BuildResult) -> list[tuple[str, Path]]:
    return [(f.output.relative_to(result.out_dir).as_posix(), f.output) for f in result.files
            if not SKIP_NAMES.intersection(f.output.relative_to(result.out_dir).parts)]


def image_from_files(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A ROMFS image of (relative posix path, contents) pairs, directories sorted by name."""
    tree: dict[str, object] = {}
    for relative, data in files:
        parts = relative.split("/")
        for part in parts:
            if not part or part in (".", "..") or not part.isascii():
                raise CommandError(f"{relative!r}: ROMFS names must be plain ASCII path parts")
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise CommandError(f"{relative!r}: {part!r} is both a file and a folder")
            node = child
        if parts[-1] in node:
            raise CommandError(f"{relative!r} appears twice in the ROMFS image")
        node[parts[-1]] = data
    writer = VfsRomWriter()
    _write_tree(writer, tree)
    return bytes(writer.finalise())


def _write_tree(writer: VfsRomWriter, tree: dict[str, object]) -> None:
    for name in sorted(tree):
        entry = tree[name]
        if isinstance(entry, dict):
            writer.opendir(name)
            _write_tree(writer, entry)
            writer.closedir()
        else:
            assert isinstance(entry, bytes)
            writer.mkfile(name, entry)


def build_romfs(sources: list[Path], target: Target | None = None, *, runtime: bool = True,
                build_dir: Path | None = None) -> bytes:
    """Image of the app (sources: files or folders) and the runtime, as .mpy for the target.

    Without a target, .py files go in as source (the board compiles them at import, in RAM).
    A folder's contents land at the top of the image; the runtime under lib/ember.
    """
    with tempfile.TemporaryDirectory(prefix="ember-romfs-") as scratch:
        base = build_dir or Path(scratch)
        as_source = target is None
        app = compiler.build(sources, target, base / "app", as_source=as_source)
        files = _files(app)
        if runtime:
            built = compiler.build([RUNTIME_DIR], target, base / "runtime", as_source=as_source,
                                   optimise=RUNTIME_OPTIMISE)
            files += [(f"{RUNTIME_PREFIX}/{rel}", path) for rel, path in _files(built)]
        return image_from_files((rel, path.read_bytes()) for rel, path in files)


# --- deploying ----------------------------------------------------------------------------


def deploy_romfs(link: BoardLink, image: bytes, *, partition: int = 0, in_ram: bool | None = None,
                 progress: Progress | None = None) -> RomfsDeployment:
    """Writes the image to ROMFS partition `partition` and mounts it at /rom.

    in_ram: True mounts a RAM copy (firmware without a partition); None does so only on a
    virtual board; False never does.
    """
    if not image.startswith(VfsRomWriter.ROMFS_HEADER):
        raise CommandError("not a ROMFS image (no ROMFS header)")
    partitions = _romfs(link, "partitions")
    if partitions > partition:
        return _write_partition(link, image, partition, progress)
    if in_ram is None:
        in_ram = _is_virtual(link.port)
    if not in_ram:
        raise CommandError(
            f"this firmware has no ROMFS partition {partition} (vfs.rom_ioctl reports "
            f"{partitions}): flash a build with ROMFS enabled (MicroPython 1.25+, e.g. "
            "ESP8266_GENERIC-FLASH_2M_ROMFS, PYBD_SFx) or use `ember push`")
    if not _romfs(link, "can_mount"):
        raise CommandError("this firmware has no vfs.VfsRom: it cannot mount a ROMFS image")
    with tempfile.TemporaryDirectory(prefix="ember-romfs-") as scratch:
        local = Path(scratch) / RAM_IMAGE_PATH.lstrip("/")
        local.write_bytes(image)
        push(link, plan([(local, local.name)], "/"), dest="/", progress=progress)
    mount_in_ram(link, RAM_IMAGE_PATH)
    return RomfsDeployment("ram", len(image))


def _is_virtual(port: str) -> bool:
    """A virtual board (its firmware has no ROMFS partition) takes the RAM copy."""
    from host_tools.sim import registry

    return "://" not in port and registry.find(port) is not None


def mount_in_ram(link: BoardLink, path: str = RAM_IMAGE_PATH) -> None:
    """Mounts a RAM copy of the image file at /rom and puts /rom, /rom/lib on sys.path."""
    _romfs(link, "mount_ram_copy", path)


def _romfs(link: BoardLink, function: str, *args: object) -> object:
    """One step of firmware/host/romfs.py on the board (kept there while a job lasts)."""
    return device_code.call(link, DEVICE_STEPS, function, *args, keep=True)


def _write_partition(link: BoardLink, image: bytes, rom_id: int,
                     progress: Progress | None) -> RomfsDeployment:
    """mpremote's `romfs deploy` steps, with each device answer checked."""
    found = _romfs(link, "partition", rom_id)
    if found is None:
        raise CommandError(f"ROMFS partition {rom_id} not found on the board")
    has_object, block_size, capacity = found  # type: ignore[misc]
    block_size, capacity = _int(block_size), _int(capacity)
    if len(image) > capacity:
        raise CommandError(f"ROMFS image is {len(image)} bytes; partition {rom_id} holds "
                           f"{capacity}")
    _romfs(link, "unmount")
    chunk = CHUNK
    if has_object:
        for offset in range(0, len(image), block_size):
            _check(_romfs(link, "erase", rom_id, offset // block_size), "erase")
        chunk = min(chunk, block_size)
    else:
        min_write = 0
        if block_size < capacity:
            offset = 0
            while offset < len(image):
                size = -(-min(len(image) - offset, 32768) // block_size) * block_size
                min_write = _check(_romfs(link, "prepare", rom_id, offset, size), "prepare")
                offset += size
        else:
            min_write = _check(_romfs(link, "prepare", rom_id, len(image)), "prepare")
        chunk = max(chunk, min_write)
    for offset in range(0, len(image), chunk):
        data = image[offset:offset + chunk].ljust(chunk, b"\x00")
        text = binascii.b2a_base64(data, newline=False).decode()
        _check(_romfs(link, "write", rom_id, has_object, block_size, offset, text), "write")
        if progress is not None:
            progress(min(offset + chunk, len(image)), len(image))
    if has_object:
        link.raw_repl(soft_reset=True)  # the firmware mounts /rom at start-up
    else:
        _check(_romfs(link, "complete", rom_id), "complete")
    _romfs(link, "on_path")
    device_code.forget(link, DEVICE_STEPS)
    return RomfsDeployment("partition", len(image), capacity)


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise DeviceError(f"the board answered {value!r} where a number was expected")
    return value


def _check(value: object, step: str) -> int:
    result = _int(value)
    if result < 0:
        raise CommandError(f"ROMFS {step} failed on the board (error {-result})")
    return result


def install_romfs(link: BoardLink, sources: list[Path], *, board: str | None = None,
                  progress: Progress | None = None) -> RomfsDeployment:
    """Builds the app and runtime for the board (.mpy) into a ROMFS image and deploys it."""
    from host_tools.install import runtime as deploy

    target, label = deploy.board_target(link, board)
    image = build_romfs(sources, target, build_dir=deploy.project_build_dir() / label / "romfs")
    return deploy_romfs(link, image, progress=progress)
