"""Timer pool: one-shot and periodic timers in preallocated slots, kept in due order."""

from micropython import const
from time import ticks_add, ticks_diff
import array

_CHUNK = const(8)  # slots added at a time when the pool is full
_SLOT_BITS = const(10)  # a handle is (serial << 10) | slot
_SLOT_MASK = const(1023)
_SERIAL_MASK = const(0x1FFFFF)  # keeps handles small ints on 32-bit boards

# One entry per slot in parallel arrays rather than an object per timer: a slot costs
# about 34 bytes on a 64-bit build, and arming a timer in a free slot allocates nothing.
_fn = []
_arg = []
_due = []  # ticks values: small ints up to the ticks period, which may exceed 32 bits
_per = array.array("i")  # period in ms, 0 for one-shot
_nxt = array.array("h")  # next slot in the due list (or the free list), -1 ends it
_hid = array.array("i")  # handle of the timer in the slot, -1 when free
_head = -1  # slot due first
_free = -1
_serial = 0
count = 0  # armed timers
lag_max = 0  # worst lateness seen when firing, ms


# Templates for growing the pool with extend(): it sizes exactly, where append() doubles.
_NONES = [None] * _CHUNK
_ZERO_I = array.array("i", bytes(4 * _CHUNK))
_ZERO_H = array.array("h", bytes(2 * _CHUNK))


def _grow():
    global _free
    n = len(_hid)
    if n + _CHUNK > _SLOT_MASK + 1:
        raise MemoryError("ember: too many timers")
    _fn.extend(_NONES)
    _arg.extend(_NONES)
    _due.extend(_NONES)
    _per.extend(_ZERO_I)
    _hid.extend(_ZERO_I)
    _nxt.extend(_ZERO_H)
    for i in range(n, n + _CHUNK):
        _hid[i] = -1
        _nxt[i] = i + 1
    _nxt[n + _CHUNK - 1] = _free
    _free = n


def _insert(i, due):
    # Keep the list sorted by due tick; equal ticks keep arming order.
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


def _release(i):
    global _free, count
    _fn[i] = None
    _arg[i] = None
    _hid[i] = -1
    _nxt[i] = _free
    _free = i
    count -= 1


def add(fn, ms, arg, per, now):
    global _free, _serial, count
    if _free < 0:
        _grow()
    i = _free
    _free = _nxt[i]
    _serial = (_serial + 1) & _SERIAL_MASK
    h = (_serial << _SLOT_BITS) | i
    _fn[i] = fn
    _arg[i] = arg
    _per[i] = per
    _hid[i] = h
    count += 1
    _insert(i, ticks_add(now, ms if ms > 0 else 0))
    return h


def cancel(h):
    global _head
    if h is None:
        return
    i = h & _SLOT_MASK
    if i >= len(_hid) or _hid[i] != h:
        return  # already fired, cancelled, or never ours
    p = -1
    j = _head
    while j != i:
        p = j
        j = _nxt[j]
    if p < 0:
        _head = _nxt[i]
    else:
        _nxt[p] = _nxt[i]
    _release(i)


def wait(now):
    # ms until the first timer is due (0 if overdue), or -1 with no timer armed.
    if _head < 0:
        return -1
    d = ticks_diff(_due[_head], now)
    return d if d > 0 else 0


def fire(now, call):
    # Run timers due at `now`, at most as many as were armed on entry, so a callback
    # that re-arms itself with 0 ms waits for the next round instead of starving I/O.
    global _head, lag_max
    n = count
    while n and _head >= 0:
        i = _head
        late = ticks_diff(now, _due[i])
        if late < 0:
            return
        n -= 1
        if late > lag_max:
            lag_max = late
        fn = _fn[i]
        arg = _arg[i]
        _head = _nxt[i]
        p = _per[i]
        if p:
            # Periodic: re-arm before the call, so the callback may cancel itself.
            d = ticks_add(_due[i], p)
            if ticks_diff(d, now) <= 0:
                d = ticks_add(now, p)  # fell a whole period behind: skip missed beats
            _insert(i, d)
        else:
            _release(i)
        call(fn, arg)
