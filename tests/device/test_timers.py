# ember: device
"""Timers: order, cancellation, intervals, zero-delay fairness and ticks wraparound."""

import time

import ember
from ember import core, timers


def test_timeouts_fire_in_due_order():
    got = []
    ember.set_timeout(got.append, 30, "c")
    ember.set_timeout(got.append, 10, "a")
    ember.set_timeout(got.append, 20, "b")
    ember.set_timeout(got.append, 10, "a2")  # same due tick: arming order
    ember.run()
    assert got == ["a", "a2", "b", "c"], got


def test_clear_timeout_cancels_and_ignores_stale_handles():
    got = []
    h1 = ember.set_timeout(got.append, 10, 1)
    h2 = ember.set_timeout(got.append, 20, 2)
    h3 = ember.set_timeout(got.append, 5, 3)
    ember.clear_timeout(h2)
    ember.clear_timeout(h2)  # twice: ignored
    ember.clear_timeout(None)
    ember.run()
    assert got == [3, 1], got
    # h1 and h3 fired; their slots are reused now, but the old handles stay dead
    h4 = ember.set_timeout(got.append, 5, 4)
    ember.clear_timeout(h1)
    ember.clear_timeout(h3)
    ember.run()
    assert got == [3, 1, 4], got
    assert h4 not in (h1, h2, h3)


def test_callback_can_cancel_a_later_timer():
    got = []
    later = ember.set_timeout(got.append, 40, "later")

    def first(_):
        got.append("first")
        ember.clear_timeout(later)

    ember.set_timeout(first, 10)
    ember.run()
    assert got == ["first"], got


def test_interval_repeats_until_cleared_from_inside():
    got = []
    t0 = time.ticks_ms()

    def tick(tag):
        got.append(time.ticks_diff(time.ticks_ms(), t0))
        if len(got) == 5:
            ember.clear_timeout(h)

    h = ember.set_interval(tick, 20, "x")
    ember.run()
    assert len(got) == 5, got
    # never early, and no drift: the beats stay on the 20 ms grid (a loaded machine
    # may delay one, not shift the rest)
    for i, t in enumerate(got):
        assert t >= 20 * (i + 1), got
    assert got[-1] < 100 + 50, got


def test_interval_and_timeouts_interleave():
    got = []
    h = ember.set_interval(got.append, 30, "i")
    ember.set_timeout(got.append, 75, "t")
    ember.set_timeout(lambda _: ember.clear_timeout(h), 105)
    ember.run()
    assert got == ["i", "i", "t", "i"], got


def test_zero_delay_chain_does_not_starve_others():
    got = []
    n = [0]

    def again(_):
        n[0] += 1
        if n[0] < 200:
            ember.set_timeout(again, 0)

    ember.set_timeout(again, 0)
    ember.set_timeout(got.append, 5, "other")
    ember.run()
    assert n[0] == 200 and got == ["other"], (n, got)


def test_many_timers_grow_the_pool():
    got = []
    hs = [ember.set_timeout(got.append, 1 + i % 7, i) for i in range(50)]
    for h in hs[::2]:
        ember.clear_timeout(h)
    ember.run()
    assert sorted(got) == list(range(1, 50, 2)), got
    assert core._tn == 0


def test_wraparound_near_the_ticks_period():
    # Put the loop's clock 40 ms before the ticks wrap, running at real speed.
    start = time.ticks_add(0, -40)
    off = time.ticks_diff(start, time.ticks_ms())
    timers.ticks = lambda: time.ticks_add(time.ticks_ms(), off)
    try:
        got = []
        t0 = timers.ticks()
        for ms in (90, 10, 60, 30):
            ember.set_timeout(got.append, ms, ms)
        h = ember.set_interval(got.append, 25, "iv")
        ember.set_timeout(lambda _: ember.clear_timeout(h), 80)
        ember.run()
        elapsed = time.ticks_diff(timers.ticks(), t0)
        # wrapped: the clock value is now numerically small, far below the start
        assert timers.ticks() < t0, (timers.ticks(), t0)
        assert got == [10, "iv", 30, "iv", 60, "iv", 90], got
        assert 90 <= elapsed < 1000, elapsed
    finally:
        timers.ticks = time.ticks_ms
