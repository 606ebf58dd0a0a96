"""Device benchmark: a Pipe ping-pong run by ember, by asyncio and by a hand-written ipoll loop."""

# Run as `micropython -X heapsize=64k bench_loop.py` with the ember package importable
# (firmware/ on sys.path, or pushed beside this file); prints one JSON line. The host's
# `ember bench loop` calls run(n) and reads that line.
#
# One event = one message delivered to its reader. On the unix port a poll that has
# Python streams registered re-checks them on a 1 ms period, so every ipoll costs about
# 1 ms (reported as poll_us): the asyncio and raw loops, which must poll to learn that a
# Pipe became readable, are bound by it; ember's ready ring hands a Pipe written inside
# the loop to its reader without a poll. On a board, poll has no such floor.

from micropython import const
import gc
import json
import select
import sys
import time

_MSG = b"ember ping-pong!"  # 16 bytes per hop
_POLLIN = const(1)
_K = const(32)  # readers and timers registered to measure their cost
_REPEAT = const(5)  # ember runs (the baselines are slow enough to run once)

# Run from a checkout (micropython firmware/bench/bench_loop.py): put firmware/ on sys.path,
# after the script's own directory, where a pushed ember package is found first.
if "/bench/" in globals().get("__file__", ""):
    sys.path.append(__file__.rpartition("/bench/")[0])


def _mem():
    gc.collect()
    return gc.mem_alloc()


def _forget_ember():
    for name in list(sys.modules):
        if name == "ember" or name.startswith("ember."):
            del sys.modules[name]


def _import_cost():
    # Heap taken by `import ember` (from .mpy when installed so), then by first use
    # (the loop, timers and Pipe modules loaded and the poller made).
    _forget_ember()
    m0 = _mem()
    import ember

    m1 = _mem()
    ember.Pipe
    ember.set_timeout
    m2 = _mem()
    return ember, m1 - m0, m2 - m0


def _ember_pingpong(ember, n):
    a = ember.Pipe(64)
    b = ember.Pipe(64)
    buf = bytearray(len(_MSG))
    left = [n]

    def on_a(s):  # pong side: bounce the message back
        s.readinto(buf)
        b.write(buf)

    def on_b(s):  # ping side: count a round trip, send again or stop
        s.readinto(buf)
        left[0] -= 1
        if left[0]:
            a.write(buf)
        else:
            ember.stop()

    ember.set_read_handler(a, on_a)
    ember.set_read_handler(b, on_b)
    a.write(_MSG)
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    t0 = time.ticks_us()
    ember.run()
    dt = time.ticks_diff(time.ticks_us(), t0)
    alloc = gc.mem_alloc() - m0
    gc.enable()
    ember.set_read_handler(a, None)
    ember.set_read_handler(b, None)
    return dt, alloc


def _asyncio_pingpong(Pipe, n):
    import asyncio

    a = Pipe(64)
    b = Pipe(64)

    async def ping(r, w):
        for _ in range(n):
            w.write(_MSG)
            await w.drain()
            await r.read(len(_MSG))

    async def pong(r, w):
        for _ in range(n):
            data = await r.read(len(_MSG))
            w.write(data)
            await w.drain()

    async def main():
        await asyncio.gather(
            ping(asyncio.StreamReader(b), asyncio.StreamWriter(a, {})),
            pong(asyncio.StreamReader(a), asyncio.StreamWriter(b, {})),
        )

    t0 = time.ticks_us()
    asyncio.run(main())
    return time.ticks_diff(time.ticks_us(), t0)


def _raw_pingpong(Pipe, n):
    a = Pipe(64)
    b = Pipe(64)
    buf = bytearray(len(_MSG))
    poller = select.poll()
    poller.register(a, _POLLIN)
    poller.register(b, _POLLIN)
    a.write(_MSG)
    left = n
    t0 = time.ticks_us()
    while left:
        for s, _ in poller.ipoll(-1):
            s.readinto(buf)
            if s is a:
                b.write(buf)
            else:
                left -= 1
                if left:
                    a.write(buf)
    return time.ticks_diff(time.ticks_us(), t0)


def _poll_cost(Pipe):
    # Microseconds per ipoll(0) with two ready Python streams registered.
    a = Pipe(8)
    b = Pipe(8)
    a.write(b"x")
    b.write(b"x")
    p = select.poll()
    p.register(a, _POLLIN)
    p.register(b, _POLLIN)
    t0 = time.ticks_us()
    for _ in range(20):
        for _ in p.ipoll(0):
            pass
    return time.ticks_diff(time.ticks_us(), t0) / 20


def _reader_cost(ember, streams):
    # Heap per registered reader, beyond what poll.register itself takes. Both pollers
    # stay alive to the end: a freed one can linger on the C stack and skew the count.
    half = len(streams) // 2

    def fn(s):
        pass

    m0 = _mem()
    for s in streams[:half]:
        ember.set_read_handler(s, fn)
    per_reader = (_mem() - m0) / half
    p = select.poll()
    m0 = _mem()
    for s in streams[half:]:
        p.register(s, _POLLIN)
    per_register = (_mem() - m0) / half
    for s in streams[:half]:
        ember.set_read_handler(s, None)
    for s in streams[half:]:
        p.unregister(s)
    return per_reader - per_register


def _timer_cost(ember):
    def fn(_):
        pass

    handles = [None] * _K
    m0 = _mem()
    for i in range(_K):
        handles[i] = ember.set_timeout(fn, 60000 + i)
    per_timer = (_mem() - m0) / _K
    for h in handles:
        ember.clear_timeout(h)
    return per_timer


def run(n=1000):
    """Run the workload with n round trips each way; print and return the results."""
    ember, import_bytes, first_use_bytes = _import_cost()
    Pipe = ember.Pipe
    streams = [Pipe(1) for _ in range(2 * _K)]
    bytes_per_reader = _reader_cost(ember, streams)
    del streams
    bytes_per_timer = _timer_cost(ember)

    events = 2 * n  # one event = one message delivered to its reader
    _ember_pingpong(ember, 10)  # warm up (first-use allocations)
    best = 0
    alloc = 0
    for _ in range(_REPEAT):  # one ember run is short: take the best of several
        dt, al = _ember_pingpong(ember, n)
        best = dt if not best or dt < best else best
        alloc += al
    ember_eps = events * 1000000 / best
    alloc_per_event = alloc / (_REPEAT * events)
    raw_eps = events * 1000000 / _raw_pingpong(Pipe, n)
    poll_us = _poll_cost(Pipe)
    asyncio_eps = events * 1000000 / _asyncio_pingpong(Pipe, n)

    gc.collect()
    result = {
        "ember_events_per_s": round(ember_eps),
        "asyncio_events_per_s": round(asyncio_eps),
        "raw_poll_events_per_s": round(raw_eps),
        "ratio_vs_asyncio": round(ember_eps / asyncio_eps, 2),
        "ratio_vs_raw_poll": round(ember_eps / raw_eps, 2),
        "alloc_bytes_per_event": round(alloc_per_event, 4),
        "import_bytes": import_bytes,
        "first_use_bytes": first_use_bytes,
        "bytes_per_reader": round(bytes_per_reader, 1),
        "bytes_per_timer": round(bytes_per_timer, 1),
        "round_trips": n,
        "poll_us": round(poll_us),
        "micropython_version": ".".join(str(v) for v in sys.implementation.version[:3]),
        "heap_bytes": gc.mem_alloc() + gc.mem_free(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    run()
