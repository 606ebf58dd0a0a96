"""Smallest-heap workload: ember handlers bounce 16 bytes 200 times over loopback TCP."""

# One of three programs host_tools/bench/heap.py runs, compiled to .mpy as a user's program
# is, on the bare interpreter at shrinking `-X heapsize=N` until it no longer prints "ok".
# Each is only what its workload needs: the program's own size counts in the result.
import socket

import ember

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
addr = socket.getaddrinfo("127.0.0.1", 41000 + __import__("time").ticks_us() % 20000)[0][-1]
ls.bind(addr)
ls.listen(1)
ping = socket.socket()
ping.connect(addr)
pong = ls.accept()[0]
ls.close()
ping.setblocking(False)
pong.setblocking(False)
buf = bytearray(16)
left = [200]


def on_pong(s):  # bounce what arrived
    k = s.readinto(buf)
    if k:
        s.write(buf, 0, k)


def on_ping(s):  # a reply: send again, or stop after the last
    if s.readinto(buf):
        left[0] -= 1
        if left[0]:
            s.write(b"ember ping-pong!")
        else:
            ember.stop()


ember.set_read_handler(pong, on_pong)
ember.set_read_handler(ping, on_ping)
ping.write(b"ember ping-pong!")
ember.run()
if not left[0]:
    print("ok")
