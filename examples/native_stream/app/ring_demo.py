"""ember's native-stream example: a C stream fed by a timer interrupt, read by ember's loop.

Needs irqring (irqring.c here, built as a native .mpy for the board's architecture and put
in /lib, or linked into the firmware). The timer's callback stands for an interrupt: it
feeds a sample into the C ring, which allocates nothing. ember's loop reads the ring with a
read handler, as it reads any stream select.poll can wait on. The main flow prints before
anything arrives and never blocks: the handler runs when there is something to read.
"""

import ember
import irqring
import machine

SAMPLES = 5
ring = irqring.Ring(64)
sample = bytearray(b"sample 0\n")
fed = 0  # samples fed so far (by the interrupt)
received = 0
buf = bytearray(64)


def on_tick(_timer):  # interrupt context: touches only preallocated objects
    global fed
    fed += 1
    sample[7] = 48 + fed % 10
    ring.feed(sample)


def on_ring(stream):  # the loop calls this when the ring has bytes
    global received
    n = stream.readinto(buf)
    if not n:
        return
    for line in bytes(buf[:n]).decode().split("\n"):
        if line:
            received += 1
            print("read:", line)
    if received >= SAMPLES:
        timer.deinit()
        ember.set_read_handler(ring, None)  # nothing left to wait for: run() returns


ember.set_read_handler(ring, on_ring)
timer = machine.Timer(-1, mode=machine.Timer.PERIODIC, period=20, callback=on_tick)
print("main flow: reader set, timer started; nothing blocks")
ember.run()
print("done: %d samples read, %d bytes dropped" % (received, ring.dropped()))
