"""Several streams read at once: pipes fed at different rates, handlers print as data comes."""

# In the spirit of QuickJS's os.setReadHandler demo: three producers (timers standing in
# for a UART, a sensor and a radio) write into pipes at their own rates; a read handler
# per pipe prints what arrives, a task does sequential work beside them, and the main
# flow has finished long before any data shows up: nothing blocks.
# Run: micropython examples/async_streams.py  (ember importable: pushed, or this checkout)
import sys
import time

sys.path.append((__file__.rpartition("/")[0] or ".") + "/../firmware")  # checkout's firmware/

import ember  # noqa: E402

SOURCES = (("uart", 150, 6), ("sensor", 320, 4), ("radio", 500, 3))  # name, period ms, count
t0 = time.ticks_ms()
names = {}  # pipe -> source name


def stamp():
    return "%5d ms" % time.ticks_diff(time.ticks_ms(), t0)


def produce(src):
    # a timer: write the next message; after the last one, stop and close the pipe
    name, pipe, count, sent, handle = src
    sent += 1
    src[3] = sent
    pipe.write(("%s message %d/%d\n" % (name, sent, count)).encode())
    if sent == count:
        ember.clear_timeout(handle)
        pipe.close()


def on_data(pipe):
    # a read handler: runs whenever the pipe has data, or has ended
    data = pipe.read()
    if data:
        print(stamp(), "read", data.decode().strip())
    else:
        print(stamp(), "end of", names[pipe])
        ember.set_read_handler(pipe, None)


async def ticker():
    # sequential code beside the handlers: while it sleeps, everything else runs
    for i in range(4):
        await ember.sleep_ms(400)
        print(stamp(), "task: tick", i + 1)


for name, period, count in SOURCES:
    pipe = ember.Pipe(64)
    names[pipe] = name
    src = [name, pipe, count, 0, None]
    src[4] = ember.set_interval(produce, period, src)
    ember.set_read_handler(pipe, on_data)
ember.create_task(ticker())

print(stamp(), "main: 3 streams and a task started; the main flow goes on")
print(stamp(), "main: nothing read yet, and nothing waited for it")
ember.run()  # returns once every stream has ended and every timer and task is done
print("done")
