# Frozen into every firmware of ember's qemu-mps2-an385 board (host_tools/install/
# qemu_firmware.py writes each build's manifest, which includes this, then ember's).
# The board's boot (mount the flash), and asyncio: the qemu port builds no _asyncio, so
# asyncio's own Python task queue (task.py) is frozen with it.
module("_boot.py", base_path="frozen")
package(
    "asyncio",
    ("__init__.py", "core.py", "event.py", "funcs.py", "lock.py", "stream.py", "task.py"),
    base_path="$(MPY_DIR)/extmod",
    opt=3,
)
