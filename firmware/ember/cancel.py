"""Cancelling tasks, loaded on first use: Task.cancel's work and CancelledError."""

from micropython import const

from . import core, task, timers

_CANCEL = const(4)  # task._CANCEL


class CancelledError(BaseException):
    """Raised at a cancelled task's await (asyncio's name and base class)."""


task._ce = CancelledError  # the task module recognises it from now on


def cancel(t):
    # Task.cancel, for a task not done: give up its timer, its stream or the task it
    # awaits, and step it at once with CancelledError thrown in (Task.__call__).
    if not t.f & _CANCEL:  # not cancelled already
        t.f |= _CANCEL
        h = t.h
        if type(h) is int:
            timers.clear_timeout(h)
        else:  # the Task it awaits: no longer one of its waiters
            w = h.waiter
            if w is t:
                h.waiter = None
            elif type(w) is list and t in w:
                w.remove(t)
        s = t.s
        if s is not None:
            for table in (core._rd, core._wr):
                if table.get(s) is t:
                    core._set(table, s, None, True)
        t.h = timers.set_timeout(t, 0)
    return True
