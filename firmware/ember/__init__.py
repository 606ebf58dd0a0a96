"""ember: a small select.poll event loop for MicroPython: handlers, timers, tasks, pipes."""

__version__ = "0.1.0"

# Public name -> submodule. Submodules load on first use (as extmod/asyncio does), so
# `import ember` stays cheap and code that uses only callbacks never loads the tasks.
_attrs = {
    "set_read_handler": "core",
    "set_write_handler": "core",
    "set_timeout": "timers",
    "set_interval": "timers",
    "clear_timeout": "timers",
    "clear_interval": "timers",
    "run": "core",
    "stop": "core",
    "wake": "core",
    "stats": "diag",
    "set_error_handler": "diag",
    "report": "diag",
    "watchdog": "diag",
    "healthy": "diag",
    "Overrun": "diag",
    "create_task": "task",
    "sleep_ms": "task",
    "readable": "task",
    "writable": "task",
    "run_until": "task",
    "Task": "task",
    "Pipe": "stream",
    "Signal": "signal",
}


def __getattr__(attr):
    # A public name loads its submodule; any other name may be a submodule itself
    # (`from . import core` inside the package comes through here).
    mod = _attrs.get(attr, None)
    if mod is None:
        try:
            value = __import__(attr, None, None, True, 1)
        except ImportError:
            raise AttributeError(attr)
    else:
        value = getattr(__import__(mod, None, None, True, 1), attr)
    globals()[attr] = value
    return value
