# ember: device
"""The loop under composition (issue 13): nested runs, stray awaitables, many waiters,
cancellation, and exceptions that leave the bookkeeping whole."""

import time

import micropython

import ember
from ember import core


def test_run_inside_a_handler_raises_before_touching_the_loop():
    seen = []

    def nested(_):
        try:
            ember.run()
        except RuntimeError as e:
            seen.append(str(e))

    async def also_nested():
        try:
            ember.run_until(ember.sleep_ms(1))
        except RuntimeError:
            seen.append("task")

    ember.set_timeout(nested, 0)
    ember.create_task(also_nested())
    ember.run()
    assert len(seen) == 2 and "already running" in seen[0], seen
    assert core._qn == 0 and core._nh == 0 and core._tn == 0
    # the loop still runs afterwards
    assert ember.run_until(_answer()) == 42


async def _answer():
    await ember.sleep_ms(1)
    return 42


def test_an_unawaited_sleep_does_not_delay_another_task():
    async def sleeper():
        t0 = time.ticks_ms()
        await ember.sleep_ms(10)
        return time.ticks_diff(time.ticks_ms(), t0)

    async def careless():
        await ember.sleep_ms(2)
        ember.sleep_ms(500)  # made and never awaited: a common slip

    ember.create_task(careless())
    took = ember.run_until(sleeper())
    assert took < 100, took


def test_every_task_awaiting_one_task_gets_its_result_or_its_exception():
    async def child(fail):
        await ember.sleep_ms(5)
        if fail:
            raise ValueError("child failed")
        return "done"

    for fail in (False, True):
        results = []

        async def waiter(t):
            try:
                results.append(await t)
            except ValueError as e:
                results.append(str(e))

        t = ember.create_task(child(fail))
        for _ in range(3):
            ember.create_task(waiter(t))
        ember.run()
        assert results == ["child failed" if fail else "done"] * 3, results


def test_cancel_raises_at_the_await_wakes_waiters_and_frees_the_slots():
    p = ember.Pipe(8)
    log = []

    async def sleeps():
        try:
            await ember.sleep_ms(10_000)
        except ember.CancelledError:
            log.append("sleep cancelled")
            raise

    async def reads():
        try:
            await ember.readable(p)
        except ember.CancelledError:
            log.append("read cancelled")
            raise

    async def waits(t):
        try:
            await t
        except ember.CancelledError:
            log.append("waiter saw it")

    a = ember.create_task(sleeps())
    b = ember.create_task(reads())
    w = ember.create_task(waits(a))

    async def canceller():
        await ember.sleep_ms(5)
        assert a.cancel() and b.cancel()
        assert not ember.create_task(_answer()).done

    t0 = time.ticks_ms()
    ember.create_task(canceller())
    ember.run()
    assert time.ticks_diff(time.ticks_ms(), t0) < 1000  # the 10 s sleep was not waited out
    assert sorted(log) == ["read cancelled", "sleep cancelled", "waiter saw it"], log
    assert a.done and a.failed and isinstance(a.result, ember.CancelledError)
    assert w.done and not w.failed
    assert not a.cancel()  # done already
    assert core._tn == 0 and core._nh == 0 and not core._rd  # timer and stream freed


def test_a_task_that_raises_baseexception_leaves_the_loop_whole():
    async def interrupted():
        await ember.sleep_ms(1)
        raise KeyboardInterrupt

    t = ember.create_task(interrupted())
    try:
        ember.run()
    except KeyboardInterrupt:
        pass
    from ember import task

    assert task._cur is None  # no task left "current"
    assert ember.run_until(_answer()) == 42  # run() may be entered again
    assert t.done


def test_waking_many_waiters_and_cancelling_allocate_nothing_per_event():
    async def child():
        await ember.sleep_ms(1)

    async def waiter(t):
        await t

    # warm up: the timer slots and a task's first waiters list exist
    for _ in range(2):
        t = ember.create_task(child())
        ember.create_task(waiter(t))
        ember.create_task(waiter(t))
        ember.run()
    tasks = [ember.create_task(child()) for _ in range(3)]
    ember.run()
    micropython.heap_lock()
    try:
        for t in tasks:
            assert not t.cancel()  # a done task: nothing to do, nothing allocated
    finally:
        micropython.heap_unlock()


def test_waits_outside_a_task_and_a_task_awaiting_itself_raise_runtimeerror():
    for wait in (lambda: ember.sleep_ms(1), lambda: ember.readable(ember.Pipe(4))):
        try:
            wait()
        except RuntimeError as e:
            assert "in a task" in str(e), e
        else:
            raise AssertionError("a wait outside a task must raise")
    me = []

    async def awaits_itself():
        await me[0]

    me.append(ember.create_task(awaits_itself()))
    try:
        ember.run_until(me[0])
    except RuntimeError as e:
        assert "itself" in str(e), e
    else:
        raise AssertionError("a task awaiting itself must raise")
    assert core._tn == 0 and core._nh == 0
