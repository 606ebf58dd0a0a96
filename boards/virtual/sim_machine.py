# The virtual board's `machine` module: the unix port's own, plus what a board has.
#
# Runs ON the interpreter; sim_boot.py installs it as sys.modules["machine"]. reset() and
# soft_reset() ask the supervisor (the interpreter's parent) for the reset by a signal, as
# a watchdog or reset pin would: nothing after the call runs. UART is loaded from sim_uart
# on first use, so a board that never opens one does not pay its heap.
import os

import machine as _unix_machine

for _name in dir(_unix_machine):
    if not _name.startswith("__") and _name != "soft_reset":
        globals()[_name] = getattr(_unix_machine, _name)
del _name, _unix_machine

_SIM_DIR = os.getenv("EMBER_SIM_DIR")  # host path of this code, for lazily loaded parts
_HOST = "/.host"  # the host's filesystem is mounted here only while a sim part needs it
_freq = int(os.getenv("EMBER_SIM_FREQ") or 125_000_000)


def _signal_supervisor(sig):
    os.system("kill -" + sig + " $PPID")  # $PPID of the shell is this interpreter
    while True:  # the signal ends this process; never return into user code
        pass


def reset():
    _signal_supervisor("USR2")


def soft_reset():
    _signal_supervisor("USR1")


def unique_id():
    return bytes.fromhex(os.getenv("EMBER_SIM_UID") or "00")


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = hz


def reset_cause():
    return 1


def _host_mount():
    import vfs

    vfs.mount(vfs.VfsPosix("/"), _HOST)


def _host_umount():
    import vfs

    vfs.umount(_HOST)


def _open_host_file(path, mode):
    # A pty or other host file for a sim part; the file stays usable once unmounted.
    _host_mount()
    try:
        return open(_HOST + path, mode)
    finally:
        _host_umount()


def __getattr__(name):
    if name == "UART":
        import sys

        _host_mount()
        sys.path.append(_HOST + _SIM_DIR)
        try:
            from sim_uart import UART
        finally:
            sys.path.pop()
            sys.modules.pop("sim_uart", None)
            _host_umount()
        globals()["UART"] = UART
        return UART
    raise AttributeError(name)
