"""Coroutine tasks on the ember loop: create_task, sleep_ms, readable, writable, run_until.
Cancelling (Task.cancel, CancelledError) is in cancel.py, loaded on first use."""

from micropython import const

from . import core, timers

_HELD = const(1)  # Task.f: run_until waits for it, and raises its failure
_PARKED = const(2)  # parked on a sleep/readable/writable: its next step ends the await
_CANCEL = const(4)  # cancel() was called: its next step raises CancelledError
_SLEEP = const(8)  # the wait its last sleep_ms/readable/writable asked for (in Task.a)
_READ = const(16)
_WRITE = const(32)
_WAITS = const(56)  # _SLEEP | _READ | _WRITE

_cur = None  # the task being stepped
_ce = None  # CancelledError, once cancel.py has loaded (it sets this)


class Task:
    """A coroutine scheduled on the loop. `done`, `result` (the return value, or the
    exception when `failed`); `await task` returns the result or raises, for any number
    of awaiting tasks; `cancel()` raises CancelledError at its await."""

    def __init__(self, coro):
        self.coro = coro
        self.done = False
        self.failed = False
        self.result = None
        self.waiter = None  # the Task awaiting this one, or a list of them
        self.s = None  # the stream it waited on last, kept registered while it lives
        self.h = -1  # its timer handle while one is armed, or the Task it awaits
        self.f = 0  # _HELD, _PARKED, _CANCEL and one of _WAITS
        self.a = None  # what that wait is for: ms, or a stream

    def __call__(self, s):
        # The loop wakes a task as it calls any handler: from a timer (s is None) or
        # as the reader/writer of stream s. Calling an instance allocates nothing.
        global _cur
        if self.done:
            return
        if s is not None:
            # woken by s: stop waiting on it, but keep it registered (mask 0), so that
            # waiting on it again, the usual next step, allocates nothing
            rd = core._rd
            if rd.get(s) is self:
                core._set(rd, s, None, True)
            if core._wr.get(s) is self:
                core._set(core._wr, s, None, True)
        self.h = -1
        _cur = self
        try:
            if self.f & _CANCEL:
                self.f = self.f & _HELD
                self.coro.throw(_ce())
            else:
                self.coro.send(None)
        except StopIteration as e:
            _finish(self, e.value, False)
        except Exception as e:
            _finish(self, e, True)
        except BaseException as e:  # CancelledError ends the task; KeyboardInterrupt, run()
            if type(e) is not _ce:
                self.f |= _HELD  # not reported here: whoever catches it sees it
                _finish(self, e, True)
                raise
            _finish(self, e, True)
        finally:
            _cur = None

    def __iter__(self):
        return self

    def __next__(self):
        t = _cur
        if self is t:
            # The task's own sleep_ms/readable/writable (they return the task): the first
            # call parks it, arming the wait they asked for; the second, when the loop
            # resumes it, ends the await. The wait is the task's state, so that a
            # sleep_ms() made and never awaited delays no other task.
            f = t.f
            if f & _PARKED:
                t.f = f & ~_PARKED
                _stop.__traceback__ = None  # one exception, reused: nothing allocated
                raise _stop
            if not f & _WAITS:
                raise RuntimeError("ember: a task cannot await itself")
            a = t.a
            t.a = None
            t.f = f & ~_WAITS | _PARKED
            if f & _SLEEP:
                t.h = timers.set_timeout(t, a)
            else:
                if t.s is not a:  # a new stream: give up the last one
                    s = t.s
                    if s is not None:
                        core._set(core._rd, s, core._rd.get(s))
                    t.s = a
                core._set(core._rd if f & _READ else core._wr, a, t)
            return  # (yielding None) hands control back to the loop
        # `await task`: park the current task until this one finishes.
        if self.done:
            if self.failed:
                raise self.result
            raise StopIteration(self.result)
        w = self.waiter
        if w is None:
            self.waiter = t
        elif type(w) is list:
            w.append(t)
        else:
            self.waiter = [w, t]  # a second waiter: the only time a list is made
        t.h = self

    def cancel(self):
        """Raise CancelledError at the task's current await, soon; False if it has
        finished already (see cancel.py)."""
        if self.done:
            return False
        from .cancel import cancel

        return cancel(self)


def _finish(t, value, failed):
    # The task has ended: record it, give up its stream, wake its waiters.
    t.done = True
    t.failed = failed
    t.result = value
    s = t.s
    if s is not None:  # unregistered unless something else handles it now
        t.s = None
        core._set(core._rd, s, core._rd.get(s))
    w = t.waiter
    t.waiter = None
    if w is None:
        if failed and not t.f & _HELD and type(value) is not _ce:
            core._fault(value, t)  # nobody will see it otherwise
    elif type(w) is list:
        for x in w:
            x.h = timers.set_timeout(x, 0)
    else:
        w.h = timers.set_timeout(w, 0)


_stop = StopIteration()


def _wants(kind, a):
    t = _cur
    if t is None:
        raise RuntimeError("ember: await sleep_ms, readable and writable in a task")
    t.f = t.f & ~_WAITS | kind
    t.a = a
    return t


def sleep_ms(ms):
    """await sleep_ms(ms): resume the task after ms milliseconds."""
    return _wants(_SLEEP, ms)


def readable(s):
    """await readable(s): resume the task when s is readable (also a Signal set)."""
    return _wants(_READ, s)


def writable(s):
    """await writable(s): resume the task when s is writable."""
    return _wants(_WRITE, s)


def create_task(coro):
    """Schedule coroutine coro on the loop; returns its Task."""
    t = Task(coro)
    t.h = timers.set_timeout(t, 0)
    return t


def run_until(t):
    """Run the loop until task (or coroutine) t finishes; return its result or raise."""
    if type(t) is not Task:
        t = create_task(t)
    t.f |= _HELD
    core.run(t)
    if not t.done:
        raise RuntimeError("ember: loop stopped first")
    if t.failed:
        raise t.result
    return t.result
