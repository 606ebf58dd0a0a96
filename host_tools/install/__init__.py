"""What goes onto a board: runtime, firmware builds and flashers, romfs, safe mode.

Importing any of it imports safe_mode, whose soft-reset hook (taking back the boot
guard's count of a boot ember caused) every Link must run."""

from host_tools.install import safe_mode as safe_mode  # registers its Link hook
