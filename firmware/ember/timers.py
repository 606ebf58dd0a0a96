"""Timer pool: one-shot and periodic timers in preallocated slots, in due order."""

from micropython import const
from time import ticks_add, ticks_diff

from . import core

_CHUNK = const(8)  # slots added at a time
_SLOTS = const(1024)  # slots at most; a handle is (serial << 10) | slot
_SERIALS = const(0xFFFFF)  # (serial << 10 | slot) < 2**30: a small int on 32-bit boards

ticks = __import__("time").ticks_ms  # the loop's clock; tests may swap it (near the wrap, say)

# Parallel arrays indexed by slot, not an object per timer: a timer costs ~36 bytes
# (64-bit build) and arming one in a free slot allocates nothing. Armed slots form a
# list sorted by due tick (_head first, linked by _nxt); free slots another.
_fn = []
_arg = []
_due = []  # ticks: small ints, up to the ticks period (2**62 on 64-bit unix)
_per = __import__("array").array("i")  # period ms, 0 for one-shot
_nxt = _per[:]  # next slot, -1 ends a list
_hid = _per[:]  # handle of the timer in the slot, -1 when free
_head = -1
_free = -1
_serial = 0  # (the count of armed timers is core._tn: the loop tests it every round)
lag_max = 0  # worst lateness of a timer, ms


def _insert(i, due):
    # Link slot i into the armed list by due tick; equal ticks keep arming order.
    global _head
    _due[i] = due
    p = -1
    j = _head
    while j >= 0 and ticks_diff(_due[j], due) <= 0:
        p = j
        j = _nxt[j]
    _nxt[i] = j
    if p < 0:
        _head = i
    else:
        _nxt[p] = i


def set_timeout(fn, ms, arg=None, per=0):
    """Call fn(arg) once, ms milliseconds from now (every `per` ms if given); returns a
    handle for clear_timeout."""
    global _free, _serial
    i = _free
    if i < 0:
        i = len(_hid)
        if i >= _SLOTS:
            raise MemoryError("too many timers")
        # extend() sizes exactly where append() would double
        import array

        t = [None] * _CHUNK
        _fn.extend(t)
        _arg.extend(t)
        _due.extend(t)
        t = array.array("i", bytes(4 * _CHUNK))
        _per.extend(t)
        _nxt.extend(t)
        _hid.extend(t)
        for j in range(i, i + _CHUNK):
            _hid[j] = -1
            _nxt[j] = j + 1
        _nxt[i + _CHUNK - 1] = -1
    _free = _nxt[i]
    _serial = (_serial + 1) & _SERIALS
    h = _serial << 10 | i
    _fn[i] = fn
    _arg[i] = arg
    _per[i] = per
    _hid[i] = h
    core._tn += 1
    _insert(i, ticks_add(ticks(), ms if ms > 0 else 0))
    return h


def set_interval(fn, ms, arg=None):
    """Call fn(arg) every ms milliseconds; returns a handle for clear_timeout."""
    return set_timeout(fn, ms, arg, ms if ms > 0 else 1)


def clear_timeout(h):
    """Cancel a timeout or interval; a stale handle or None is ignored."""
    global _head, _free
    if h is None:
        return
    i = h & (_SLOTS - 1)
    if i >= len(_hid) or _hid[i] != h:
        return  # fired, cancelled, or not ours
    p = -1
    j = _head
    while j != i:
        p = j
        j = _nxt[j]
    if p < 0:
        _head = _nxt[i]
    else:
        _nxt[p] = _nxt[i]
    _fn[i] = _arg[i] = None
    _hid[i] = -1
    _nxt[i] = _free
    _free = i
    core._tn -= 1


clear_interval = clear_timeout


def step():
    # The loop's timer work for one round: run what is due, then return the ms until
    # the next timer (0 if one is due already), or -1 when none is left.
    now = ticks()
    fire(now)
    if _head < 0:
        return -1
    now = ticks_diff(_due[_head], ticks())
    return now if now > 0 else 0


def fire(now):
    # Run the timers due at `now`, at most as many as are armed: one that re-arms with
    # 0 ms runs next round, not in a loop that would starve I/O.
    global _head, _free, lag_max
    n = core._tn
    while n and _head >= 0:
        i = _head
        late = ticks_diff(now, _due[i])
        if late < 0:
            break
        n -= 1
        if late > lag_max:
            lag_max = late
        fn = _fn[i]
        x = _arg[i]
        _head = _nxt[i]
        p = _per[i]
        if p:
            # re-arm before the call, so that the callback may cancel it
            d = ticks_add(_due[i], p)
            _insert(i, d if ticks_diff(d, now) > 0 else ticks_add(now, p))
        else:  # one-shot: free the slot first, the callback may arm another
            _fn[i] = _arg[i] = None
            _hid[i] = -1
            _nxt[i] = _free
            _free = i
            core._tn -= 1
        if call(fn, x):
            return


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
    return c._stop


core._tm = __import__("sys").modules[__name__]  # the loop runs timers from now on
