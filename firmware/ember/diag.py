"""Diagnostics, loaded on first use: error reports and hook, watchdog, boot health, counters."""

import sys

from . import core, timers

_on_error = None
_feed = None  # the interval that feeds a machine.WDT for watchdog(ms, wdt)
_BOOTS = "/.ember/boots"  # boots in a row that did not reach healthy (firmware/boot_guard.py)


def report(e, where=None):
    """Report an exception from a handler or task: to the hook if set, else a traceback
    on stdout."""
    if _on_error is not None:
        _on_error(e, where)
    else:
        print("ember: error in", where)
        sys.print_exception(e)


core._report = report  # from now on the loop reports without importing anything


def set_error_handler(fn):
    """fn(exc, where) receives handler and task errors; None restores the traceback."""
    global _on_error
    _on_error = fn


class Overrun(Exception):
    """What the watchdog reports: one dispatch ran longer than the period; `ms` is how
    long. One instance, reused: a report allocates nothing."""


def watchdog(ms, wdt=None):
    """Report (as an Overrun, through the error hook, `where` the callback) every
    handler, timer callback or task step that runs longer than ms, once it returns:
    Python code cannot be pre-empted. 0 turns it off. With a machine.WDT, the loop also
    feeds it every ms: a callback that never returns then resets the board."""
    global _feed
    e = core._late
    if ms > 0 and (e is None or e.limit != ms):
        e = Overrun("dispatch ran longer than %d ms" % ms)
        e.limit = ms
        e.ms = 0  # set now, so that the loop's update allocates nothing
        core._late = e
    core._wd = ms if ms > 0 else 0
    timers.clear_timeout(_feed)
    _feed = None
    if wdt is not None and ms > 0:
        _feed = timers.set_interval(_feed_wdt, ms, wdt)


def _feed_wdt(wdt):
    wdt.feed()


def healthy():
    """Mark this boot healthy: firmware/boot_guard.py's count of boots that crashed
    before reaching healthy starts again at 0. run() calls it after 5 s of running."""
    core._sick = False
    try:
        __import__("os").remove(_BOOTS)  # one atomic step, and only when there is a count
    except OSError:
        pass  # no count: no guard, or marked already


def stats():
    """Counters: events (handler and timer calls), lag_max_ms (worst timer lateness),
    timers and streams (armed now)."""
    return {
        "events": core.events,
        "lag_max_ms": timers.lag_max,
        "timers": core._tn,
        "streams": core._nh,
    }
