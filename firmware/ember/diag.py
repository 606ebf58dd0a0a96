"""Diagnostics, loaded on first use: error reports, the error hook, loop counters."""

import sys

from . import core, timers

_on_error = None


def report(e, where=None):
    """Report an exception from a handler or task: to the hook if set, else a traceback
    on stdout."""
    if _on_error is not None:
        _on_error(e, where)
    else:
        print("ember: error in", where)
        sys.print_exception(e)


def set_error_handler(fn):
    """fn(exc, where) receives handler and task errors; None restores the traceback."""
    global _on_error
    _on_error = fn


def stats():
    """Counters: events (handler and timer calls), lag_max_ms (worst timer lateness),
    timers and streams (armed now)."""
    return {
        "events": core.events,
        "lag_max_ms": timers.lag_max,
        "timers": timers._tn,
        "streams": core._nh,
    }
