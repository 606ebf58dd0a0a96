# Boot of ember's qemu-mps2-an385 board, frozen into its firmware; the board's main
# (ember_qemu/board_main.c) runs it at every (soft) reset, before boot.py and main.py.
# It mounts the flash at / as littlefs2, formatting it when it holds no filesystem (a new
# image, as a board fresh from the factory), and gives sys.path a board's entries.
import sys
import vfs

import ember_qemu


def _mount():
    flash = ember_qemu.Flash()
    try:
        fs = vfs.VfsLfs2(flash)
    except OSError:
        vfs.VfsLfs2.mkfs(flash)
        fs = vfs.VfsLfs2(flash)
    vfs.mount(fs, "/")


_mount()
sys.path[:] = ["", ".frozen", "/lib"]
del _mount
