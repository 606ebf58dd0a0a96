# The virtual board's flash chip: a block device over an image file, for vfs.VfsLfs2.
#
# Runs ON the interpreter. Every write goes straight to the file (unix MicroPython files
# are unbuffered), so when the supervisor cuts the power the image holds exactly what had
# been written, as a real flash chip would.
from micropython import const

_IOCTL_BLOCK_COUNT = const(4)
_IOCTL_BLOCK_SIZE = const(5)
_IOCTL_ERASE = const(6)
_ERASE_CHUNK = const(256)


class FileFlash:
    def __init__(self, path, block_size):
        self._file = open(path, "r+b")
        self._block_size = block_size
        self._file.seek(0, 2)
        self._blocks = self._file.tell() // block_size
        self._erased = b"\xff" * _ERASE_CHUNK  # built once: erasing allocates nothing

    def readblocks(self, block, buf, offset=0):
        self._file.seek(block * self._block_size + offset)
        self._file.readinto(buf)

    def writeblocks(self, block, buf, offset=0):
        self._file.seek(block * self._block_size + offset)
        self._file.write(buf)

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self._blocks
        if op == _IOCTL_BLOCK_SIZE:
            return self._block_size
        if op == _IOCTL_ERASE:
            self._file.seek(arg * self._block_size)
            for _ in range(self._block_size // _ERASE_CHUNK):
                self._file.write(self._erased)
        return 0
