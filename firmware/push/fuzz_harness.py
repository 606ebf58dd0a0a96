# ember push receiver fuzz harness: runs ON the MicroPython unix port, never on a board.
#
#   micropython fuzz_harness.py CHUNK LENGTH BLOCKS [PAUSES] < stream
#
# Mounts a RAM block device formatted as littlefs2 at "/" (after unmounting the host
# filesystem the unix port has there, so the receiver can never touch it), writes a known
# /keep.bin, then runs receiver._Session(CHUNK).run() on the LENGTH bytes of host stream
# read from stdin through the receiver's own sys.stdin.buffer.readinto.
#
# Time is virtual, so a run is fast and the same input always gives the same result:
#   - PAUSES, "offset:ms,offset:ms,...", are quiet spells of the host before the byte at
#     that offset of the stream (a wait() at that point sees silence for ms);
#   - after the LENGTH bytes the host is silent for ever (every wait() times out at once);
#   - a blocking read that reaches the end of the stream mid-frame is a cut link (the
#     board would wait for ever; a power cut is what ends it): the session stops there.
# receiver.py itself is not changed: the harness subclasses _Session, overriding wait()
# and wrapping its input stream; everything else (readline, frame, receive, listing, the
# manifest) is the board's code.
#
# After the session it prints one line "#EMBER-FUZZ <done|cut|crash>", the traceback if
# it crashed, "#FILE <sha256> <size> <path>" for every file on the RAM filesystem, then
# "#MANIFEST <line>" for each line of /.ember/manifest, and "#END".
import hashlib
import os
import sys
from binascii import hexlify

import receiver  # imported before "/" is unmounted: it comes from the host filesystem
import vfs

KEEP = "/keep.bin"
KEEP_DATA = bytes(range(256)) * 3 + b"ember keep"
BLOCK = 512


class RAMBlockDevice:
    # The extended block protocol (offset writes, erase) littlefs needs, over a bytearray.
    def __init__(self, count):
        self.count = count
        self.data = bytearray(BLOCK * count)

    def readblocks(self, block, buf, offset=0):
        start = block * BLOCK + offset
        buf[:] = self.data[start : start + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        start = block * BLOCK + (offset or 0)
        self.data[start : start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.count
        if op == 5:  # block size
            return BLOCK
        if op == 6:  # erase
            start = arg * BLOCK
            self.data[start : start + BLOCK] = b"\xff" * BLOCK
        return 0


class Cut(Exception):
    pass


class StreamInput:
    # The receiver's view of stdin: blocking full reads, as on a board's UART; the end
    # of the stream inside a read is a cut link.
    def __init__(self, raw, length):
        self.raw = raw
        self.length = length
        self.pos = 0

    def readinto(self, buf):
        want = len(buf)
        if self.pos + want > self.length:
            raise Cut()
        got = 0
        mv = memoryview(buf)
        while got < want:
            n = self.raw.readinto(mv[got:want])
            if not n:
                raise Cut()  # the host closed the pipe early: same as a cut
            got += n
        self.pos += want
        return want


class FuzzSession(receiver._Session):
    def __init__(self, chunk, length, pauses):
        super().__init__(chunk)
        self.inp = StreamInput(self.inp, length)
        self.length = length
        self.pauses = pauses  # [[offset, ms], ...] in stream order

    def wait(self, ms):
        inp = self.inp
        while self.pauses and self.pauses[0][0] < inp.pos:
            self.pauses.pop(0)  # passed inside a blocking read: a board does not notice
        if self.pauses and self.pauses[0][0] == inp.pos:
            pause = self.pauses[0]
            if pause[1] > ms:
                pause[1] -= ms
                return False
            self.pauses.pop(0)
        if inp.pos >= self.length:
            return False  # the host is silent from now on
        # The real stdin: the bytes are on their way (the test writes them all).
        return bool(self.poll.poll(-1))


def _walk(path, out):
    for entry in os.ilistdir(path):
        full = ("" if path == "/" else path) + "/" + entry[0]
        if entry[1] == 0x4000:
            _walk(full, out)
        else:
            out.append(full)
    return out


def _sha(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(256)
            if not block:
                break
            digest.update(block)
    return hexlify(digest.digest()).decode()


def _mount(blocks):
    vfs.umount("/")
    bdev = RAMBlockDevice(blocks)
    vfs.VfsLfs2.mkfs(bdev)
    vfs.mount(vfs.VfsLfs2(bdev), "/")
    os.chdir("/")
    if os.listdir("/"):
        raise SystemExit("not a fresh RAM filesystem at /: refusing to run")


def _parse_pauses(text):
    pauses = []
    for item in text.split(","):
        if item:
            offset, ms = item.split(":")
            pauses.append([int(offset), int(ms)])
    pauses.sort(key=lambda p: p[0])
    return pauses


def main():
    chunk = int(sys.argv[1])
    length = int(sys.argv[2])
    blocks = int(sys.argv[3])
    pauses = _parse_pauses(sys.argv[4] if len(sys.argv) > 4 else "")
    _mount(blocks)
    with open(KEEP, "wb") as f:
        f.write(KEEP_DATA)
    status = "done"
    error = None
    try:
        FuzzSession(chunk, length, pauses).run()
    except Cut:
        status = "cut"
    except Exception as e:  # the finding: reported, then the filesystem is still listed
        status = "crash"
        error = e
    out = sys.stdout
    out.write("\n#EMBER-FUZZ %s\n" % status)
    if error is not None:
        sys.print_exception(error, out)
    for path in sorted(_walk("/", [])):
        out.write("#FILE %s %d %s\n" % (_sha(path), os.stat(path)[6], path))
    try:
        with open(receiver._MANIFEST) as f:
            for line in f:
                out.write("#MANIFEST " + line.rstrip("\n") + "\n")
    except OSError:
        pass
    out.write("#END\n")


main()
