# ember: device
"""Signal: set() from a scheduled callback (as an IRQ would) runs the reader in the loop."""

import gc
import micropython

import ember


def test_signal_from_scheduled_callback_runs_reader():
    sig = ember.Signal()
    got = []

    def irq(n):  # what a hard IRQ would schedule; it only sets the flag
        got.append(("irq", n))
        sig.set()

    def reader(s):
        got.append("reader")
        if got.count("reader") == 3:
            ember.set_read_handler(s, None)

    ember.set_read_handler(sig, reader)
    for i in range(3):
        ember.set_timeout(lambda n: micropython.schedule(irq, n), 5 + 25 * i, i)
    ember.run()
    assert got == [("irq", 0), "reader", ("irq", 1), "reader", ("irq", 2), "reader"], got


def test_bursts_of_set_coalesce_into_one_run():
    sig = ember.Signal()
    got = []

    def burst(_):
        for i in range(3):
            micropython.schedule(lambda _: sig.set(), None)  # the queue holds 4

    def reader(s):
        got.append(s.is_set())  # the loop cleared the flag before calling
        ember.set_timeout(lambda _: ember.set_read_handler(sig, None), 10)

    ember.set_read_handler(sig, reader)
    ember.set_timeout(burst, 5)
    ember.run()
    assert got == [False], got


def test_task_awaits_a_signal():
    sig = ember.Signal()

    async def waiter():
        n = 0
        for _ in range(3):
            await ember.readable(sig)
            n += 1
        return n

    for i in range(3):
        ember.set_timeout(lambda _: micropython.schedule(lambda _: sig.set(), None), 5 + 25 * i)
    assert ember.run_until(waiter()) == 3


def test_set_allocates_nothing():
    sig = ember.Signal()
    sig.set()  # warm up
    sig.clear()
    gc.collect()
    micropython.heap_lock()
    try:
        for _ in range(100):
            sig.set()
            sig.clear()
    finally:
        micropython.heap_unlock()
    assert not sig.is_set()


def test_pipe_written_from_scheduled_callback_reaches_reader():
    p = ember.Pipe(16)
    got = []

    def reader(s):
        got.append(s.read())
        if len(got) == 2:
            ember.set_read_handler(s, None)

    ember.set_read_handler(p, reader)
    ember.set_timeout(lambda _: micropython.schedule(p.write, b"one"), 5)
    ember.set_timeout(lambda _: micropython.schedule(p.write, b"two"), 30)
    ember.run()
    assert got == [b"one", b"two"], got


def test_other_pollers_see_only_the_standard_events():
    # The loop asks its own streams for bit 128 and gets it back (one test per event
    # tells them from sockets); a user's poller, or asyncio's, never asks, never sees it.
    import select

    from ember import core

    p = ember.Pipe(8)
    sig = ember.Signal()
    ember.set_read_handler(p, lambda s: None)
    ember.set_read_handler(sig, lambda s: None)
    p.write(b"x")
    sig.set()
    other = select.poll()
    other.register(p, select.POLLIN | select.POLLOUT)
    other.register(sig, select.POLLIN)
    try:
        seen = sorted((type(s).__name__, ev) for s, ev in other.ipoll(0))
        assert seen == [("Pipe", select.POLLIN | select.POLLOUT), ("Signal", select.POLLIN)], seen
        mine = sorted((type(s).__name__, ev) for s, ev in core._poller.ipoll(0))
        assert mine == [("Pipe", 129), ("Signal", 129)], mine
    finally:
        other.unregister(p)
        other.unregister(sig)
        ember.set_read_handler(p, None)
        ember.set_read_handler(sig, None)
