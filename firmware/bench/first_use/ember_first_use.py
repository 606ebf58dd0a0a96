"""First use of ember: a timer, a Pipe and a task; prints the heap it keeps, in bytes."""

# Runs ON the interpreter (host_tools/bench/firmware.py): frozen on ember's firmware, and
# from /lib as .mpy on the same firmware built without ember. Only what comes after the
# first gc.mem_alloc() counts: the import, the modules it loads on first use, and the
# objects left alive, as a program that goes on using them keeps them. Compare
# asyncio_first_use.py: the same three uses, written as asyncio users write them.
import gc

got = []


async def task():  # a task that sleeps on a timer, then waits for the Pipe
    await ember.sleep_ms(1)
    await ember.readable(pipe)
    got.append(pipe.read(1))


gc.collect()
before = gc.mem_alloc()

import ember  # noqa: E402

pipe = ember.Pipe(16)
ember.set_timeout(pipe.write, 2, b"x")  # a timer: fills the Pipe after the task slept
ember.run_until(task())

gc.collect()
used = gc.mem_alloc() - before
if got == [b"x"]:
    print(used)
