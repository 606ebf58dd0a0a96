"""The loop: one select.poll, a ready ring, a timer pool, and isolated handler dispatch."""

from time import ticks_add, ticks_diff

# const() is folded by the compiler; not importing it saves a module global.

_POLLIN = const(1)
_POLLOUT = const(4)
_RD_EVENTS = const(25)  # POLLIN | POLLERR | POLLHUP run the reader
_WR_EVENTS = const(28)  # POLLOUT | POLLERR | POLLHUP run the writer
_QSIZE = const(16)  # ready ring slots, a power of two
_QMASK = const(15)
_POLL_EVERY_MS = const(8)  # while work is ready, still poll the other streams this often
_CHUNK = const(8)  # timer slots added at a time
_SLOTS = const(1024)  # timer slots at most; a handle is (serial << 10) | slot
_SERIALS = const(0x1FFFFF)  # keeps handles small ints on 32-bit boards

ticks = __import__("time").ticks_ms  # the loop's clock; tests may swap it (near the wrap, say)

# (imports used once are not kept as module globals: each global costs heap)
_poller = __import__("select").poll()
_poller.ipoll(0)  # makes the poller's one result tuple now, not in the loop
# A stream the loop knows is a key of _rd (its reader, or None) and is registered with
# the poller; _wr has keys only for streams that have had a writer. A handler is a
# function fn(stream) or a Task (tasks are callable).
_rd = {}
_wr = {}
_nh = 0  # streams with a handler: while > 0 the loop has something to wait for

# Ready ring: (stream, events) pairs waiting for dispatch, in two preallocated arrays so
# that queueing allocates nothing. Filled from ipoll and by wake().
_qs = [None] * _QSIZE
_qe = bytearray(_QSIZE)
_qh = 0  # oldest entry
_qn = 0  # entries queued

# Timer pool: parallel arrays indexed by slot, not an object per timer, so a timer costs
# ~36 bytes (64-bit build) and arming one in a free slot allocates nothing. Armed slots
# form a list sorted by due tick (_head first, linked by _nxt); free slots another.
_fn = []
_arg = []
_due = []  # ticks: small ints, up to the ticks period (2**62 on 64-bit unix)
_per = __import__("array").array("i")  # period ms, 0 for one-shot
_nxt = _per[:]  # next slot, -1 ends a list
_hid = _per[:]  # handle of the timer in the slot, -1 when free
_head = -1
_free = -1
_serial = 0
_tn = 0  # timers armed

_stop = False
events = 0  # handler and timer calls
lag_max = 0  # worst lateness of a timer, ms


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
    if m or keep:
        _poller.register(s, m)  # on a registered stream this only updates the mask
    else:
        _poller.unregister(s)
        del _rd[s]
        _wr.pop(s, None)
    if hasattr(s, "_em"):
        s._em = m  # ember's own streams: the wake-ups the loop wants
    _nh += (m != 0) - had


def set_read_handler(s, fn):
    """Call fn(s) whenever s is readable; setting again replaces, fn=None removes."""
    _set(_rd, s, fn)


def set_write_handler(s, fn):
    """Call fn(s) whenever s is writable; setting again replaces, fn=None removes."""
    _set(_wr, s, fn)


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
    global _free, _serial, _tn
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
    _tn += 1
    _insert(i, ticks_add(ticks(), ms if ms > 0 else 0))
    return h


def set_interval(fn, ms, arg=None):
    """Call fn(arg) every ms milliseconds; returns a handle for clear_timeout."""
    return set_timeout(fn, ms, arg, ms if ms > 0 else 1)


def clear_timeout(h):
    """Cancel a timeout or interval; a stale handle or None is ignored."""
    global _head, _free, _tn
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
    _tn -= 1


def wake(s, ev):
    """Queue s as ready for ev (POLLIN/POLLOUT) now, without waiting for a poll.

    For Python streams that change state inside the loop: they keep `_em` (set by the
    loop: the events it has handlers for), `_qd` (events already queued) and
    `_deliver(ev)` (events ready now; called just before the handler runs). Not from
    a hard IRQ: there, set a flag that the stream's ioctl reports (see Signal)."""
    global _qn
    if s._qd & ev or _qn >= _QSIZE:
        return  # queued already, or full: poll will report it
    s._qd |= ev
    i = (_qh + _qn) & _QMASK
    _qs[i] = s
    _qe[i] = ev
    _qn += 1


def _call(fn, x):
    global events
    events += 1
    try:
        fn(x)
    except Exception as e:  # isolated: report it and keep running the others
        _report(e, fn)


def _report(e, where):
    # The first error loads diag and rebinds _report to diag.report, so later reports
    # import nothing (a relative import allocates) and work in a low-memory loop.
    global _report
    from .diag import report

    _report = report
    report(e, where)


def run(until=None):
    """Run until stop(), until `until.done` (a Task), or until nothing is left to wait for
    (no handler, timer or task)."""
    global _stop, _head, _free, _tn, _qh, _qn, lag_max
    _stop = False
    last = ticks()
    while not _stop and (until is None or not until.done):
        now = ticks()
        # Timers due now, at most as many as are armed: one that re-arms with 0 ms
        # runs next round, not in a loop that would starve I/O.
        n = _tn
        while n and _head >= 0 and not _stop:
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
                _tn -= 1
            _call(fn, x)
        t = -1  # poll timeout: none while no timer is armed
        if _head >= 0:
            t = ticks_diff(_due[_head], ticks())
            if t < 0:
                t = 0
        if _qn or t == 0:
            # Work is ready. Poll the other streams only now and then: on the unix
            # port a poll with Python streams registered costs at least 1 ms.
            t = 0 if _nh and ticks_diff(now, last) >= _POLL_EVERY_MS else -2
        elif not _nh and t < 0:
            break  # idle: nothing can happen any more
        if t > -2:
            # ipoll reuses one result tuple. Copy into the ring and dispatch after the
            # iteration: unregistering while iterating would skip entries.
            for s, ev in _poller.ipoll(t):
                if _qn >= _QSIZE:
                    break  # level-triggered: the rest is reported next time
                i = (_qh + _qn) & _QMASK
                _qs[i] = s
                _qe[i] = ev
                _qn += 1
            last = ticks()
        # Dispatch what is queued now; entries queued meanwhile wait for the next round.
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
                # ember's own stream: another handler may have drained it since
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


def stop():
    """Make run() return once the running handler returns."""
    global _stop
    _stop = True
