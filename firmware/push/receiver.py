# ember push receiver: runs ON the board, sent through the raw REPL by `ember push`.
#
# Written by hand: mpremote writes files as repr() text, 256 bytes per exec. This reads a
# binary stream in framed chunks with CRC-32 and acknowledgements, writes each file to a
# temporary name, checks its SHA-256 and renames it into place, so a file on the board is
# always the old or the new version. It keeps a manifest of hashes in /.ember/manifest so
# the host learns what the board holds in one round trip.
#
# Host -> board, text lines:  M <root>            list files under root with their hashes
#                             F <size> <sha256> <path>   a file follows, as frames
#                             Z <size> <sha256> <zsize> <path>   the same, raw deflate (window
#                             2**10) of zsize bytes in the frames; only if R said "z"
#                             D <path>            delete a file
#                             Q                   end of session (also accepted between frames)
# Frames: 0xEB 0x90, seq u16 LE, len u16 LE, payload, CRC-32 u32 LE of seq+len+payload.
# Board -> host, text lines:  R <version> <chunk> [z]  ready (z: can inflate);  H <sha> <size> <path>;
#                             . [<block size> <blocks free>]  (end of the listing)
#                             A (send frames)  K<seq> (frames up to seq kept)  N<seq> (send
#                             again from seq)  X (that line was damaged: send it again)
#                             OK <path>  BAD <path>  E <errno> <text>
# Every text line, both ways, ends in "*" and 4 hex digits: the Fletcher-16 check of its
# bytes (position-dependent: swapped bytes fail it too), and no line may hold a control
# byte, so a noisy link cannot turn one command or path into another.
import gc
import hashlib
import io
import os
import select
import sys
from binascii import hexlify

import micropython
from micropython import const

try:
    from binascii import crc32
except ImportError:  # a port built without it: the final SHA-256 still guards the file
    crc32 = None
try:
    import deflate

    _Stream = io.IOBase  # a Python stream deflate.DeflateIO can read from
except (ImportError, AttributeError):  # no decompressor: the host sends files as they are
    deflate = None
    _Stream = object

_VERSION = const(1)
_MAGIC0 = const(0xEB)
_MAGIC1 = const(0x90)
_IDLE_MS = const(5000)
_QUIET_MS = const(60)
_STATE = "/.ember"
_MANIFEST = "/.ember/manifest"
_DIRTY = "/.ember/dirty"
_TMP = ".ember-tmp"
_WBITS = const(10)  # 1 KB window: what a small board can spare
_Z_HEAP = const(8192)  # offer deflate only with this much heap free: inflating takes ~3 KB
_GONE = "gone"


class _Gone(Exception):
    pass


class _Frames(_Stream):
    # The payload of zsize bytes of frames as a stream, for deflate.DeflateIO to read.
    def __init__(self, session, zsize):
        self.s = session
        self.left = zsize
        self.pos = 0
        self.end = 0
        self.seq = 0

    def readinto(self, buf):
        s = self.s
        if self.pos == self.end:
            if self.left <= 0:
                return 0
            while True:
                n = s.frame(self.seq & 0xFFFF)
                if n == -2:
                    raise _Gone()
                if 0 < n <= self.left:
                    break
                if n >= 0:
                    s.nak(self.seq & 0xFFFF)
            s.say("K%d" % (self.seq & 0xFFFF))
            self.seq += 1
            self.left -= n
            self.pos, self.end = 0, n
        k = min(len(buf), self.end - self.pos)
        buf[0:k] = s.mv[self.pos : self.pos + k]
        self.pos += k
        return k


