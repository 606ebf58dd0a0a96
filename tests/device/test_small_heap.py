# ember: device
# ember: heapsize=12k package=mpy
"""The handler ping-pong on Pipes in a 12 KB heap, ember from .mpy (alone it needs 11.3 KB)."""

import gc

import ember


def test_pingpong_in_small_heap():
    a = ember.Pipe(32)
    b = ember.Pipe(32)
    buf = bytearray(16)
    left = [1000]

    def on_a(s):
        s.readinto(buf)
        b.write(buf)

    def on_b(s):
        s.readinto(buf)
        left[0] -= 1
        if left[0]:
            a.write(buf)
        else:
            ember.stop()

    ember.set_read_handler(a, on_a)
    ember.set_read_handler(b, on_b)
    a.write(b"0123456789abcdef")
    ember.run()
    assert left[0] == 0
    gc.collect()
    print("ember ping-pong: heap used", gc.mem_alloc(), "free", gc.mem_free())
