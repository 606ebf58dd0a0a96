"""ember's first use, step by step: the heap each module and object takes, on one line."""

# Runs ON the interpreter, as ember_first_use.py does (host_tools/bench/firmware.py), and
# takes the same three uses one step at a time: what each step keeps after gc.collect().
# As .mpy a step includes the names (qstrs) its module interns; they go into pools
# allocated whole, so a step's figure moves by a pool's size when a pool fills within it.
import gc

steps = []
mark = 0


def step(name):
    global mark
    gc.collect()
    now = gc.mem_alloc()
    if name:
        steps.append((name, now - mark))
    mark = now


got = []


async def task():
    await ember.sleep_ms(1)
    await ember.readable(pipe)
    got.append(pipe.read(1))


step(None)
import ember  # noqa: E402

step("import")
ember.run  # the loop: core
step("core")
pipe = ember.Pipe(16)
step("stream + a Pipe")
ember.set_timeout(pipe.write, 2, b"x")
step("timers + a timer")
ember.create_task
step("task")
coro = task()
step("a coroutine")
t = ember.create_task(coro)
step("a Task")
ember.run_until(t)
step("run_until")
if got == [b"x"]:
    print(repr(steps))  # a list of (step, bytes): no json module on some boards
