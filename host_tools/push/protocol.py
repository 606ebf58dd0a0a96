"""The wire format between `ember push` and firmware/push/receiver.py: frames and replies.

Pure functions, no I/O, so they are unit-tested and fuzzed apart from any link.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"\xeb\x90"
HEADER = struct.Struct("<2sHH")
PROTOCOL_VERSION = 1
MAX_LINE = 1024


class ProtocolError(ValueError):
    """The board said something that is not part of the push protocol."""


def frame(seq: int, payload: bytes) -> bytes:
    """One chunk as sent: magic, seq, length, payload, CRC-32 of seq+length+payload."""
    head = HEADER.pack(MAGIC, seq & 0xFFFF, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head[2:]))
    return head + payload + struct.pack("<I", crc)


def resync_padding(chunk: int) -> bytes:
    """Bytes that complete any frame read the board is stuck in, so it answers N<seq>."""
    return bytes([MAGIC[0]]) * (chunk + HEADER.size + 4)


@dataclass(frozen=True)
class Reply:
    kind: str  # "R", "S", "H", "END", "A", "X", "K", "N", "OK", "BAD", "E"
    seq: int = 0
    digest: str = ""
    size: int = 0
    path: str = ""
    errno: int = 0
    text: str = ""
    block_size: int = 0  # END: the filesystem's block size, and blocks free (-1: not said)
    blocks_free: int = -1


def fletcher16(data: bytes) -> int:
    """Fletcher-16: two running sums mod 255, so byte order counts (swaps are caught)."""
    a = b = 0
    for byte in data:
        a = (a + byte) % 255
        b = (b + a) % 255
    return b << 8 | a


def line_sum(body: str) -> str:
    """The check every text line carries: Fletcher-16 of its UTF-8 bytes, 4 hex digits."""
    return f"{fletcher16(body.encode()):04x}"


def command(body: str) -> bytes:
    """A host command line as sent: body, "*", check, newline."""
    return f"{body}*{line_sum(body)}\n".encode()


def checked_body(line: str | bytes) -> str:
    """The body of a received line; raises ProtocolError when it holds a control byte, is
    not UTF-8 or its check does not match. Checked on the bytes, before any decoding."""
    raw = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
    raw = raw.rstrip(b"\r\n")
    if len(raw) > MAX_LINE:
        raise ProtocolError(f"reply too long ({len(raw)} bytes)")
    if any(byte < 32 for byte in raw):
        raise ProtocolError(f"damaged reply (a control byte) {raw[-80:]!r}")
    body, star, check = raw.rpartition(b"*")
    if not star or check != f"{fletcher16(body):04x}".encode():
        raise ProtocolError(f"damaged reply {raw[-80:]!r}")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"damaged reply (not UTF-8) {raw[-80:]!r}") from None


def parse_reply(line: str | bytes) -> Reply:
    """Parses one checked line from the receiver; raises ProtocolError on anything else."""
    line = checked_body(line)
    if line == ".":
        return Reply("END")
    if line.startswith(". "):
        block_size, _, free = line[2:].partition(" ")
        if block_size.isdigit() and free.isdigit() and int(block_size) > 0:
            return Reply("END", block_size=int(block_size), blocks_free=int(free))
        raise ProtocolError(f"malformed end of listing {line!r}")
    if line in ("A", "X"):
        return Reply(line)
    head, _, rest = line.partition(" ")
    try:
        if head[:1] in ("K", "N") and head[1:].isdigit() and not rest:
            return Reply(head[0], seq=int(head[1:]) & 0xFFFF)
        if head == "S" and rest.isdigit():
            return Reply("S", size=int(rest))  # size: the board's sys.implementation._mpy
        if head == "R":
            version, chunk, *flags = rest.split(" ")
            return Reply("R", seq=int(version), size=int(chunk), text=" ".join(flags))
        if head == "H":
            digest, size, path = rest.split(" ", 2)
            if not 32 <= len(digest) <= 64 or not all(c in "0123456789abcdef" for c in digest):
                raise ProtocolError(f"bad digest in {line!r}")
            return Reply("H", digest=digest, size=int(size), path=path)
        if head in ("OK", "BAD") and rest:
            return Reply(head, path=rest)
        if head == "E":
            code, text = rest.split(" ", 1)
            return Reply("E", errno=int(code), text=text)
    except ValueError as error:
        raise ProtocolError(f"malformed reply {line!r}") from error
    raise ProtocolError(f"unexpected reply {line!r}")


def seq_after(seq: int, base: int) -> bool:
    """Whether 16-bit sequence number seq is at or after base (modular)."""
    return (seq - base) & 0xFFFF < 0x8000
