# ember: device
"""Coroutine tasks: sleep_ms, readable/writable, results, awaiting tasks, failures."""

import time

import ember
from ember import core, diag


def test_task_mixes_sleep_and_readable():
    p = ember.Pipe(16)
    log = []

    async def consumer():
        buf = bytearray(4)
        total = 0
        while total < 12:
            await ember.readable(p)
            n = p.readinto(buf)
            total += n
            log.append(bytes(buf[:n]))
            await ember.sleep_ms(3)
        return total

    async def producer():
        for i in range(3):
            await ember.sleep_ms(5)
            await ember.writable(p)
            p.write(b"abcd")

    ember.create_task(producer())
    assert ember.run_until(consumer()) == 12
    assert b"".join(log) == b"abcd" * 3, log
    assert core._nh == 0 and not core._rd  # finished tasks released their streams


def test_sleep_ms_orders_tasks():
    log = []

    async def sleeper(ms, tag):
        await ember.sleep_ms(ms)
        log.append(tag)

    for ms, tag in ((30, "c"), (10, "a"), (20, "b"), (0, "now")):
        ember.create_task(sleeper(ms, tag))
    t0 = time.ticks_ms()
    ember.run()
    assert log == ["now", "a", "b", "c"], log
    assert time.ticks_diff(time.ticks_ms(), t0) >= 30


def test_await_task_returns_its_result():
    async def child(x):
        await ember.sleep_ms(5)
        return x * 2

    async def parent():
        t = ember.create_task(child(21))
        r = await t
        r2 = await t  # a finished task gives its result again
        return r + r2

    t = ember.create_task(parent())
    ember.run()
    assert t.done and not t.failed and t.result == 84


def test_failing_task_is_reported_and_others_keep_running():
    errors = []
    diag.set_error_handler(lambda e, where: errors.append((type(e), where)))
    log = []

    async def bad():
        await ember.sleep_ms(2)
        raise KeyError("x")

    async def good():
        for i in range(4):
            await ember.sleep_ms(2)
            log.append(i)

    tb = ember.create_task(bad())
    ember.create_task(good())
    ember.run()
    assert log == [0, 1, 2, 3], log
    assert errors == [(KeyError, tb)], errors
    assert tb.done and tb.failed and type(tb.result) is KeyError


def test_awaited_failure_raises_in_the_waiter():
    async def bad():
        await ember.sleep_ms(1)
        raise OSError(5)

    async def waiter():
        try:
            await ember.create_task(bad())
        except OSError as e:
            return e.errno

    assert ember.run_until(waiter()) == 5
    try:
        ember.run_until(bad())
    except OSError:
        pass
    else:
        raise AssertionError("run_until must raise the task's exception")


def test_handlers_and_tasks_share_the_loop():
    a = ember.Pipe(16)
    b = ember.Pipe(16)
    log = []

    def echo(s):  # callback style: a -> b, upper-cased
        b.write(s.read().upper())

    async def talk():
        for word in (b"hi", b"there"):
            a.write(word)
            await ember.readable(b)
            log.append(b.read())
        ember.set_read_handler(a, None)

    ember.set_read_handler(a, echo)
    ember.run_until(talk())
    assert log == [b"HI", b"THERE"], log


def test_many_tasks_ping_pong_through_pipes():
    n = 6
    pipes = [ember.Pipe(8) for _ in range(n)]
    seen = []

    async def relay(i):
        src = pipes[i]
        dst = pipes[(i + 1) % n]
        buf = bytearray(1)
        for _ in range(20):
            await ember.readable(src)
            src.readinto(buf)
            seen.append(i)
            if not (i == n - 1 and len(seen) == n * 20):
                dst.write(buf)

    for i in range(n):
        ember.create_task(relay(i))
    pipes[0].write(b"*")
    ember.run()
    assert len(seen) == n * 20 and seen[:n] == list(range(n)), seen[:12]
    assert core._nh == 0 and not core._rd
