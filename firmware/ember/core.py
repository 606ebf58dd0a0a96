"""The loop: one select.poll, a ready ring of streams, and isolated handler dispatch."""

from micropython import const
from time import ticks_diff, ticks_ms

_POLLIN = const(1)
_POLLOUT = const(4)
_RD_EVENTS = const(25)  # POLLIN | POLLERR | POLLHUP run the reader
_WR_EVENTS = const(28)  # POLLOUT | POLLERR | POLLHUP run the writer
_OWN = const(128)  # asked of ember's own streams (Pipe, Signal), set in their events: wake()
_QSIZE = const(16)  # ready ring slots, a power of two
_QMASK = const(15)
_POLL_EVERY_MS = const(8)  # while work is ready, still poll the other streams this often

# (imports used once are not kept as module globals: each global costs heap)
_poller = __import__("select").poll()
_poller.ipoll(0)  # makes the poller's one result tuple now, not in the loop
_ipoll = _poller.ipoll  # bound once at import: run() makes no bound method, per round or call
# A stream the loop knows is a key of _rd (its reader, or None) and is registered with
# the poller; _wr has keys only for streams that have had a writer. A handler is a
# function fn(stream) or a Task (tasks are callable).
_rd = {}
_wr = {}
_nh = 0  # streams with a handler: while > 0 the loop has something to wait for
# Timers live in their own module, loaded by the first set_timeout (a loop of handlers
# alone never loads it); as it loads it sets _tm to itself. It keeps _tn, the count of
# armed timers, here: the loop's one test per round for "any timer?".
_tm = None
_tn = 0

# Ready ring: (stream, events) pairs waiting for dispatch, in two preallocated arrays so
# that queueing allocates nothing. Filled from ipoll and by wake().
_qs = [None] * _QSIZE
_qe = bytearray(_QSIZE)
_qh = 0  # oldest entry
_qn = 0  # entries queued

_stop = 0  # 0: run() is not on the stack (a nested run() is refused: see run), 1: it
# is, 2: it is and stop() was called: it returns once the running handler returns
events = 0  # handler and timer calls
_wd = 0  # watchdog period, ms (diag.watchdog); 0: dispatches are not timed
_late = None  # the one Overrun a late dispatch reports: made by watchdog(), reused

# _sick: this boot is still counted by firmware/boot_guard.py (its /.ember/boots exists)
# and not marked healthy yet: the loop marks it after 5 s (diag.health). Without the
# guard there is nothing to mark, and the loop never looks at the clock for it.
try:
    __import__("os").stat("/.ember/boots")
    _sick = True
except Exception:
    _sick = False

# Where the port has it, an exception raised while the heap is full (after a
# MemoryError, say) keeps its traceback here. 100 bytes, once; not on unix.
try:
    __import__("micropython").alloc_emergency_exception_buf(100)
except AttributeError:
    pass


def _set(table, s, fn, keep=False):
    # Install or clear one handler. A stream left with no handler is unregistered
    # unless `keep`: a woken task usually waits on it again, and re-arming a stream
    # that is still registered allocates nothing.
    global _nh
    if s not in _rd:
        if fn is None:
            return
        _rd[s] = None
    had = _rd[s] is not None or _wr.get(s) is not None
    table[s] = fn
    m = (_rd[s] is not None) * _POLLIN | (_wr.get(s) is not None) * _POLLOUT
    own = hasattr(s, "_em")
    if m or keep:
        # (on a registered stream this only updates the mask) ember's own streams are
        # asked for _OWN too, and answer with it: only this poller ever sees that bit.
        _poller.register(s, m | _OWN if m and own else m)
    else:
        _poller.unregister(s)
        del _rd[s]
        _wr.pop(s, None)
    if own:
        s._em = m  # ember's own streams: the wake-ups the loop wants
    _nh += (m != 0) - had


def set_read_handler(s, fn):
    """Call fn(s) whenever s is readable; setting again replaces, fn=None removes."""
    _set(_rd, s, fn)


def set_write_handler(s, fn):
    """Call fn(s) whenever s is writable; setting again replaces, fn=None removes."""
    _set(_wr, s, fn)


def wake(s, ev):
    """Queue s as ready for ev (POLLIN/POLLOUT) now, without waiting for a poll.

    For Python streams that change state inside the loop: they keep `_em` (set by the
    loop: the events it has handlers for), `_qd` (events already queued) and
    `_deliver(ev)` (events ready now; called just before the handler runs), and their
    ioctl adds _OWN (128) to the events it reports when the poller asked for it (only
    this loop's does), so that the loop knows them by one bit test. Not from a hard
    IRQ: there, set a flag that the ioctl reports (see Signal)."""
    global _qn
    if s._qd & ev or _qn >= _QSIZE:
        return  # queued already, or full: poll will report it
    s._qd |= ev
    i = (_qh + _qn) & _QMASK
    _qs[i] = s
    _qe[i] = ev | _OWN
    _qn += 1


