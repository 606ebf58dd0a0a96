# ember boot guard: installed as /boot.py (host_tools/safe_mode.py); runs ON the board.
"""ember boot guard (/boot.py): after 3 boots in a row that never got healthy, main.py is
set aside (safe mode) and the board stays at its REPL, reachable without reflashing."""

# Why main.py is set aside, not a flag checked somewhere:
# The firmware runs /main.py after boot.py whenever that file exists, and boot.py has no
# portable way to prevent it. SystemExit from boot.py makes a soft reset (the loop goes
# on); an exception from boot.py skips main.py on rp2 and stm32 (they test boot.py's
# result) but not on esp32, esp8266 or the virtual board; a flag that main.py checks
# protects only a main.py that checks it, and the broken one may crash before it does.
# So in safe mode there is no /main.py: the guard renames it to /.ember/main.py.safe, one
# step that littlefs makes atomic and that leaves the file intact; leave() (the host's
# leave_safe_mode) renames it back. Safe mode is "/.ember/main.py.safe and no /main.py":
# no flag can disagree with the files. A main.py pushed meanwhile (`ember push` sends it
# again, since the board lacks it) is new code: it runs, counted like any other.
#
# The count: /.ember/boots holds how many boots in a row, with a /main.py, have not
# reached healthy. The guard adds one at each (a temporary file renamed over the old:
# atomic) and ember.healthy() deletes the file: ember.run() calls it after 5 s of
# running; an app that does not use ember.run() calls ember.healthy() once it is up.
# /.ember is the push tool's own folder: `ember push --delete` never removes these files.

LIMIT = 3  # boots in a row that did not reach healthy before safe mode
ROOT = ""  # prefix of every path: the filesystem root (tests point it elsewhere)
_MAIN = "/main.py"
_DIR = "/.ember"
_BOOTS = "/.ember/boots"
_SAVED = "/.ember/main.py.safe"
_HOW = "ember: safe mode: /main.py is set aside as /.ember/main.py.safe; to put it back:"
_UNDO = "  import os; os.rename('/.ember/main.py.safe', '/main.py')  (or: leave_safe_mode)"


def _exists(path):
    try:
        __import__("os").stat(ROOT + path)
        return True
    except OSError:
        return False


def count():
    """Boots in a row, with a main.py, that have not reached healthy."""
    try:
        with open(ROOT + _BOOTS) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0  # none yet, or a file that is not ours to trust


def _write_count(n):
    import os

    try:
        os.mkdir(ROOT + _DIR)
    except OSError:
        pass  # there already
    tmp = ROOT + _BOOTS + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(n))
    os.rename(tmp, ROOT + _BOOTS)  # replaces the old count in one step


def _clear_count():
    try:
        __import__("os").remove(ROOT + _BOOTS)
    except OSError:
        pass


def status():
    """(safe, count): safe while main.py is set aside and no new one has come."""
    return _exists(_SAVED) and not _exists(_MAIN), count()


def enter():
    """Set /main.py aside: safe mode from the next boot on. True once in safe mode (False:
    the board has no main.py at all)."""
    import os

    if not _exists(_MAIN):
        _clear_count()
        return _exists(_SAVED)  # set aside already (by the guard, say)
    try:
        os.mkdir(ROOT + _DIR)
    except OSError:
        pass
    os.rename(ROOT + _MAIN, ROOT + _SAVED)  # over an older set-aside copy, if any
    _clear_count()  # after the rename: a cut between the two leaves safe mode on
    return True


def leave():
    """Put the set-aside main.py back, unless a new one has come since; the count starts
    again at 0. True if it was put back."""
    _clear_count()  # before the rename: a cut between the two leaves safe mode on
    if _exists(_MAIN) or not _exists(_SAVED):
        return False
    __import__("os").rename(ROOT + _SAVED, ROOT + _MAIN)
    return True


def uninstall():
    """Takes the guard off: main.py back if it was set aside, the count gone, /boot.py
    removed if it is the guard. True if a guard was removed."""
    leave()
    first = boot_py()
    if first is None or not first.startswith("# ember boot guard"):
        return False
    __import__("os").remove(ROOT + "/boot.py")
    return True


def boot_py():
    """The first line of /boot.py, or None: the host puts the guard only over its own."""
    try:
        with open(ROOT + "/boot.py") as f:
            return f.readline()
    except OSError:
        return None


def boot():
    """What /boot.py does at every boot: count the boot, or go into safe mode."""
    if not _exists(_MAIN):
        if _exists(_SAVED):
            print(_HOW)
            print(_UNDO)
        return  # nothing will run: nothing to count
    n = count()
    if n >= LIMIT:
        enter()
        print("ember: %d boots in a row did not reach healthy" % n)
        print(_HOW)
        print(_UNDO)
        return
    _write_count(n + 1)


if __name__ == "__main__":  # as /boot.py (the host runs the functions in a namespace)
    try:
        boot()
    except Exception as e:  # a full filesystem, say: never stop the boot for the guard
        print("ember: boot guard:", repr(e))
    # boot.py and main.py share these globals: leave main.py the heap
    del LIMIT, ROOT, _MAIN, _DIR, _BOOTS, _SAVED, _HOW, _UNDO, _exists, count
    del _write_count, _clear_count, status, enter, leave, uninstall, boot_py, boot
