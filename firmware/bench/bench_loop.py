"""Device benchmark: a ping-pong run by ember, by asyncio and by a hand-written ipoll loop."""

# Run as `micropython -X heapsize=64k bench_loop.py` with the ember package importable
# (firmware/ on sys.path, or pushed beside this file); prints one JSON line. The host's
# `ember bench loop` calls run(n) and reads that line.
#
# The workload: n round trips of a 16-byte message between a "ping" end and a "pong"
# end. One event = one message delivered to its reader (2n per run). All three
# implementations move the same messages over the same kind of transport:
# - "socket" where the board has the socket module (the virtual board, ESP32, Pico W):
#   one loopback TCP connection on 127.0.0.1, a fresh one per run, non-blocking. ember and
#   the ipoll loop are handed the two connected sockets; asyncio makes its own with
#   start_server and open_connection, as a user's program would.
# - "pipe" elsewhere: two ember Pipes (one per direction). On the unix port a poll with
#   a Python-level stream registered costs ~1 ms, which caps asyncio and the ipoll loop
#   near 1 event/ms while ember's ready ring skips the poll: only meaningful on a board.
#
# Timing: every implementation gets one warm-up run, then 5 timed runs interleaved
# (ember, asyncio, ipoll, ember, ...) so drift hits all alike; each reports its best of
# the 5. Connection setup and teardown are outside the timed region. gc.collect() before
# every run; the collector is disabled only for ember's runs, to count what it allocates
# (alloc_bytes_per_event, summed over its 5 timed runs): ember allocates nothing per event,
# so that changes nothing for its time, while asyncio's allocations are part of its cost.

from micropython import const
import gc
import json
import select
import sys
import time

try:
    import socket
except ImportError:
    socket = None

_MSG = b"ember ping-pong!"  # 16 bytes per hop
_MLEN = const(16)
_POLLIN = const(1)
_K = const(32)  # readers and timers registered to measure their cost (8 on a small heap)
_RUNS = const(5)  # timed runs per implementation, after one warm-up; the best counts
_HOST = "127.0.0.1"
_LAT_SAMPLES = const(50)  # writes timed for the Pipe latency figures
_LAT_BUF = bytearray(16)

# Run from a checkout (micropython firmware/bench/bench_loop.py): put firmware/ on sys.path,
# after the script's own directory, where a pushed ember package is found first.
if "/bench/" in globals().get("__file__", ""):
    sys.path.append(__file__.rpartition("/bench/")[0])

# Loopback ports: MicroPython sockets have no getsockname(), so a socket bound to port 0
# cannot tell its port; try ports from a start that differs per run instead (benchmarks
# may run side by side) and move on when one is taken.
_port = 40000 + time.ticks_us() % 20000


def _next_port():
    global _port
    _port = 40000 + (_port - 40000 + 1) % 20000
    return _port


def _mem():
    gc.collect()
    return gc.mem_alloc()


def _forget_ember():
    for name in list(sys.modules):
        if name == "ember" or name.startswith("ember."):
            del sys.modules[name]


def _import_names():
    # Import ember and the modules first use loads, once, and forget them: that interns
    # their names (qstrs). Interned names live in pools allocated whole (1-2 KB) when the
    # last one fills, so whether a pool lands inside a measurement would depend only on
    # how many names came before (this script's own, the program's): the figures below
    # are the package's own objects and code, without that step.
    ember = __import__("ember")
    ember.Pipe
    ember.set_timeout
    _forget_ember()


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


def _addr(port):
    return socket.getaddrinfo(_HOST, port, 0, socket.SOCK_STREAM)[0][-1]


def _open(Pipe):
    # A fresh transport: (ping_r, ping_w, pong_r, pong_w). A socket is both ends of its
    # side; Pipes go one way each.
    if socket is None:
        a = Pipe(64)  # ping -> pong
        b = Pipe(64)  # pong -> ping
        return b, a, a, b
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for _ in range(100):
        port = _next_port()
        try:
            ls.bind(_addr(port))
            break
        except OSError:
            pass
    else:
        ls.close()
        raise OSError("no free loopback port")
    ls.listen(1)
    c = socket.socket()
    try:
        ls.settimeout(5)  # a board without loopback fails here rather than hang
        c.settimeout(5)
        c.connect(_addr(port))  # loopback: completes at once into the backlog
        d = ls.accept()[0]
    except OSError:
        c.close()
        raise
    finally:
        ls.close()
    c.setblocking(False)
    d.setblocking(False)
    return c, c, d, d


def _close(t):
    for s in t:
        s.close()  # idempotent for sockets and Pipes


