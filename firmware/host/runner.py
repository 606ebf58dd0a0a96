# ember: runs ON the board, called by the pytest plugin's Board (host_tools/testing/board.py)
# and the benchmarks through host_tools/link/device_code.py.
"""Fresh state between tests, and calling a function of a module pushed to the board."""
import gc
import sys


def module_names():
    """The modules loaded now (the ones a fresh state keeps)."""
    return list(sys.modules)


def fresh(repl, keep):
    """Unloads every module not in `keep` and empties the REPL's globals `repl`, as a
    test's own process would start: nothing of the last test is left but the heap. The
    host's kept device code (sys.modules['_ember_dc']) stays."""
    for name in [name for name in sys.modules if name not in keep and name != "_ember_dc"]:
        del sys.modules[name]
    repl.clear()
    repl["__name__"] = "__main__"
    gc.collect()


def call_module(path, module, function, *args):
    """module.function(*args), the module found under `path` (put on sys.path)."""
    if path not in sys.path:
        sys.path.append(path)
    return getattr(__import__(module), function)(*args)


def fresh_call(repl, keep, path, module, function):
    """fresh(), then call_module(): a device test in one round trip."""
    fresh(repl, keep)
    call_module(path, module, function)


def files_with_digests(root="/", skip="/.ember"):
    """{path: sha256 hex} of every file under root but `skip`: what a board holds."""
    import hashlib
    from binascii import hexlify

    found = {}
    for path in _walk(root, skip):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            digest.update(f.read())
        found[path] = hexlify(digest.digest()).decode()
    return found


def _walk(folder, skip):
    import os

    for entry in os.ilistdir(folder):
        path = (folder if folder != "/" else "") + "/" + entry[0]
        if path == skip:
            continue
        if entry[1] == 0x4000:
            yield from _walk(path, skip)
        else:
            yield path
