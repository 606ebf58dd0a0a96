# ember: runs ON the board, called by host_tools through host_tools/link/device_code.py.
"""What the host asks a board about itself before building or pushing for it."""
import sys


def sys_mpy():
    """sys.implementation._mpy: the .mpy version and native arch the firmware loads."""
    return getattr(sys.implementation, "_mpy", None)


def sys_platform():
    return sys.platform


def enter_bootloader():
    """machine.bootloader(): the board leaves MicroPython for its ROM loader (no reply)."""
    import machine

    machine.bootloader()


def hard_reset():
    """machine.reset(): boot.py and main.py run again (no reply comes)."""
    import machine

    machine.reset()
