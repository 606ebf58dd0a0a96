"""First use of asyncio: a sleeping task, an Event, a stream; prints the heap it keeps."""

# Runs ON the interpreter (host_tools/bench/firmware.py): frozen on the stock build (its
# standard variant freezes asyncio), and from /lib as .mpy on ember's firmware built
# without ember. The host gives it one byte on stdin for the stream to read. As in
# ember_first_use.py only what comes after the first gc.mem_alloc() counts.
import gc
import sys

got = []


async def sleeper(ev):  # a task that sleeps, then sets the Event
    await asyncio.sleep_ms(1)
    ev.set()


async def main():
    ev = asyncio.Event()
    asyncio.create_task(sleeper(ev))
    await ev.wait()
    got.append(await stream.read(1))


gc.collect()
before = gc.mem_alloc()

import asyncio  # noqa: E402

stream = asyncio.StreamReader(sys.stdin)
asyncio.run(main())

gc.collect()
used = gc.mem_alloc() - before
if got == ["x"]:
    print(used)
