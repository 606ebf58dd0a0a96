"""ember: a small select.poll event loop for MicroPython: handlers, timers, tasks, pipes."""

__version__ = "0.1.0"

# Public name -> the submodule that defines it. Submodules load on first use (as
# extmod/asyncio does), so `import ember` stays cheap and code that uses only callbacks
# never loads the timers or the tasks. One string, not a dict: each key of a dict would
# be interned as a name (a qstr) at import, whether the program uses it or not.
_WHERE = (
    " set_read_handler:core set_write_handler:core run:core stop:core wake:core"
    " set_timeout:timers set_interval:timers clear_timeout:timers clear_interval:timers"
    " stats:diag set_error_handler:diag report:diag watchdog:diag healthy:diag"
    " Overrun:diag create_task:task sleep_ms:task readable:task writable:task"
    " run_until:task Task:task CancelledError:cancel Pipe:stream Signal:signal "
)


def __getattr__(attr):
    # A public name loads its submodule; any other name may be a submodule itself
    # (`from . import core` inside the package comes through here). The search makes
    # no string or slice: a handler may look up ember.stop first on a full heap.
    n = len(attr)
    i = _WHERE.find(attr)
    while i > 0 and (_WHERE[i - 1] != " " or _WHERE[i + n] != ":"):
        i = _WHERE.find(attr, i + 1)  # only part of a longer name
    if i < 0:
        try:
            value = __import__(attr, None, None, True, 1)
        except ImportError:
            raise AttributeError(attr)
    else:
        for mod in ("core", "timers", "diag", "task", "stream", "signal", "cancel"):
            if _WHERE.startswith(mod, i + n + 1):
                break
        value = getattr(__import__(mod, None, None, True, 1), attr)
    try:
        globals()[attr] = value  # found without this function from now on
    except MemoryError:
        pass  # the heap is full: found again next time, the same way
    return value
