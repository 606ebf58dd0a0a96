# ember: device
# ember: heapsize=20k package=mpy
"""The runtime's whole public surface, used together with ember as .mpy: every submodule
loaded, a handler, timers, tasks awaiting and cancelled, the diagnostics and a Signal, all
alive at once. Issue 13 asks for a 16 KB heap; today it takes 18.5 KB with the test
harness's own share (its runner and this module), so it runs in 20 KB: 16 KB and 18 KB run
out of heap while ember's modules load."""

import gc

import ember

_NAMES = ember._WHERE.replace("|", " ").split()


def test_every_public_name_is_used_at_once():
    assert ember.__file__.endswith(".mpy"), ember.__file__
    for name in _NAMES:
        getattr(ember, name)  # every submodule loaded
    errors = []
    ember.set_error_handler(lambda e, where: errors.append(type(e).__name__))
    pipe = ember.Pipe(32)
    sig = ember.Signal()
    log = []

    def on_read(s):
        log.append(s.read())

    def on_write(s):
        ember.set_write_handler(s, None)
        s.write(b"w")

    ember.set_read_handler(pipe, on_read)
    ember.set_write_handler(pipe, on_write)
    tick = ember.set_interval(lambda _: log.append("tick"), 2)

    async def waits_for_signal():
        await ember.readable(sig)
        return "signal"

    async def sleeps_forever():
        await ember.sleep_ms(60_000)

    async def main():
        t = ember.create_task(waits_for_signal())
        forever = ember.create_task(sleeps_forever())
        ember.set_timeout(lambda _: sig.set(), 5)
        got = await t
        await ember.writable(pipe)
        forever.cancel()
        try:
            await forever
        except ember.CancelledError:
            got += " cancelled"
        ember.clear_interval(tick)
        ember.clear_timeout(ember.set_timeout(print, 1000))
        ember.watchdog(1000)
        ember.watchdog(0)
        ember.report(ember.Overrun("reported"), "test")
        ember.healthy()
        ember.set_read_handler(pipe, None)
        return got

    assert ember.run_until(main()) == "signal cancelled"
    st = ember.stats()
    ember.wake  # (a loop-internal helper, but public: looked up like the rest)
    assert b"w" in log and "tick" in log, log
    assert errors == ["Overrun"], errors
    assert st["timers"] == 0 and st["streams"] == 0, st
    gc.collect()
    print("whole API at once: heap used", gc.mem_alloc(), "free", gc.mem_free())
