"""Coroutine tasks on the ember loop: create_task, sleep_ms, readable, writable, run_until."""

from micropython import const

from . import core, timers

_SLEEP = const(0)
_READ = const(1)
_WRITE = const(4)

_cur = None  # the task being stepped


class Task:
    """A coroutine scheduled on the loop. `done`, `result` (the return value, or the
    exception when `failed`); `await task` returns the result or raises."""

    def __init__(self, coro):
        self.coro = coro
        self.done = False
        self.failed = False
        self.result = None
        self.waiter = None  # a Task awaiting this one, or True for run_until
        self.s = None  # the stream it waited on last, kept registered while it lives

    def __call__(self, s):
        # The loop wakes a task as it calls any handler: from a timer (s is None) or
        # as the reader/writer of stream s. Calling an instance allocates nothing.
        global _cur
        if self.done:
            return
        if s is not None:
            _detach(s, self)
        _cur = self
        try:
            self.coro.send(None)
        except StopIteration as e:
            self._finish(e.value, False)
        except Exception as e:
            self._finish(e, True)
        _cur = None
        if self.done:
            _release(self)

    def _finish(self, value, failed):
        self.done = True
        self.failed = failed
        self.result = value
        w = self.waiter
        if w is None:
            if failed:
                core._fault(value, self)  # nobody will see it otherwise
        elif w is not True:
            timers.set_timeout(w, 0)

    def __iter__(self):
        return self

    def __next__(self):
        # `await task`: park the current task until this one finishes.
        if self.done:
            if self.failed:
                raise self.result
            raise StopIteration(self.result)
        self.waiter = _cur
        # returning (yielding None) hands control back to the loop


def _detach(s, t):
    # Woken by s: stop waiting on it but keep it registered (mask 0), so waiting on it
    # again, the usual next step, allocates nothing.
    if core._rd.get(s) is t:
        core._set(core._rd, s, None, True)
    if core._wr.get(s) is t:
        core._set(core._wr, s, None, True)


def _release(t):
    # Unregister the task's last stream unless something else handles it now.
    s = t.s
    if s is not None:
        t.s = None
        core._set(core._rd, s, core._rd.get(s))


def _arm(table, s):
    t = _cur
    if t.s is not s:
        _release(t)
        t.s = s
    core._set(table, s, t)


class _Wait:
    # One preallocated awaitable per kind, reused by every await (as extmod/asyncio's
    # SingletonGenerator): `await` calls __next__ once to park the task (yield), and
    # again when the loop resumes it, to finish with StopIteration.

    def __init__(self, kind):
        self.kind = kind
        self.arg = None
        self.exc = StopIteration()

    def __iter__(self):
        return self

    def __next__(self):
        a = self.arg
        if a is None:
            self.exc.__traceback__ = None  # reuse one exception: nothing allocated
            raise self.exc
        self.arg = None
        k = self.kind
        if k == _SLEEP:
            timers.set_timeout(_cur, a)
        elif k == _READ:
            _arm(core._rd, a)
        else:
            _arm(core._wr, a)


def sleep_ms(ms, w=_Wait(_SLEEP)):
    """await sleep_ms(ms): resume the task after ms milliseconds."""
    w.arg = ms
    return w


def readable(s, w=_Wait(_READ)):
    """await readable(s): resume the task when s is readable (also a Signal set)."""
    w.arg = s
    return w


def writable(s, w=_Wait(_WRITE)):
    """await writable(s): resume the task when s is writable."""
    w.arg = s
    return w


def create_task(coro):
    """Schedule coroutine coro on the loop; returns its Task."""
    t = Task(coro)
    timers.set_timeout(t, 0)
    return t


def run_until(t):
    """Run the loop until task (or coroutine) t finishes; return its result or raise."""
    if not isinstance(t, Task):
        t = create_task(t)
    t.waiter = True
    core.run(t)
    if not t.done:
        raise RuntimeError("ember: loop stopped first")
    if t.failed:
        raise t.result
    return t.result