class _Session:
    def __init__(self, chunk):
        self.chunk = chunk
        self.inp = sys.stdin.buffer
        self.out = sys.stdout
        self.poll = select.poll()
        self.poll.register(sys.stdin, select.POLLIN)
        self.head = bytearray(6)
        self.head_mv = memoryview(self.head)
        self.buf = bytearray(chunk + 4)
        self.mv = memoryview(self.buf)
        self.one = bytearray(1)
        self.inflated = bytearray(256) if deflate else None  # inflated bytes on their way out
        self.manifest = _load_manifest()

    def say(self, text):
        self.out.write(text)
        self.out.write("*%04x\n" % _sum(text))

    def wait(self, ms):
        return bool(self.poll.poll(ms))

    def readline(self, first=-1):
        # One checked line: its body, "" if damaged, None if the host went quiet.
        line = bytearray()
        if first >= 0:
            line.append(first)
        while True:
            if line and line[-1] == 10:
                return _checked(line)
            if len(line) > 600:
                return ""
            if not self.wait(_IDLE_MS if not line else _QUIET_MS * 4):
                return None if not line else ""
            self.inp.readinto(self.one)
            line.append(self.one[0])

    def drain(self):
        # Discards bytes until the host has been quiet for a moment (after an error).
        while self.wait(_QUIET_MS):
            self.inp.readinto(self.one)

    def frame(self, expected):
        # Reads one frame: its payload length; -1 bad (asked again), -2 session over,
        # -3 a frame not wanted now (a copy, or one after a bad one).
        if not self.wait(_IDLE_MS):
            return -2
        self.inp.readinto(self.head_mv[0:1])
        if self.head[0] != _MAGIC0:
            # Not a frame: a text line (the host ending the session), or noise.
            if self.readline(self.head[0]) == "Q":
                return -2
            return self.nak(expected)
        self.inp.readinto(self.head_mv[1:6])
        size = self.head[4] | self.head[5] << 8
        seq = self.head[2] | self.head[3] << 8
        if self.head[1] != _MAGIC1 or size > self.chunk:
            return self.nak(expected)
        self.inp.readinto(self.mv[0 : size + 4])
        if crc32 is not None:
            crc = crc32(self.mv[0:size], crc32(self.head_mv[2:6]))
            got = self.buf[size] | self.buf[size + 1] << 8 | self.buf[size + 2] << 16
            got |= self.buf[size + 3] << 24
            if crc != got:
                return self.nak(expected)
        if seq != expected:
            if (expected - seq) & 0xFFFF < 0x8000:  # a copy of one kept already
                self.say("K%d" % ((expected - 1) & 0xFFFF))
            return -3  # one after a bad frame: the host will go back to `expected`
        return size

    def nak(self, expected):
        self.drain()
        self.say("N%d" % expected)
        return -1

    def receive(self, size, digest_hex, path, zsize=-1):
        gc.collect()
        tmp = path + _TMP
        _makedirs(path)
        digest = hashlib.sha256()
        try:
            f = open(tmp, "wb")
        except OSError as e:
            self.say("E %d open %s" % (e.errno, path))
            return
        self.say("A")
        error = None
        try:
            if zsize < 0:
                self.copy(f, digest, size)
            else:
                self.inflate(f, digest, size, zsize)
            f.close()
        except _Gone:
            error = _GONE
        except OSError as e:
            error = e
        if error is not None:
            try:
                f.close()
            except OSError:
                pass  # a full filesystem may refuse the close too: the temp goes anyway
            _remove(tmp)
            if error != _GONE:
                self.drain()
                self.say("E %d write %s" % (error.errno, path))
            return error
        if _hex(digest.digest()) != digest_hex:
            _remove(tmp)
            self.say("BAD " + path)
            return
        try:
            os.rename(tmp, path)
        except OSError as e:
            _remove(tmp)
            self.say("E %d rename %s" % (e.errno, path))
            return
        st = os.stat(path)
        self.manifest[path] = (digest_hex, st[6], st[8])
        self.say("OK " + path)

    def copy(self, f, digest, size):
        # Frames as they are: each is written, then acknowledged.
        seq = 0
        left = size
        while left > 0:
            n = self.frame(seq & 0xFFFF)
            if n == -2:
                raise _Gone()
            if n < 0:
                continue
            if n == 0 or n > left:
                self.nak(seq & 0xFFFF)
                continue
            data = self.mv[0:n]
            f.write(data)
            digest.update(data)
            left -= n
            self.say("K%d" % (seq & 0xFFFF))
            seq += 1

    def inflate(self, f, digest, size, zsize):
        # Frames carry raw deflate: inflate them as they come, through a small buffer.
        source = _Frames(self, zsize)
        stream = deflate.DeflateIO(source, deflate.RAW, _WBITS)
        out = self.inflated
        left = size
        while True:
            n = stream.readinto(out)
            if not n:
                break
            data = memoryview(out)[0:n]
            f.write(data)
            digest.update(data)
            left -= n
        while source.readinto(out):  # frames past the end of the deflate stream, if any
            pass
        if left:
            raise OSError(22)  # sizes disagree: the SHA-256 check would fail anyway

    def listing(self, root):
        for path in _walk(root):
            if path.endswith(_TMP):
                _remove(path)  # left by a push that was cut off
                continue
            st = os.stat(path)
            entry = self.manifest.get(path)
            if entry is None or entry[1] != st[6] or entry[2] != st[8]:
                entry = (_hash_file(path, self.buf), st[6], st[8])
                gc.collect()  # hashing leaves a file's buffers behind: keep the heap whole
                self.manifest[path] = entry
            # 128 bits of the hash tell changed from unchanged; F lines carry all 256.
            self.say("H %s %d %s" % (entry[0][:32], entry[1], path))
        try:  # the end, with the space left: the host refuses a push that cannot fit
            st = os.statvfs(root)
            self.say(". %d %d" % (st[0], max(st[3], 0)))  # a full littlefs says -2
        except OSError:
            self.say(".")

    def run(self):
        _mark_dirty()
        gc.collect()
        z = deflate and gc.mem_free() >= _Z_HEAP  # else the host sends files as they are
        self.say("R %d %d%s" % (_VERSION, self.chunk, " z" if z else ""))
        while True:
            line = self.readline()
            if line is None or line == "Q":
                break
            if not line:
                self.drain()
                self.say("X")  # damaged: the host sends it again
                continue
            cmd = line[0]
            if cmd == "M":
                self.listing(line[2:])
            elif cmd in "FZ":
                try:
                    if cmd == "F":
                        size, digest_hex, path = line[2:].split(" ", 2)
                        zsize = -1
                    else:
                        size, digest_hex, zsize, path = line[2:].split(" ", 3)
                    size, zsize = int(size), int(zsize)
                except ValueError:
                    self.say("X")  # well-formed check, malformed fields: not ours to guess
                    continue
                if (zsize >= 0 and not deflate) or not path.startswith("/"):
                    self.say("X")
                    continue
                if self.receive(size, digest_hex, path, zsize) == _GONE:
                    break
            elif cmd == "D":
                path = line[2:]
                _remove(path)
                self.manifest.pop(path, None)
                self.say("OK " + path)
            else:
                self.say("X")
            gc.collect()
        _save_manifest(self.manifest)


