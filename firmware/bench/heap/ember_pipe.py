"""Smallest-heap workload: ember handlers bounce 16 bytes 200 times over two ember Pipes."""

# See ember_socket.py: the same program on Pipes, as on a board without sockets.
import ember

to_pong = ember.Pipe(32)
to_ping = ember.Pipe(32)
buf = bytearray(16)
left = [200]


def on_pong(s):  # bounce what arrived
    k = s.readinto(buf)
    if k:
        to_ping.write(buf, 0, k)


def on_ping(s):  # a reply: send again, or stop after the last
    if s.readinto(buf):
        left[0] -= 1
        if left[0]:
            to_pong.write(b"ember ping-pong!")
        else:
            ember.stop()


ember.set_read_handler(to_pong, on_pong)
ember.set_read_handler(to_ping, on_ping)
to_pong.write(b"ember ping-pong!")
ember.run()
if not left[0]:
    print("ok")