def _ember_pingpong(ember, Pipe, n):
    t = _open(Pipe)
    ping_r, ping_w, pong_r, pong_w = t
    buf = bytearray(_MLEN)
    left = n  # round trips left
    got = 0  # bytes of the current reply received

    def on_pong(s):  # bounce what arrived
        k = s.readinto(buf)
        if k:
            pong_w.write(buf, 0, k)

    def on_ping(s):  # a whole reply is a round trip: send again or stop
        nonlocal left, got
        k = s.readinto(buf)
        if not k:
            return
        got += k
        if got < _MLEN:
            return
        got = 0
        left -= 1
        if left:
            ping_w.write(_MSG)
        else:
            ember.stop()

    ember.set_read_handler(pong_r, on_pong)
    ember.set_read_handler(ping_r, on_ping)
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    t0 = time.ticks_us()
    ping_w.write(_MSG)
    ember.run()
    dt = time.ticks_diff(time.ticks_us(), t0)
    alloc = gc.mem_alloc() - m0
    gc.enable()
    ember.set_read_handler(pong_r, None)
    ember.set_read_handler(ping_r, None)
    _close(t)
    return dt, alloc


def _raw_pingpong(Pipe, n):
    # What a careful programmer writes by hand: one poller, ipoll, one preallocated buffer.
    t = _open(Pipe)
    ping_r, ping_w, pong_r, pong_w = t
    buf = bytearray(_MLEN)
    poller = select.poll()
    poller.register(ping_r, _POLLIN)
    poller.register(pong_r, _POLLIN)
    left = n
    got = 0
    gc.collect()
    t0 = time.ticks_us()
    ping_w.write(_MSG)
    while left:
        for s, _ in poller.ipoll(-1):
            k = s.readinto(buf)
            if not k:
                continue
            if s is pong_r:
                pong_w.write(buf, 0, k)
                continue
            got += k
            if got < _MLEN:
                continue
            got = 0
            left -= 1
            if left:
                ping_w.write(_MSG)
    dt = time.ticks_diff(time.ticks_us(), t0)
    poller.unregister(ping_r)
    poller.unregister(pong_r)
    _close(t)
    return dt


def _asyncio_pingpong(Pipe, n):
    # asyncio as users write it: StreamReader/StreamWriter, read/readexactly, write, drain.
    import asyncio

    asyncio.new_event_loop()  # a clean loop per run, as a fresh program would have
    ready = asyncio.Event()
    done = asyncio.Event()
    dt = [0]

    async def pong(r, w):  # an echo server
        ready.set()
        while True:
            data = await r.read(_MLEN)
            if not data:
                break
            w.write(data)
            await w.drain()
        w.close()
        await w.wait_closed()
        done.set()

    async def ping(r, w):
        await ready.wait()
        gc.collect()
        t0 = time.ticks_us()
        for _ in range(n):
            w.write(_MSG)
            await w.drain()
            await r.readexactly(_MLEN)
        dt[0] = time.ticks_diff(time.ticks_us(), t0)
        w.close()
        await w.wait_closed()
        await done.wait()

    async def main():
        if socket is None:
            a = Pipe(64)
            b = Pipe(64)
            asyncio.create_task(pong(asyncio.StreamReader(a), asyncio.StreamWriter(b, {})))
            await ping(asyncio.StreamReader(b), asyncio.StreamWriter(a, {}))
            return
        for _ in range(100):
            port = _next_port()
            try:
                srv = await asyncio.start_server(pong, _HOST, port)
                break
            except OSError:
                pass
        else:
            raise OSError("no free loopback port")
        r, w = await asyncio.open_connection(_HOST, port)
        await ping(r, w)
        srv.close()
        await srv.wait_closed()

    asyncio.run(main())
    return dt[0]


