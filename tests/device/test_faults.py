# ember: device
# ember: heapsize=128k push=firmware/boot_guard.py
"""Faults: MemoryError in handlers and tasks, the watchdog, boot health, the boot guard."""

import gc
import micropython
import os
import sys
import time

import ember
from ember import core, timers  # noqa: F401 - loaded first; not diag: a test needs it unloaded

_hoard = [None] * 400  # what _fill_heap takes, kept reachable


def _fill_heap():
    # Take every free block of the heap, and keep it: a handler that leaks.
    i = 0
    size = 4096
    while size >= 16 and i < 400:
        try:
            _hoard[i] = bytearray(size)
            i += 1
        except MemoryError:
            size //= 2


def _free_heap():
    for i in range(400):
        _hoard[i] = None
    gc.collect()


def _ticker(n, count):
    # An interval that counts its calls into count[0] and stops the loop at n: it
    # allocates nothing, so it runs on a full heap too.
    def tick(_):
        count[0] += 1
        if count[0] >= n:
            ember.stop()

    return ember.set_interval(tick, 2)


def test_memoryerror_in_handler_timer_and_task_is_reported_and_isolated():
    errors = []
    ember.set_error_handler(lambda e, where: errors.append((type(e), where)))
    p = ember.Pipe(8)

    def greedy_reader(s):
        s.read()
        bytearray(10**9)

    def greedy_timer(_):
        bytearray(10**9)

    async def greedy_task():
        await ember.sleep_ms(3)
        bytearray(10**9)

    count = [0]
    seen = []  # ticks when each error came
    ember.set_read_handler(p, greedy_reader)
    ember.set_timeout(lambda _: p.write(b"x"), 5)
    ember.set_timeout(greedy_timer, 9)
    task = ember.create_task(greedy_task())
    ember.set_timeout(lambda _: seen.append(count[0]), 15)
    h = _ticker(20, count)
    ember.run()
    ember.clear_timeout(h)
    ember.set_read_handler(p, None)
    kinds = [k for k, _ in errors]
    assert kinds == [MemoryError] * 3, errors
    assert {w for _, w in errors} == {greedy_reader, greedy_timer, task}, errors
    assert task.done and task.failed and type(task.result) is MemoryError
    assert count[0] == 20 and seen[0] < 20, (count, seen)  # the loop went on


def test_a_handler_that_fills_the_heap_does_not_stop_the_loop():
    # No hook, diag not loaded: reporting needs no heap (the default report's fallback).
    assert "ember.diag" not in sys.modules
    count = [0]
    at = [0]

    def hog(_):
        at[0] = count[0]
        _fill_heap()
        bytearray(64)  # the heap is full: MemoryError, and the heap stays full

    h = _ticker(30, count)
    ember.set_timeout(hog, 5)
    ember.run()
    assert gc.mem_free() < 1024, gc.mem_free()  # still full as the loop ran on
    _free_heap()
    ember.clear_timeout(h)
    assert count[0] == 30 and at[0] < 30, (count, at)


def test_a_hook_that_fails_on_a_full_heap_falls_back_to_the_default_report():
    log = []
    ember.set_error_handler(lambda e, where: log.append((e, where)))  # allocates: fails
    count = [0]
    at = [0]

    def hog(_):
        at[0] = count[0]
        _fill_heap()
        del log[:]  # nothing spare in the list either
        bytearray(64)

    h = _ticker(30, count)
    ember.set_timeout(hog, 5)
    ember.run()
    _free_heap()
    ember.clear_timeout(h)
    assert count[0] == 30 and at[0] < 30, (count, at)


def test_a_hook_that_raises_does_not_stop_the_loop():
    def bad_hook(e, where):
        raise RuntimeError("hook")

    ember.set_error_handler(bad_hook)
    count = [0]
    ember.set_timeout(lambda _: 1 / 0, 3)
    h = _ticker(10, count)
    ember.run()
    ember.clear_timeout(h)
    assert count[0] == 10


def _busy(ms):
    t = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t) < ms:
        pass


def test_watchdog_reports_a_slow_handler_once_and_the_loop_goes_on():
    late = []
    ember.set_error_handler(lambda e, where: late.append((type(e), where, e.ms, e.limit)))
    ember.watchdog(20)
    p = ember.Pipe(8)

    def slow(s):
        s.read()
        _busy(50)

    def fast(s):
        s.read()

    q = ember.Pipe(8)
    ember.set_read_handler(p, slow)
    ember.set_read_handler(q, fast)
    count = [0]
    seen = []
    ember.set_timeout(lambda _: (p.write(b"x"), q.write(b"y")), 3)
    ember.set_timeout(lambda _: seen.append(count[0]), 60)
    h = _ticker(40, count)
    ember.run()
    ember.clear_timeout(h)
    ember.set_read_handler(p, None)
    ember.set_read_handler(q, None)
    ember.watchdog(0)
    assert len(late) == 1, late
    kind, where, ms, limit = late[0]
    assert kind is ember.Overrun and where is slow and ms >= 50 and limit == 20, late[0]
    assert count[0] == 40 and seen and seen[0] < 40, (count, seen)


