# The board's own frozen code, in every virtual firmware: its boot (mount the flash, run
# boot.py and main.py). host_tools/virtual_firmware.py writes each build's manifest, which
# includes this, then asyncio where the board's port freezes it, then the ember runtime.
module("_boot.py", base_path="frozen")
