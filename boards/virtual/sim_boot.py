# Boot code of the virtual board: runs ON the MicroPython unix interpreter before its REPL.
#
# The supervisor (host_tools/sim/supervisor.py) starts `micropython -X heapsize=N -i
# sim_boot.py` with its settings in EMBER_SIM_* environment variables. This script makes
# the unix interpreter look like a board: the flash image becomes the littlefs2 root
# filesystem, sys.path is a board's, `machine` gets reset/unique_id/freq/UART, and boot.py
# then main.py run as the firmware runs them. Everything it defines is removed from
# __main__ before the REPL starts.
import sys


def _ember_sim_boot():
    import gc
    import os
    import sys
    import vfs

    import sim_flash
    import sim_machine

    getenv = os.getenv
    flash = sim_flash.FileFlash(getenv("EMBER_SIM_IMAGE"), int(getenv("EMBER_SIM_BLOCK_SIZE")))
    try:
        fs = vfs.VfsLfs2(flash)
    except OSError:
        # Blank or corrupt flash: format it, as the stock firmware does at first boot.
        vfs.VfsLfs2.mkfs(flash)
        fs = vfs.VfsLfs2(flash)
    vfs.umount("/")  # the host's filesystem: a board has none
    vfs.mount(fs, "/")
    os.chdir("/")
    # Tells the supervisor the host's files are out of reach: only now may Ctrl-C and host
    # input reach this interpreter (a KeyboardInterrupt before would leave a REPL on them).
    sys.stdout.write("\x1bember:mounted\x1b")
    sys.path[:] = ["", ".frozen", "/lib"]
    sys.argv[:] = []
    sys.modules["machine"] = sim_machine
    for name in ("sim_flash", "sim_machine"):  # reachable only as `machine` from now on
        sys.modules.pop(name, None)
    gc.collect()
    scripts = ("boot.py", "main.py") if getenv("EMBER_SIM_MAIN") == "1" else ("boot.py",)
    raw_after = getenv("EMBER_SIM_RAW") == "1"
    return scripts, raw_after


def _ember_sim_run(path):
    # Runs boot.py/main.py in __main__'s globals, reporting errors as the firmware does.
    import sys

    try:
        with open(path) as f:
            source = f.read()
    except OSError:
        return
    try:
        exec(source, globals())
    except KeyboardInterrupt as e:
        sys.print_exception(e)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - a board reports every error of main.py
        sys.print_exception(e)


_ember_sim_scripts, _ember_sim_raw = _ember_sim_boot()
for _ember_sim_path in _ember_sim_scripts:
    _ember_sim_run(_ember_sim_path)
if _ember_sim_raw:
    # Tells the supervisor to enter the raw REPL quietly, as after a raw-REPL soft reset.
    sys.stdout.write("\x1bember:raw\x1b")
del _ember_sim_boot, _ember_sim_run, _ember_sim_scripts, _ember_sim_raw, _ember_sim_path
del sys
