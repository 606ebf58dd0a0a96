"""Mounts the board's flash read-only at / and puts /lib first on sys.path."""

# Runs ON ember's firmware built without ember, before a first-use workload, in the same
# `-c` program (host_tools/bench/firmware.py): install_lib.py put the .mpy files there.
# The mount's own heap is taken before the workload's first gc.mem_alloc(). /lib comes
# before .frozen, unlike a board's sys.path: where the firmware freezes asyncio, the run
# is of the .mpy copy all the same.
import sys

import _vboard
import vfs

vfs.mount(vfs.VfsLfs2(_vboard.Flash()), "/", readonly=True)
sys.path[:] = ["/lib", ".frozen"]
del _vboard, vfs
