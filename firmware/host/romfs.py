# ember: runs ON the board, called by host_tools/install/romfs.py through
# host_tools/link/device_code.py (kept on the board while an image is written).
"""A ROMFS image onto the board: mpremote's `romfs deploy` steps, one function each.

`vfs.rom_ioctl` (MicroPython 1.25+) reports the firmware's ROMFS partitions; a partition is
either a block device (`ioctl`, `writeblocks`) or a raw region written through rom_ioctl.
Firmware without a partition mounts a RAM copy of the image file instead."""
import sys

import vfs

MOUNT_POINT = "/rom"
ROM_COUNT, ROM_GET, ROM_PREPARE, ROM_WRITE, ROM_COMPLETE, ROM_BLOCK_SIZE = 1, 2, 3, 4, 5, 6
BLOCK_COUNT, BLOCK_SIZE, BLOCK_ERASE = 4, 5, 6


def partitions():
    """How many ROMFS partitions the firmware has (0 without vfs.rom_ioctl)."""
    if not hasattr(vfs, "rom_ioctl"):
        return 0
    count = vfs.rom_ioctl(ROM_COUNT)
    return count if isinstance(count, int) else 0


def can_mount():
    return hasattr(vfs, "VfsRom")


def unmount():
    try:
        vfs.umount(MOUNT_POINT)
    except OSError:
        pass


def on_path():
    # ROMFS firmware puts both on sys.path at start-up; elsewhere they go ahead of '.frozen'
    # and /lib, so the ROMFS copy of a module wins.
    for entry in (MOUNT_POINT + "/lib", MOUNT_POINT):
        if entry not in sys.path:
            sys.path.insert(1, entry)


def mount_ram_copy(path):
    """Mounts a RAM copy of the image file at /rom, with /rom and /rom/lib on sys.path."""
    unmount()
    with open(path, "rb") as f:
        vfs.mount(vfs.VfsRom(f.read()), MOUNT_POINT)
    on_path()


def partition(rom_id):
    """(has_object, block_size, capacity) of partition rom_id, or None if it is missing."""
    dev = vfs.rom_ioctl(ROM_GET, rom_id)
    if isinstance(dev, int) and dev < 0:
        return None
    if hasattr(dev, "ioctl"):
        block_size = dev.ioctl(BLOCK_SIZE, 0)
        return True, block_size, dev.ioctl(BLOCK_COUNT, 0) * block_size
    capacity = len(dev)
    block_size = vfs.rom_ioctl(ROM_BLOCK_SIZE, rom_id)
    return False, block_size if block_size > 0 else capacity, capacity


def erase(rom_id, block):
    return vfs.rom_ioctl(ROM_GET, rom_id).ioctl(BLOCK_ERASE, block)


def prepare(rom_id, *extent):
    """rom_ioctl's prepare: (length) for a whole region, (offset, size) for a part of it."""
    return vfs.rom_ioctl(ROM_PREPARE, rom_id, *extent)


def write(rom_id, has_object, block_size, offset, data):
    """Writes data (base64 text: a third more than the bytes, where repr() would take up to
    four times) at offset; returns rom_ioctl's answer (0 for a block device)."""
    from binascii import a2b_base64

    data = a2b_base64(data)
    if has_object:
        vfs.rom_ioctl(ROM_GET, rom_id).writeblocks(offset // block_size, data,
                                                   offset % block_size)
        return 0
    return vfs.rom_ioctl(ROM_WRITE, rom_id, offset, data)


def complete(rom_id):
    """Ends a raw region's write and mounts it at /rom; returns rom_ioctl's answer."""
    answer = vfs.rom_ioctl(ROM_COMPLETE, rom_id)
    if answer >= 0:
        vfs.mount(vfs.VfsRom(vfs.rom_ioctl(ROM_GET, rom_id)), MOUNT_POINT)
    return answer
