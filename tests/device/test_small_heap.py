# ember: device
# ember: heapsize=12k package=mpy push=firmware/bench/heap/ember_pipe.py
"""The bench's Pipe ping-pong (firmware/bench/heap/ember_pipe.py) in a 12 KB heap, ember as
.mpy: `ember bench loop` finds it needs about 11.5 KB on this interpreter."""

import gc


def test_pipe_pingpong_runs_in_a_12_kb_heap():
    import ember_pipe  # the program runs as it is imported, as it would as main.py

    assert ember_pipe.left[0] == 0
    gc.collect()
    print("ember Pipe ping-pong: heap used", gc.mem_alloc(), "free", gc.mem_free())
