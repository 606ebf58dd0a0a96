"""Prints the heap free once the interpreter has started, before any program of its own."""

# Runs ON the interpreter, as the whole of its `-c` program (host_tools/bench/firmware.py).
# The same point on every build: what ember's frozen runtime costs at boot (nothing, until
# it is imported) shows beside a stock build's figure.
import gc

gc.collect()
print(gc.mem_free())