def _sum(text):
    return _fletcher(text.encode())


def _fletcher(data):
    # Fletcher-16 over bytes: two running sums mod 255.
    a = b = 0
    for byte in data:
        a = (a + byte) % 255
        b = (b + a) % 255
    return b << 8 | a


def _checked(line):
    # "body*xxxx\n" -> body, or "" when damaged: a control byte, or a check that fails.
    end = len(line)
    while end and line[end - 1] in (10, 13):
        end -= 1
    for i in range(end):
        if line[i] < 32:
            return ""  # e.g. a NUL, which would end a path early on the board
    star = -1
    for i in range(end):
        if line[i] == 42:  # "*"
            star = i
    if star < 0 or end - star != 5:
        return ""
    body = bytes(line[0:star])
    if bytes(line[star + 1 : end]) != b"%04x" % _fletcher(body):
        return ""
    try:
        return body.decode()
    except UnicodeError:
        return ""


def _hex(data):
    return hexlify(data).decode()  # one allocation: small heaps fragment easily


def _hash_file(path, buf):
    digest = hashlib.sha256()
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            digest.update(mv[0:n])
    return _hex(digest.digest())


def _walk(root):
    root = root.rstrip("/") or "/"
    try:
        entries = list(os.ilistdir(root))
    except OSError:
        return
    for entry in entries:
        name, kind = entry[0], entry[1]
        path = ("" if root == "/" else root) + "/" + name
        if path == _STATE:
            continue
        if kind == 0x4000:
            yield from _walk(path)
        else:
            yield path


def _makedirs(path):
    parts = path.split("/")[1:-1]
    current = ""
    for part in parts:
        current += "/" + part
        try:
            os.mkdir(current)
        except OSError:
            pass


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _load_manifest():
    manifest = {}
    try:
        os.stat(_DIRTY)
        return manifest  # a session was cut off: every hash is computed afresh
    except OSError:
        pass
    try:
        with open(_MANIFEST) as f:
            for line in f:
                digest_hex, size, mtime, path = line.rstrip("\n").split(" ", 3)
                manifest[path] = (digest_hex, int(size), int(mtime))
    except (OSError, ValueError):
        pass
    return manifest


def _mark_dirty():
    try:
        os.mkdir(_STATE)
    except OSError:
        pass
    try:
        with open(_DIRTY, "w") as f:
            f.write("1")
    except OSError:
        pass


def _save_manifest(manifest):
    try:
        with open(_MANIFEST + _TMP, "w") as f:
            for path, entry in manifest.items():
                try:
                    os.stat(path)
                except OSError:
                    continue
                f.write("%s %d %d %s\n" % (entry[0], entry[1], entry[2], path))
        os.rename(_MANIFEST + _TMP, _MANIFEST)
        _remove(_DIRTY)
    except OSError:
        _remove(_MANIFEST + _TMP)  # full filesystem: the next session rebuilds it


def _ember_push(chunk=1024):
    micropython.kbd_intr(-1)  # 0x03 bytes in file data are data, not Ctrl-C
    try:
        _Session(chunk).run()
    finally:
        micropython.kbd_intr(3)
