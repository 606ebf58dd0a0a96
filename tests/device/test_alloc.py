# ember: device
"""The steady state allocates nothing: handlers, tasks and timers under heap_lock()."""

import gc
import micropython

import ember

_MSG = b"0123456789abcdef"


def _pingpong(n):
    # Two pipes bouncing one message: n round trips, 2n reader events.
    a = ember.Pipe(64)
    b = ember.Pipe(64)
    buf = bytearray(len(_MSG))
    left = [n]

    def on_a(s):
        s.readinto(buf)
        b.write(buf)

    def on_b(s):
        s.readinto(buf)
        left[0] -= 1
        if left[0]:
            a.write(buf)
        else:
            ember.stop()

    ember.set_read_handler(a, on_a)
    ember.set_read_handler(b, on_b)
    return a, left


def _locked(fn):
    gc.collect()
    micropython.heap_lock()
    try:
        fn()  # (no *args here: a star call allocates)
    finally:
        micropython.heap_unlock()


def test_handler_pingpong_under_heap_lock():
    a, left = _pingpong(50)
    a.write(_MSG)
    ember.run()  # warm up: first-use allocations happen here
    left[0] = 2000
    a.write(_MSG)
    _locked(ember.run)  # any allocation would raise MemoryError
    assert left[0] == 0


def test_handler_pingpong_mem_alloc_per_event():
    a, left = _pingpong(50)
    a.write(_MSG)
    ember.run()
    events = 20000
    left[0] = events // 2
    a.write(_MSG)
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    ember.run()
    used = gc.mem_alloc() - m0
    gc.enable()
    assert used / events <= 0.1, used


def test_timers_and_intervals_under_heap_lock():
    count = [0]

    def tick(_):
        count[0] += 1

    def rearm(_):
        count[0] += 1
        if count[0] < 300:
            ember.set_timeout(rearm, 0)  # a free slot: nothing allocated
        else:
            ember.clear_timeout(h)

    h = ember.set_interval(tick, 1)
    ember.set_timeout(rearm, 0)
    ember.clear_timeout(ember.set_timeout(tick, 1))  # grow the pool first
    _locked(ember.run)
    assert count[0] >= 300


def test_tasks_under_heap_lock():
    a = ember.Pipe(16)
    b = ember.Pipe(16)
    buf = bytearray(4)
    rounds = 300

    async def ping():
        for i in range(rounds):
            a.write(b"ping")
            await ember.readable(b)
            b.readinto(buf)
            if i % 50 == 0:
                await ember.sleep_ms(0)

    async def pong():
        for _ in range(rounds):
            await ember.readable(a)
            a.readinto(buf)
            b.write(buf)

    # Tasks are made before the lock: the coroutine objects and Tasks are the only
    # allocations; waiting, waking and sleeping allocate nothing.
    t1 = ember.create_task(ping())
    t2 = ember.create_task(pong())
    ember.set_timeout(lambda _: None, 0)  # warm the timer pool
    ember.run(ember.create_task(_first_await(t1)))
    _locked(ember.run)
    assert not t1.failed and not t2.failed


async def _first_await(t):
    await ember.sleep_ms(0)


def test_native_fd_stream_under_heap_lock():
    # A file-descriptor stream (the unix port's /dev/zero: always readable) goes
    # through the same poll and dispatch path without allocating either.
    try:
        f = open("/dev/zero", "rb")
    except OSError:
        return  # not the unix port
    buf = bytearray(32)
    n = [0]

    def reader(s):
        s.readinto(buf)
        n[0] += 1
        if n[0] == 500:
            ember.set_read_handler(s, None)

    ember.set_read_handler(f, reader)
    ember.run()
    n[0] = 0
    ember.set_read_handler(f, reader)
    _locked(ember.run)
    f.close()
    assert n[0] == 500
