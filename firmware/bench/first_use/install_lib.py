"""Formats the board's flash and writes the files the host sends on stdin under /lib."""

# Runs ON ember's firmware built without ember (host_tools/bench/firmware.py): it has no
# host filesystem, so the .mpy files a first-use workload imports reach its flash as they
# reach a board's, over the console. Each file comes as a line "path size" and then its
# bytes; an empty line ends. Prints "ok" once all are written.
import os
import sys

import _vboard
import vfs

flash = _vboard.Flash()
vfs.VfsLfs2.mkfs(flash)
vfs.mount(vfs.VfsLfs2(flash), "/")
inp = sys.stdin.buffer  # raw bytes: the text stream would turn \r into \n
made = set()


def line():
    s = b""
    while True:
        c = inp.read(1)
        if c == b"\n":
            return s.decode()
        if not c or c == b"\x04" or len(s) > 200:  # end of input, or no header
            raise OSError("install_lib: bad input")
        s += c


while True:
    head = line()
    if not head:
        break
    path, size = head.split()
    path = "/lib/" + path
    parts = path.split("/")
    for i in range(2, len(parts)):
        folder = "/".join(parts[:i])
        if folder not in made:
            try:
                os.mkdir(folder)
            except OSError:
                pass  # there already
            made.add(folder)
    left = int(size)
    with open(path, "wb") as f:
        while left:
            chunk = inp.read(min(left, 512))
            f.write(chunk)
            left -= len(chunk)
vfs.umount("/")
print("ok")
