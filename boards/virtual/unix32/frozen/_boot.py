# Boot of ember's virtual board firmware: frozen in; the supervisor starts the firmware with
# `-i -c "__import__('_boot').start(globals())"`, so boot.py and main.py run in the REPL's
# own globals, as pyexec_file runs them on a board.
#
# What a board's firmware does before its REPL, and nothing more: mount the flash (littlefs2
# on _vboard.Flash, the board's flash image) at /, put sys.path as a board has it, then run
# boot.py and main.py in the REPL's globals. There is no host
# filesystem to leave: this firmware is built without VfsPosix. The two escape-framed
# markers tell the supervisor when input may reach the REPL and when to enter the raw REPL
# quietly (after a raw-REPL soft reset); it never passes them to the host.
import sys


def _mount():
    import os
    import vfs

    import _vboard

    flash = _vboard.Flash()
    try:
        fs = vfs.VfsLfs2(flash)
    except OSError:
        # Blank or corrupt flash: format it, as the stock firmware does at first boot.
        vfs.VfsLfs2.mkfs(flash)
        fs = vfs.VfsLfs2(flash)
    vfs.mount(fs, "/")
    os.chdir("/")
    sys.stdout.write("\x1bember:mounted\x1b")
    sys.path[:] = ["", ".frozen", "/lib"]
    sys.argv[:] = []
    return _vboard.boot()


def _run(path, into):
    try:
        with open(path) as f:
            source = f.read()
    except OSError:
        return
    try:
        exec(source, into)
    except SystemExit:
        raise
    except BaseException as e:  # a board reports every error of boot.py and main.py
        sys.print_exception(e)


def start(into):
    run_main, raw_after = _mount()
    _run("boot.py", into)
    if run_main:
        _run("main.py", into)
    if raw_after:
        sys.stdout.write("\x1bember:raw\x1b")
