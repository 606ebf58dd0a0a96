"""The loop: one select.poll, a ready ring, timers, and isolated handler dispatch."""

from micropython import const
from time import ticks_diff, ticks_ms
import select
import sys

from . import timers

_POLLIN = const(1)
_POLLOUT = const(4)
_RD_EVENTS = const(25)  # POLLIN | POLLERR | POLLHUP wake the reader
_WR_EVENTS = const(28)  # POLLOUT | POLLERR | POLLHUP wake the writer
_QSIZE = const(32)  # ready ring slots, a power of two
_QMASK = const(31)
_POLL_EVERY_MS = const(8)  # while work is ready, still poll the other streams this often

ticks = ticks_ms  # the loop's clock; tests may replace it (e.g. to start near the wrap)

_poller = select.poll()
_rd = {}  # stream -> reader: fn(stream), a Task, or None while a woken task runs
_wr = {}  # stream -> writer, likewise
_nh = 0  # streams with at least one handler: while > 0 the loop has something to wait for

# The ready ring holds (stream, events) pairs waiting for dispatch, in two preallocated
# arrays so that queueing an event allocates nothing.
_qs = [None] * _QSIZE
_qe = bytearray(_QSIZE)
_qh = 0  # index of the oldest entry
_qn = 0  # entries queued

_stop = False
_last_poll = 0
_on_error = None
events = 0  # handler and timer calls made
polls = 0  # ipoll calls made


def _mask(s):
    return (_POLLIN if _rd.get(s) is not None else 0) | (
        _POLLOUT if _wr.get(s) is not None else 0
    )


def _set(table, s, fn):
    # Install or clear one handler. A stream is in _rd, in _wr and registered with the
    # poller together; clearing leaves it registered (mask maybe 0) until _prune, so a
    # task that waits on the same stream again allocates nothing.
    global _nh
    if s in _rd:
        had = _mask(s) != 0
    elif fn is None:
        return
    else:
        had = False
        _rd[s] = None
        _wr[s] = None
    table[s] = fn
    m = _mask(s)
    _poller.register(s, m)  # on a registered stream this only updates its mask
    if hasattr(s, "_em"):
        s._em = m  # ember's own streams: which wake-ups the loop wants
    _nh += (m != 0) - had


def _prune(s):
    # Forget a stream that has no handler left.
    if s in _rd and _mask(s) == 0:
        _poller.unregister(s)
        del _rd[s]
        del _wr[s]


def set_read_handler(s, fn):
    """Call fn(s) whenever s is readable; fn=None removes the handler."""
    _set(_rd, s, fn)
    if fn is None:
        _prune(s)


def set_write_handler(s, fn):
    """Call fn(s) whenever s is writable; fn=None removes the handler."""
    _set(_wr, s, fn)
    if fn is None:
        _prune(s)


def set_timeout(fn, ms, arg=None):
    """Call fn(arg) once, ms milliseconds from now; returns a handle for clear_timeout."""
    return timers.add(fn, ms, arg, 0, ticks())


def set_interval(fn, ms, arg=None):
    """Call fn(arg) every ms milliseconds; returns a handle for clear_timeout."""
    return timers.add(fn, ms, arg, ms if ms > 0 else 1, ticks())


def clear_timeout(h):
    """Cancel a timeout or interval; stale handles and None are ignored."""
    timers.cancel(h)


clear_interval = clear_timeout


def _push(s, ev):
    global _qn
    i = (_qh + _qn) & _QMASK
    _qs[i] = s
    _qe[i] = ev
    _qn += 1


def wake(s, ev):
    """Queue s as ready for ev now (for Python streams changed from inside the loop)."""
    # Not for hard IRQs: an IRQ sets a flag (see Signal) and poll notices it.
    if not s._qd & ev and _qn < _QSIZE:
        s._qd |= ev
        _push(s, ev)


def _poll(timeout):
    global _last_poll, polls
    polls += 1
    # ipoll reuses one result tuple; copy into the ring and dispatch after the
    # iteration, since unregistering while iterating would skip entries.
    for s, ev in _poller.ipoll(timeout):
        if _qn >= _QSIZE:
            break  # level-triggered: the rest is reported again next poll
        _push(s, ev)
    _last_poll = ticks()


def report(e, where=None):
    """Report an exception raised by a handler or task, through the error hook if set."""
    if _on_error is not None:
        _on_error(e, where)
    else:
        print("ember: error in", where)
        sys.print_exception(e)


def set_error_handler(fn):
    """fn(exc, where) replaces the default report (a traceback on stdout); None restores it."""
    global _on_error
    _on_error = fn


def _call(fn, x):
    global events
    events += 1
    try:
        fn(x)
    except Exception as e:  # isolate: report and keep running the others
        report(e, fn)


def _dispatch():
    # Dispatch the entries queued before this round; ones queued meanwhile wait a round.
    global _qh, _qn
    n = _qn
    while n and not _stop:
        n -= 1
        i = _qh
        s = _qs[i]
        ev = _qe[i]
        _qs[i] = None
        _qh = (i + 1) & _QMASK
        _qn -= 1
        if hasattr(s, "_qd"):
            # ember's own stream: it may have been drained since it was queued
            s._qd &= ~ev
            ev = s._deliver(ev)
        if ev & _RD_EVENTS:
            fn = _rd.get(s)
            if fn is not None:
                _call(fn, s)
        if ev & _WR_EVENTS:
            fn = _wr.get(s)
            if fn is not None:
                _call(fn, s)


def run(until=None):
    """Run until stop(), until `until.done` (a Task) or until nothing is left to wait for."""
    global _stop, _last_poll
    _stop = False
    _last_poll = ticks()
    while not _stop:
        if until is not None and until.done:
            break
        now = ticks()
        if timers.count:
            timers.fire(now, _call)
        t = timers.wait(now)
        if _qn or t == 0:
            # Work is ready: poll the rest only now and then, since on the unix port
            # a poll with Python streams registered takes at least 1 ms.
            if _nh and ticks_diff(now, _last_poll) >= _POLL_EVERY_MS:
                _poll(0)
        elif _nh or t > 0:
            _poll(t)
        else:
            break  # no handler, timer or queued event: idle
        _dispatch()


def stop():
    """Make run() return after the current handler."""
    global _stop
    _stop = True


def stats():
    """Loop counters: events dispatched, polls, worst timer lag (ms), timers, streams."""
    return {
        "events": events,
        "polls": polls,
        "lag_max_ms": timers.lag_max,
        "timers": timers.count,
        "streams": _nh,
    }
