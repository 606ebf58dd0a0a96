# ember: device
# ember: heapsize=32k package=mpy
"""A realistic app in a 32 KB heap: pipes fed by timers, a parser task, an IRQ signal."""

import gc
import micropython

# As an app does: take what it uses from ember up front (this loads those modules).
from ember import Pipe, Signal, clear_timeout, readable, run, run_until, set_interval
from ember import set_read_handler, set_timeout, sleep_ms


def test_app_runs_in_32k_with_room_to_spare():
    uart = Pipe(64)  # stands in for a UART: lines arrive in chunks
    sensor = Pipe(32)  # a sensor FIFO: fixed 4-byte samples
    button = Signal()  # set from an "IRQ"
    log = Pipe(128)  # the app's own output channel
    state = {"lines": 0, "samples": 0, "presses": 0, "ticks": 0, "sum": 0}
    script = [b"temp 21\n", b"hum", b"id 40\nte", b"mp 22\n", b"quit\n"]
    buf = bytearray(4)

    def feed_uart(_):
        if script:
            uart.write(script.pop(0))
        else:
            clear_timeout(h_uart)

    def feed_sensor(n):
        sensor.write(b"\x01\x02\x03\x04")

    def on_sample(s):
        while s.readinto(buf) == 4:
            state["samples"] += 1
            state["sum"] += buf[0] + buf[3]

    def irq(_):
        button.set()

    def on_button(s):
        state["presses"] += 1
        log.write(b"press\n")

    def on_log(s):
        s.read()  # a real app would print or send it

    def status(_):
        state["ticks"] += 1
        gc.collect()
        state["free"] = gc.mem_free()

    async def parser():
        line = b""
        while True:
            await readable(uart)
            line += uart.read()
            while b"\n" in line:
                cmd, _, line = line.partition(b"\n")
                state["lines"] += 1
                log.write(cmd + b"\n")
                if cmd == b"quit":
                    return state["lines"]

    h_uart = set_interval(feed_uart, 7)
    h_sensor = set_interval(feed_sensor, 3)
    h_status = set_interval(status, 20)
    set_read_handler(sensor, on_sample)
    set_read_handler(button, on_button)
    set_read_handler(log, on_log)
    for ms in (10, 40, 70):
        set_timeout(lambda _: micropython.schedule(irq, None), ms)

    assert run_until(parser()) == 4
    run_until(_sleep(100))  # let the status timer and the last IRQ run
    for h in (h_sensor, h_status):
        clear_timeout(h)
    for s in (sensor, button, log):
        set_read_handler(s, None)
    run()  # idle: returns

    assert state["presses"] == 3 and state["samples"] >= 10, state
    assert state["sum"] == 5 * state["samples"], state
    gc.collect()
    free = gc.mem_free()
    # room to spare: with the whole runtime loaded (64-bit build: 32-byte GC blocks),
    # the app alive and its test module compiled from source, a quarter is still free
    assert min(free, state["free"]) > 32 * 1024 // 4, (free, state)
    print("ember app: free after run", free, "min free while running", state["free"])


async def _sleep(ms):
    await sleep_ms(ms)
