"""ember: a small select.poll event loop for MicroPython: handlers, timers, tasks, pipes."""

__version__ = "0.1.0"

# Public names, in groups by the submodule that defines each (_MODS, in order; a group
# ends at "|"). Submodules load on first use (as extmod/asyncio does), so `import ember`
# stays cheap and code that uses only callbacks never loads the timers or the tasks. One
# string, not a dict: each key of a dict would be interned as a name (a qstr) at import,
# whether the program uses it or not; and each name once, not beside its module's.
_MODS = ("core", "timers", "diag", "task", "cancel", "stream", "signal")
_WHERE = (
    " set_read_handler set_write_handler run stop wake"
    " | set_timeout set_interval clear_timeout clear_interval"
    " | stats set_error_handler report watchdog healthy Overrun"
    " | create_task sleep_ms readable writable run_until Task | CancelledError | Pipe | Signal "
)


def __getattr__(attr):
    # A public name loads its submodule; any other name may be a submodule itself
    # (`from . import core` inside the package comes through here). The search makes
    # no string or slice: a handler may look up ember.stop first on a full heap.
    n = len(attr)
    i = _WHERE.find(attr)
    while i > 0 and (_WHERE[i - 1] != " " or _WHERE[i + n] != " "):
        i = _WHERE.find(attr, i + 1)  # only part of a longer name
    if i < 0:
        try:
            value = __import__(attr, None, None, True, 1)
        except ImportError:
            raise AttributeError(attr)
    else:
        mod = __import__(_MODS[_WHERE.count("|", 0, i)], None, None, True, 1)
        value = getattr(mod, attr)
    try:
        globals()[attr] = value  # found without this function from now on
    except MemoryError:
        pass  # the heap is full: found again next time, the same way
    return value