def test_watchdog_names_slow_timer_callbacks_and_task_steps():
    late = []
    ember.set_error_handler(lambda e, where: late.append(where))
    ember.watchdog(10)

    def slow_timer(_):
        _busy(25)

    async def slow_task():
        await ember.sleep_ms(1)
        _busy(25)  # one step: from the sleep to the end
        await ember.sleep_ms(1)  # a fast step: not reported

    ember.set_timeout(slow_timer, 1)
    task = ember.create_task(slow_task())
    ember.run()
    assert late == [slow_timer, task] or late == [task, slow_timer], late
    late.clear()
    ember.watchdog(0)  # off: nothing is timed
    ember.set_timeout(slow_timer, 1)
    ember.run()
    assert late == [] and core._wd == 0


def test_watchdog_and_its_reports_allocate_nothing():
    a = ember.Pipe(16)
    b = ember.Pipe(16)
    buf = bytearray(4)
    left = [0]
    late = [0]

    def hook(e, where):  # preallocated: the report allocates nothing either
        late[0] += 1

    def on_a(s):
        s.readinto(buf)
        b.write(buf)

    def on_b(s):
        s.readinto(buf)
        left[0] -= 1
        if left[0] == 100:
            _busy(15)  # one late dispatch, reported under the lock
        if left[0]:
            a.write(buf)
        else:
            ember.stop()

    ember.set_error_handler(hook)
    ember.watchdog(10)
    ember.set_read_handler(a, on_a)
    ember.set_read_handler(b, on_b)
    left[0] = 20
    a.write(b"ping")
    ember.run()  # warm up
    assert late[0] == 0
    left[0] = 500
    a.write(b"ping")
    gc.collect()
    micropython.heap_lock()
    try:
        ember.run()
    finally:
        micropython.heap_unlock()
    assert left[0] == 0 and late[0] == 1, (left, late)


class _FakeWDT:
    def __init__(self):
        self.fed = 0

    def feed(self):
        self.fed += 1
        if self.fed == 3:
            ember.stop()


def test_watchdog_feeds_a_machine_wdt_from_the_loop():
    wdt = _FakeWDT()
    ember.watchdog(5, wdt)
    # The feeding interval keeps the loop alive: it stops at the third feed, or (a loop
    # that does not feed) at the bound, however loaded the machine.
    bound = ember.set_timeout(lambda _: ember.stop(), 5000)
    ember.run()
    ember.clear_timeout(bound)
    assert wdt.fed >= 3, wdt.fed
    ember.watchdog(0)  # stops feeding, too
    assert core._tn == 0
    ember.run()  # nothing left: returns at once


def _tmpdir(tag):
    # A scratch folder on the board's own flash (a board has no /tmp), removed by the test.
    path = "/ember-test-%s-%d" % (tag, time.ticks_us())
    os.mkdir(path)
    return path


def _rmtree(path):
    for name, kind, *_ in os.ilistdir(path):
        if kind == 0x4000:
            _rmtree(path + "/" + name)
        else:
            os.remove(path + "/" + name)
    os.rmdir(path)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _booted_with_guard(name):
    # As at a boot the guard counted: a count file, the loop not up yet (diag._up).
    from ember import diag

    root = _tmpdir(name)
    os.mkdir(root + "/.ember")
    diag._BOOTS = root + "/.ember/boots"
    _write(diag._BOOTS, "2")
    core._sick = True
    diag._up = None  # the loop has not run yet this "boot"
    return root


def test_run_marks_the_boot_healthy_after_5_s_of_running():
    from ember import diag

    root = _booted_with_guard("health")
    try:
        # Up 4.9 s already (not 5 s of waiting in a test): marked in about 100 ms.
        diag._up = time.ticks_add(time.ticks_ms(), -4900)
        n = [0]
        sick = []

        def again(_):
            n[0] += 1
            sick.append(core._sick)
            if core._sick and n[0] < 1000:
                ember.set_timeout(again, 2)

        ember.set_timeout(again, 0)
        ember.run()
        assert not core._sick and not _exists(diag._BOOTS), n
        assert sick[0] and n[0] < 1000, (n, sick)  # not at once: once 5 s had passed
    finally:
        _rmtree(root)


