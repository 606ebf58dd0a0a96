"""Timer pool: one-shot and periodic timers in preallocated slots, in due order."""

from micropython import const
from time import ticks_add, ticks_diff

from . import core

_CHUNK = const(4)  # slots added at a time
_SLOTS = const(1024)  # slots at most; a handle is (serial << 10) | slot
_SERIALS = const(0xFFFFF)  # (serial << 10 | slot) < 2**30: a small int on 32-bit boards

ticks = __import__("time").ticks_ms  # the loop's clock; tests may swap it (near the wrap, say)

# Two arrays indexed by slot, not an object per timer: a timer costs 24 bytes on a 32-bit
# board and arming one in a free slot allocates nothing. Slot i is _o[2i] (its function)
# and _o[2i+1] (its argument), and _n[4i:4i+4]: its due tick (ticks are small ints, up to
# the ticks period), its period in ms (0: one-shot), the next slot in its list (-1 ends
# one) and its handle (-1 when free). Armed slots form a list sorted by due tick (_head
# first), free slots another. ("l": a C long holds the ticks of 64-bit builds too.)
_o = []
_n = __import__("array").array("l")
_head = -1
_free = -1
_serial = 0  # (the count of armed timers is core._tn: the loop tests it every round)
lag_max = 0  # worst lateness of a timer, ms


def _insert(i, due):
    # Link slot i into the armed list by due tick; equal ticks keep arming order.
    global _head
    n = _n
    n[4 * i] = due
    p = -1
    j = _head
    while j >= 0 and ticks_diff(n[4 * j], due) <= 0:
        p = j
        j = n[4 * j + 2]
    n[4 * i + 2] = j
    if p < 0:
        _head = i
    else:
        n[4 * p + 2] = i


def set_timeout(fn, ms, arg=None, per=0):
    """Call fn(arg) once, ms milliseconds from now (every `per` ms if given); returns a
    handle for clear_timeout."""
    global _free, _serial
    n = _n
    i = _free
    if i < 0:
        i = len(_o) // 2
        if i >= _SLOTS:
            raise MemoryError("too many timers")
        _o.extend((None,) * (2 * _CHUNK))  # extend() sizes exactly where append() doubles
        n.extend(__import__("array").array("l", (-1,) * (4 * _CHUNK)))
        for j in range(i, i + _CHUNK - 1):
            n[4 * j + 2] = j + 1
    _free = n[4 * i + 2]
    _serial = (_serial + 1) & _SERIALS
    h = _serial << 10 | i
    _o[2 * i] = fn
    _o[2 * i + 1] = arg
    n[4 * i + 1] = per
    n[4 * i + 3] = h
    core._tn += 1
    _insert(i, ticks_add(ticks(), ms if ms > 0 else 0))
    return h


def set_interval(fn, ms, arg=None):
    """Call fn(arg) every ms milliseconds; returns a handle for clear_timeout."""
    return set_timeout(fn, ms, arg, ms if ms > 0 else 1)


def _release(i):
    # Slot i (unlinked from the armed list) joins the free list.
    global _free
    _o[2 * i] = _o[2 * i + 1] = None
    _n[4 * i + 3] = -1
    _n[4 * i + 2] = _free
    _free = i
    core._tn -= 1


def clear_timeout(h):
    """Cancel a timeout or interval; a stale handle or None is ignored."""
    global _head
    if h is None:
        return
    n = _n
    i = h & (_SLOTS - 1)
    if 4 * i >= len(n) or n[4 * i + 3] != h:
        return  # fired, cancelled, or not ours
    p = -1
    j = _head
    while j != i:
        p = j
        j = n[4 * j + 2]
    if p < 0:
        _head = n[4 * i + 2]
    else:
        n[4 * p + 2] = n[4 * i + 2]
    _release(i)


clear_interval = clear_timeout


def step():
    # The loop's timer work for one round: run the timers due now, at most as many as are
    # armed (one that re-arms with 0 ms runs next round, not in a loop that would starve
    # I/O), then return the ms until the next one (0 if one is due already, or once stop()
    # was called), or -1 when none is left.
    global _head, lag_max
    n = _n
    now = ticks()
    k = core._tn
    while k and _head >= 0:
        i = _head
        late = ticks_diff(now, n[4 * i])
        if late < 0:
            break
        k -= 1
        if late > lag_max:
            lag_max = late
        fn = _o[2 * i]
        x = _o[2 * i + 1]
        _head = n[4 * i + 2]
        p = n[4 * i + 1]
        if p:
            # re-arm before the call, so that the callback may cancel it
            d = ticks_add(n[4 * i], p)
            _insert(i, d if ticks_diff(d, now) > 0 else ticks_add(now, p))
        else:  # one-shot: free the slot first, the callback may arm another
            _release(i)
        if call(fn, x):
            return 0
    if _head < 0:
        return -1
    now = ticks_diff(n[4 * _head], ticks())
    return now if now > 0 else 0


def call(fn, x):
    # One dispatch, isolated: a timer callback, or a handler while the watchdog is on.
    # Returns True once stop() was called. With a watchdog set, a dispatch that ran
    # longer is reported once it has returned: nothing can pre-empt Python code.
    c = core
    c.events += 1
    wd = c._wd  # (fn may change it)
    if wd:
        t = ticks()
    try:
        fn(x)
    except Exception as e:  # isolated: report it and keep running the others
        c._fault(e, fn)
    if wd:
        t = ticks_diff(ticks(), t)
        if t > wd:
            c._late.ms = t  # an attribute it has already: setting it allocates nothing
            c._fault(c._late, fn)
    return c._stop > 1


core._tm = __import__("sys").modules[__name__]  # the loop runs timers from now on
