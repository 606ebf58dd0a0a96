"""Diagnostics, loaded on first use: error reports and hook, watchdog, boot health, counters."""

from micropython import const
import sys
from time import ticks_diff, ticks_ms

from . import core

_HEALTHY_MS = const(5000)  # the loop marks the boot healthy once up this long
_on_error = None
_up = None  # ticks_ms when the loop first polled with this boot unmarked (health)
_feed = None  # the interval that feeds a machine.WDT for watchdog(ms, wdt)
_BOOTS = "/.ember/boots"  # boots in a row that did not reach healthy (firmware/boot_guard.py)


def report(e, where=None):
    """Report an exception from a handler or task: to the hook if set, else a traceback
    on stdout."""
    if _on_error is not None:
        _on_error(e, where)
    else:
        _print(e, where)


def _print(e, where):
    print("ember: error in", where)
    sys.print_exception(e)


def fault(e, where):
    # The loop's report (core._fault from now on). One that fails (a hook that raises,
    # no heap left) falls back to the traceback, and never stops the loop.
    try:
        report(e, where)  # (looked up now: a test may swap it)
    except Exception:
        _print(e, where)


core._fault = fault  # from now on the loop reports without importing anything


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
    from . import timers

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
    before reaching healthy starts again at 0. run() calls it after 5 s of running
    (health)."""
    core._sick = False
    try:
        __import__("os").remove(_BOOTS)  # one atomic step, and only when there is a count
    except OSError:
        pass  # no count: no guard, or marked already


def health(t):
    # The loop's part, while firmware/boot_guard.py counts this boot (core._sick): mark
    # it healthy once the loop has been up _HEALTHY_MS (not a crash at boot), and until
    # then make the poll wake at that mark, timers or not. Returns the poll timeout: t,
    # or shorter.
    global _up
    now = ticks_ms()
    if _up is None:
        _up = now
    left = _HEALTHY_MS - ticks_diff(now, _up)
    if left > 0:
        return left if t < 0 or left < t else t
    try:
        healthy()  # (looked up now: a test may swap it)
    except Exception:
        _up = now  # no heap now (heap_lock?): again in _HEALTHY_MS
    return t


def stats():
    """Counters: events (handler and timer calls), lag_max_ms (worst timer lateness),
    timers and streams (armed now)."""
    timers = sys.modules.get("ember.timers")
    return {
        "events": core.events,
        "lag_max_ms": timers.lag_max if timers else 0,
        "timers": core._tn,
        "streams": core._nh,
    }
