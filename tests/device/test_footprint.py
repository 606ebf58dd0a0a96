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
    ember.set_read_handler  # first use loads the loop, not the timers
    assert "ember.core" in sys.modules and "ember.timers" not in sys.modules
    # No boot guard counting this boot (no /.ember/boots): no health mark to make, and
    # the loop never reads the clock for one.
    assert not ember.core._sick
    ember.set_timeout
    assert "ember.timers" in sys.modules and "ember.task" not in sys.modules


def test_every_public_name_comes_from_the_module_the_table_names():
    import ember

    groups = ember._WHERE.split("|")
    assert len(groups) == len(ember._MODS), (groups, ember._MODS)
    table = [(name, mod) for mod, group in zip(ember._MODS, groups) for name in group.split()]
    assert len(table) == 24, table  # the 24 public names (CancelledError: issue 13)
    for name, mod in table:
        value = getattr(ember, name)
        assert getattr(getattr(ember, mod), name) is value, (name, mod)
    for name in ("run_", "un", "Pip", "|", "nothing"):  # parts of names are not names
        try:
            getattr(ember, name)
        except AttributeError:
            continue
        raise AssertionError(name)


def test_a_handler_loop_never_loads_the_timers():
    import ember

    p = ember.Pipe(4)
    got = []

    def on_read(s):
        got.append(s.read())
        ember.set_read_handler(s, None)

    ember.set_read_handler(p, on_read)
    p.write(b"hi")
    ember.run()
    assert got == [b"hi"] and "ember.timers" not in sys.modules, (got, sorted(sys.modules))


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
