# ember: device
# ember: package=mpy
"""Heap footprint, measured on the package as deployed (.mpy): lazy import, per-item costs."""

import gc
import sys


def _mem():
    gc.collect()
    return gc.mem_alloc()


def test_import_is_lazy_and_small():
    m0 = _mem()
    import ember

    used = _mem() - m0
    assert ember.__file__.endswith(".mpy"), ember.__file__
    loaded = [name for name in sys.modules if name.startswith("ember.")]
    assert loaded == [], loaded  # submodules load on first use
    assert used <= 2500, used
    ember.set_timeout  # first use loads the loop
    assert "ember.timers" in sys.modules and "ember.task" not in sys.modules


def test_reader_and_timer_costs():
    import select

    import ember

    k = 32
    streams = [ember.Pipe(1) for _ in range(2 * k)]
    ember.clear_timeout(ember.set_timeout(None, 0))  # load the timers, grow the pool once

    def fn(s):
        pass

    m0 = _mem()
    for s in streams[:k]:
        ember.set_read_handler(s, fn)
    per_reader = (_mem() - m0) / k
    p = select.poll()  # what poll.register alone costs, for comparison
    m0 = _mem()
    for s in streams[k:]:
        p.register(s, 1)
    per_register = (_mem() - m0) / k
    assert per_reader - per_register <= 64, (per_reader, per_register)

    m0 = _mem()
    handles = [None] * k
    m1 = _mem()
    for i in range(k):
        handles[i] = ember.set_timeout(fn, 60000 + i)
    per_timer = (_mem() - m1) / k
    assert per_timer <= 48, per_timer
    for h in handles:
        ember.clear_timeout(h)