def _median(values):
    values.sort()
    return values[len(values) // 2]


def _pipe_latency(ember, Pipe, samples=_LAT_SAMPLES):
    # Microseconds from a Pipe write to its reader running, median of `samples`:
    # - "loop": the write made inside the loop (a timer callback, every 2 ms);
    # - "irq": the write made by a machine.Timer callback (a soft IRQ) while the loop waits
    #   in poll with nothing else to do; None where the board has no machine.Timer.
    p = Pipe(16)
    lat = []
    t0 = [0]

    def on_read(s):
        now = time.ticks_us()
        s.readinto(_LAT_BUF)
        lat.append(time.ticks_diff(now, t0[0]))
        if len(lat) >= samples:
            ember.stop()

    def write(_):
        t0[0] = time.ticks_us()
        p.write(b"x")

    ember.set_read_handler(p, on_read)
    h = ember.set_interval(write, 2)
    ember.run()
    ember.clear_interval(h)
    loop_us = _median(lat)
    irq_us = None
    try:
        from machine import Timer
    except ImportError:
        Timer = None
    if Timer is not None:
        lat.clear()
        timer = Timer(-1, mode=Timer.PERIODIC, period=3, callback=write)
        try:
            ember.run()
        finally:
            timer.deinit()
        irq_us = _median(lat)
    ember.set_read_handler(p, None)
    p.close()
    return loop_us, irq_us


def _poll_cost(Pipe):
    # Microseconds per ipoll(0) with both ends of the transport registered and ready.
    t = _open(Pipe)
    ping_r, ping_w, pong_r, pong_w = t
    ping_w.write(b"x")
    pong_w.write(b"x")
    p = select.poll()
    p.register(ping_r, _POLLIN)
    p.register(pong_r, _POLLIN)
    t0 = time.ticks_us()
    for _ in range(20):
        for _ in p.ipoll(0):
            pass
    dt = time.ticks_diff(time.ticks_us(), t0) / 20
    p.unregister(ping_r)
    p.unregister(pong_r)
    _close(t)
    return dt


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


def _timer_cost(ember, k):
    def fn(_):
        pass

    handles = [None] * k
    m0 = _mem()
    for i in range(k):
        handles[i] = ember.set_timeout(fn, 60000 + i)
    per_timer = (_mem() - m0) / k
    for h in handles:
        ember.clear_timeout(h)
    return per_timer


def _floor_cost(Pipe, n):
    # What any loop must spend per event on this transport, in microseconds: the ping-pong's
    # reads and writes alone (no poll, no dispatch), and one ipoll with one stream ready.
    # The raw loop's time over their sum bounds what a loop can reach against it.
    t = _open(Pipe)
    ping_r, ping_w, pong_r, pong_w = t
    buf = bytearray(_MLEN)
    t0 = time.ticks_us()
    for _ in range(n):
        ping_w.write(_MSG)
        pong_r.readinto(buf)
        pong_w.write(buf, 0, _MLEN)
        ping_r.readinto(buf)
    io_us = time.ticks_diff(time.ticks_us(), t0) / (2 * n)
    p = select.poll()
    p.register(ping_r, _POLLIN)
    p.register(pong_r, _POLLIN)
    ping_w.write(_MSG)
    t0 = time.ticks_us()
    for _ in range(n):
        for _ in p.ipoll(-1):
            pass
    poll_us = time.ticks_diff(time.ticks_us(), t0) / n
    p.unregister(ping_r)
    p.unregister(pong_r)
    _close(t)
    return io_us, poll_us


def _best(a, b):
    return b if not a or b < a else a


def _socket_works():
    # Some boards have the socket module but no loopback interface: use Pipes there.
    global socket
    if socket is not None:
        try:
            _close(_open(None))
        except OSError:
            socket = None
    return socket is not None


def run(n=1000):
    """Run the workload with n round trips each way; print and return the results."""
    _socket_works()
    _import_names()
    ember, import_bytes, first_use_bytes = _import_cost()
    Pipe = ember.Pipe
    # 64 streams and 32 timers take ~25 KB on a 64-bit build: fewer where the heap is small.
    k = _K if gc.mem_free() > 96 * 1024 else 8
    streams = [ember.Signal() for _ in range(2 * k)]  # pollable, and lighter than Pipes
    bytes_per_reader = _reader_cost(ember, streams)
    del streams
    bytes_per_timer = _timer_cost(ember, k)

    # Warm up each implementation (first-use allocations, asyncio's import), then time
    # _RUNS rounds of all three, interleaved; keep each one's best.
    _ember_pingpong(ember, Pipe, 10)
    _asyncio_pingpong(Pipe, 10)
    _raw_pingpong(Pipe, 10)
    t_ember = t_asyncio = t_raw = 0
    io_us = poll1_us = 0
    alloc = 0
    for _ in range(_RUNS):
        dt, al = _ember_pingpong(ember, Pipe, n)
        t_ember = _best(t_ember, dt)
        alloc += al
        t_asyncio = _best(t_asyncio, _asyncio_pingpong(Pipe, n))
        t_raw = _best(t_raw, _raw_pingpong(Pipe, n))
        io, poll1 = _floor_cost(Pipe, n)  # timed beside the others: the same conditions
        io_us = _best(io_us, io)
        poll1_us = _best(poll1_us, poll1)
    events = 2 * n  # one event = one message delivered to its reader
    ember_eps = events * 1000000 / t_ember
    asyncio_eps = events * 1000000 / t_asyncio
    raw_eps = events * 1000000 / t_raw
    alloc_per_event = alloc / (_RUNS * events)
    poll_us = _poll_cost(Pipe)
    lat_loop_us, lat_irq_us = _pipe_latency(ember, Pipe)

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
        "transport": "pipe" if socket is None else "socket",
        "round_trips": n,
        "timed_runs": _RUNS,
        "poll_us": round(poll_us, 1),
        "io_us_per_event": round(io_us, 2),
        "poll_one_us": round(poll1_us, 2),
        # the most a loop that polls once per event could reach against the raw loop
        "raw_poll_ceiling": round(t_raw / events / (io_us + poll1_us), 2),
        "pipe_latency_us": lat_loop_us,
        "pipe_irq_latency_us": lat_irq_us,
        "micropython_version": ".".join(str(v) for v in sys.implementation.version[:3]),
        "heap_bytes": gc.mem_alloc() + gc.mem_free(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    run()
