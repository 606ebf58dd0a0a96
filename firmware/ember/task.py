"""Coroutine tasks on the ember loop: create_task, sleep_ms, readable, writable, run_until,
Task.cancel and CancelledError."""

from micropython import const

from . import core, timers

_SLEEP = const(0)
_READ = const(1)
_WRITE = const(4)

_cur = None  # the task being stepped


class CancelledError(BaseException):
    """Raised at a cancelled task's await (asyncio's name and base class)."""


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
        self.held = False  # run_until waits for it: its failure is raised there
        self.s = None  # the stream it waited on last, kept registered while it lives
        self.h = -1  # its timer while it sleeps or is scheduled (for cancel)
        self.on = None  # the Task it awaits
        self.parked = False  # parked on a sleep/readable/writable: the next step ends it
        self.cancelling = False

    def __call__(self, s):
        # The loop wakes a task as it calls any handler: from a timer (s is None) or
        # as the reader/writer of stream s. Calling an instance allocates nothing.
        global _cur
        if self.done:
            return
        if s is not None:
            _detach(s, self)
        self.h = -1
        self.on = None
        _cur = self
        try:
            if self.cancelling:
                self.cancelling = self.parked = False
                self.coro.throw(CancelledError())
            else:
                self.coro.send(None)
        except StopIteration as e:
            self._finish(e.value, False)
        except Exception as e:
            self._finish(e, True)
        except CancelledError as e:
            self._finish(e, True)
        except BaseException as e:  # KeyboardInterrupt, SystemExit: it ends, and so does run()
            self._finish(e, True, False)
            _release(self)
            raise
        finally:
            _cur = None
        if self.done:
            _release(self)

    def _finish(self, value, failed, report=True):
        self.done = True
        self.failed = failed
        self.result = value
        w = self.waiter
        self.waiter = None
        if w is None:
            if failed and report and not self.held and not isinstance(value, CancelledError):
                core._fault(value, self)  # nobody will see it otherwise
        elif type(w) is list:
            for t in w:
                t.h = timers.set_timeout(t, 0)
        else:
            w.h = timers.set_timeout(w, 0)

    def cancel(self):
        """Raise CancelledError at the task's current await, soon (the loop steps it
        next); its timer or stream is given up and its waiters see the error when it
        ends. False if it has finished already."""
        if self.done:
            return False
        if not self.cancelling:
            self.cancelling = True
            timers.clear_timeout(self.h)
            if self.s is not None:
                _detach(self.s, self)
            o = self.on
            if o is not None:
                self.on = None
                _unwait(o, self)
            self.h = timers.set_timeout(self, 0)
        return True

    def __iter__(self):
        return self

    def __next__(self):
        # `await task`: park the current task until this one finishes.
        if self.done:
            if self.failed:
                raise self.result
            raise StopIteration(self.result)
        t = _cur
        w = self.waiter
        if w is None:
            self.waiter = t
        elif type(w) is list:
            w.append(t)
        else:
            self.waiter = [w, t]  # a second waiter: the only time a list is made
        t.on = self
        # returning (yielding None) hands control back to the loop


def _unwait(o, t):
    # t no longer awaits task o.
    w = o.waiter
    if w is t:
        o.waiter = None
    elif type(w) is list and t in w:
        w.remove(t)


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
        # Whether this is the park or the resume is the task's state, not the awaitable's:
        # a sleep_ms() made and never awaited (its arg left set) cannot delay another task.
        t = _cur
        a = self.arg
        if t.parked or a is None:
            t.parked = False
            self.exc.__traceback__ = None  # reuse one exception: nothing allocated
            raise self.exc
        self.arg = None
        t.parked = True
        k = self.kind
        if k == _SLEEP:
            t.h = timers.set_timeout(t, a)
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
    t.h = timers.set_timeout(t, 0)
    return t


def run_until(t):
    """Run the loop until task (or coroutine) t finishes; return its result or raise."""
    if not isinstance(t, Task):
        t = create_task(t)
    t.held = True
    core.run(t)
    if not t.done:
        raise RuntimeError("ember: loop stopped first")
    if t.failed:
        raise t.result
    return t.result