def _fault(e, where):
    # The first report loads diag, whose fault() takes this function's place: later
    # reports import nothing. If it cannot load (no heap left, as a MemoryError may
    # leave it), the report is printed here, which allocates nothing.
    try:
        from . import diag
    except Exception:
        print("ember: error in", where)
        __import__("sys").print_exception(e)  # a built-in module: no heap to import
        return
    diag.fault(e, where)


def run(until=None):
    """Run until stop(), until `until.done` (a Task), or until nothing is left to wait for
    (no handler, timer or task). Called from inside a handler or task (the loop runs
    already) it raises RuntimeError and changes nothing: await there instead."""
    global _stop, _qh, _qn, events
    if _stop:
        raise RuntimeError("ember: the loop is already running; await, not run()")
    _stop = 1
    try:  # an exception that stops the loop (KeyboardInterrupt) leaves it enterable
        if _cr is not None:  # ember's native module: this same loop, in C
            h = None
            if _sick:
                from .diag import health as h
            _cr(globals(), until, h)
            return
        # Locals, not globals, on the per-event path (these objects are never rebound).
        rd = _rd
        wr = _wr
        qs = _qs
        qe = _qe
        ipoll = _ipoll
        last = ticks_ms()
        while _stop < 2:
            if until is not None and until.done:
                break
            t = -1  # poll timeout: none while no timer is armed
            if _tn:
                t = _tm.step()  # due timers run; ms to the next one
            if _qn or t == 0:
                # Work is ready. Poll the other streams only now and then: on the unix
                # port a poll with Python streams registered costs at least 1 ms.
                now = ticks_ms()
                if _nh and ticks_diff(now, last) >= _POLL_EVERY_MS:
                    t = 0
                    last = now
                else:
                    t = -2
            elif not _nh and t < 0:
                break  # idle: nothing can happen any more
            if _sick and t > -2:
                from .diag import health  # (this boot's guard loaded it: see _sick)

                t = health(t)
            s0 = None
            if t > -2:
                # ipoll reuses one result tuple. Copy into the ring and dispatch after the
                # iteration: unregistering while iterating would skip entries. The first
                # entry, when nothing was queued before it, waits in s0/e0 rather than the ring.
                for s, ev in ipoll(t):
                    if s0 is None and not _qn:
                        s0 = s
                        e0 = ev
                    elif _qn >= _QSIZE:
                        break  # level-triggered: the rest is reported next time
                    else:
                        i = (_qh + _qn) & _QMASK
                        qs[i] = s
                        qe[i] = ev
                        _qn += 1
            # Dispatch s0, then what is queued now; entries queued meanwhile wait for the
            # next round. Inline, not a function per event: a call costs as much as a poll.
            n = _qn
            while _stop < 2:
                if s0 is not None:
                    s = s0
                    ev = e0
                    s0 = None
                elif n:
                    n -= 1
                    i = _qh
                    s = qs[i]
                    ev = qe[i]
                    qs[i] = None
                    _qh = (i + 1) & _QMASK
                    _qn -= 1
                else:
                    break
                if ev & _OWN:
                    # ember's own stream: another handler may have drained it since
                    s._qd &= ~ev
                    ev = s._deliver(ev)
                if ev & _RD_EVENTS:
                    fn = rd.get(s)
                    if fn is not None:
                        if _wd:
                            _tm.call(fn, s)  # timed (the watchdog loaded the timers)
                        else:
                            events += 1
                            try:
                                fn(s)
                            except Exception as e:  # isolated: report it, run the others
                                _fault(e, fn)
                if ev & _WR_EVENTS:
                    fn = wr.get(s)
                    if fn is not None:
                        if _wd:
                            _tm.call(fn, s)
                        else:
                            events += 1
                            try:
                                fn(s)
                            except Exception as e:
                                _fault(e, fn)
    finally:
        _stop = 0


# ember's native module (_ember, firmware/native), where installed or linked in, runs run()'s
# loop in C on this module's own variables (it finds them in globals()), and its Pipes queue
# into the ring without a Python call.
try:
    _cr = __import__("_ember")
    _cr.bind(globals())
    _cr = _cr.run
except ImportError:
    _cr = None


def stop():
    """Make run() return once the running handler returns."""
    global _stop
    if _stop:
        _stop = 2