def test_a_loop_of_handlers_alone_is_marked_healthy_too():
    # No timer at all: the poll itself wakes at the 5-s mark.
    from ember import diag

    root = _booted_with_guard("health2")
    real = diag.healthy
    p = ember.Pipe(4)

    def healthy_then_wake():
        real()
        p.write(b"!")  # the only way this loop's one reader ever runs

    try:
        assert core._tn == 0
        diag._up = time.ticks_add(time.ticks_ms(), -4950)
        diag.healthy = healthy_then_wake  # the loop looks it up as it marks
        ember.set_read_handler(p, lambda s: ember.stop())
        t0 = time.ticks_ms()
        ember.run()
        waited = time.ticks_diff(time.ticks_ms(), t0)
        assert not core._sick and not _exists(diag._BOOTS) and waited >= 40, waited
    finally:
        diag.healthy = real
        ember.set_read_handler(p, None)
        _rmtree(root)


def test_healthy_clears_the_count():
    from ember import diag

    root = _tmpdir("healthy")
    try:
        os.mkdir(root + "/.ember")
        diag._BOOTS = root + "/.ember/boots"
        _write(diag._BOOTS, "1")
        ember.healthy()
        assert not _exists(diag._BOOTS) and not core._sick
        ember.healthy()  # no count: nothing to do
    finally:
        _rmtree(root)


def _guard(root):
    import boot_guard

    boot_guard.ROOT = root
    return boot_guard


def test_boot_guard_counts_boots_then_sets_main_aside():
    root = _tmpdir("guard")
    try:
        g = _guard(root)
        _write(root + "/main.py", "raise ValueError('broken')\n")
        assert g.status() == (False, 0)
        for n in (1, 2, 3):
            g.boot()  # a boot whose main.py then crashes
            assert g.status() == (False, n)
            assert not _exists(root + "/.ember/boots.tmp")  # written by rename
        g.boot()  # the fourth: safe mode
        assert g.status() == (True, 0)
        assert not _exists(root + "/main.py")
        with open(root + "/.ember/main.py.safe") as f:
            assert f.read() == "raise ValueError('broken')\n"  # intact
        g.boot()  # safe mode again: nothing to run, nothing counted
        assert g.status() == (True, 0)
        assert g.enter() is True  # in safe mode already
        assert g.leave() is True and g.status() == (False, 0)
        assert _exists(root + "/main.py") and not _exists(root + "/.ember/main.py.safe")
        assert g.leave() is False  # nothing set aside
    finally:
        _rmtree(root)


def test_boot_guard_healthy_boots_never_add_up():
    from ember import diag

    root = _tmpdir("guardok")
    try:
        g = _guard(root)
        _write(root + "/main.py", "pass\n")
        diag._BOOTS = root + "/.ember/boots"
        for _ in range(6):
            g.boot()
            ember.healthy()  # the app got up: what ember.run() does after 5 s
        assert g.status() == (False, 0) and _exists(root + "/main.py")
    finally:
        _rmtree(root)


def test_boot_guard_enter_leave_and_a_main_pushed_in_safe_mode():
    root = _tmpdir("guardhost")
    try:
        g = _guard(root)
        assert g.enter() is False  # no main.py: nothing to set aside
        _write(root + "/main.py", "old\n")
        g.boot()
        assert g.enter() is True and g.status() == (True, 0)
        _write(root + "/main.py", "new\n")  # pushed while in safe mode: new code runs
        assert g.status() == (False, 0)
        g.boot()
        assert g.status() == (False, 1)
        assert g.leave() is False  # the new main.py stays; the old copy is kept aside
        with open(root + "/main.py") as f:
            assert f.read() == "new\n"
        assert _exists(root + "/.ember/main.py.safe") and g.status() == (False, 0)
        assert g.boot_py() is None
        _write(root + "/boot.py", "# mine\nprint('hi')\n")
        assert g.boot_py() == "# mine\n"
    finally:
        _rmtree(root)


def test_boot_guard_as_boot_py_leaves_no_globals_behind():
    root = _tmpdir("guardmain")
    try:
        import boot_guard

        with open(boot_guard.__file__) as f:
            source = f.read()
        source = source.replace('ROOT = ""', "ROOT = %r" % root)
        _write(root + "/main.py", "pass\n")
        scope = {"__name__": "__main__"}
        exec(source, scope)  # as the firmware runs boot.py
        assert sorted(k for k in scope if not k.startswith("__")) == [], list(scope)
        with open(root + "/.ember/boots") as f:
            assert f.read() == "1"
    finally:
        _rmtree(root)
