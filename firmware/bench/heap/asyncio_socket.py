"""Smallest-heap workload: asyncio streams bounce 16 bytes 200 times over loopback TCP."""

# See ember_socket.py: the same exchange, written as asyncio users write it. asyncio is
# the interpreter's own (frozen into the unix build, so its code takes no heap; from .mpy
# it would add its 6.6 KB).
import asyncio

port = 41000 + __import__("time").ticks_us() % 20000
done = [0]


async def pong(r, w):  # an echo server
    while True:
        data = await r.read(16)
        if not data:
            break
        w.write(data)
        await w.drain()
    w.close()
    await w.wait_closed()


async def main():
    srv = await asyncio.start_server(pong, "127.0.0.1", port)
    r, w = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(200):
        w.write(b"ember ping-pong!")
        await w.drain()
        await r.readexactly(16)
        done[0] += 1
    w.close()
    await w.wait_closed()
    srv.close()
    await srv.wait_closed()


asyncio.run(main())
if done[0] == 200:
    print("ok")
