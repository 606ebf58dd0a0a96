# Boot of ember's virtual board firmware: frozen in, run by `micropython -i -m _boot`.
#
# What a board's firmware does before its REPL, and nothing more: mount the flash (littlefs2
# on _vboard.Flash, the board's flash image) at /, put sys.path as a board has it, then run
# boot.py and main.py in __main__'s globals, as pyexec_file does. There is no host
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


def _start():
    run_main, raw_after = _mount()
    into = sys.modules["__main__"].__dict__
    _run("boot.py", into)
    if run_main:
        _run("main.py", into)
    if raw_after:
        sys.stdout.write("\x1bember:raw\x1b")


_start()
