"""Fuzz tests of the host's side of `ember push`: what it parses of the board's replies.

Hypothesis feeds push_protocol's line check and reply parser, the frame format, the 16-bit
sequence unwrap, board_path, and the host's reply reader (_Receiver.read_line, .reply,
.manifest, .send_file over a fake serial port with a virtual clock) arbitrary and damaged
input. The contract: a Reply or ProtocolError (LinkError, CommandError higher up), within
the reader's time bound; never another exception, never a hang.

What the line check catches, as tested. It was a plain sum of the line's bytes mod 65536;
this fuzzing found its holes (a 0x00 byte adds nothing, and a NUL ends a board path early;
a replacement character decoded before checking could forge a reply; swaps and
compensating changes pass), so it is now Fletcher-16 over the raw bytes, any control byte
refuses a line, and the bytes are decoded only once checked:
  - any single-byte substitution, insertion or loss in a line: always caught;
  - a NUL or other control byte anywhere before the line end: refused;
  - swaps and compensating pairs (test_swaps_and_compensating_changes_are_caught): caught
    in the cases tested; Fletcher-16 still has blind spots (0x00 <-> 0xFF in one byte).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import struct
import threading
import time
import types
import zlib
from collections.abc import Callable
from pathlib import PurePosixPath
from unittest import mock

import pytest
import serial
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from host_tools.errors import CommandError, LinkError
from host_tools.link import program as link_program
from host_tools.push import session as push
from host_tools.push.protocol import (
    HEADER,
    MAGIC,
    MAX_LINE,
    ProtocolError,
    Reply,
    checked_body,
    command,
    fletcher16,
    frame,
    line_sum,
    parse_reply,
    resync_padding,
)
from host_tools.push.session import LocalFile, _Receiver, _unwrap, board_path

SCALE = int(os.environ.get("EMBER_FUZZ_SCALE", "1"))  # e.g. 50 for a long campaign
FAST = settings(max_examples=200 * SCALE, deadline=None)
SLOW = settings(max_examples=60 * SCALE, deadline=None)
HANG_S = 10.0  # wall-clock bound on one call under the virtual clock: anything longer hangs

# -- valid replies, as firmware/push/receiver.py says them ---------------------------------

ascii_path = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40
).map(lambda s: "/" + s)
any_path = st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40
).map(lambda s: "/" + s)
hex_digest = st.integers(32, 64).flatmap(
    lambda n: st.text("0123456789abcdef", min_size=n, max_size=n)
)
seq16 = st.integers(0, 0xFFFF)


def replies(path: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, Reply]]:
    """(body as the board says it, the Reply the host must make of it)."""
    return st.one_of(
        st.builds(lambda c, z: (f"R 1 {c}" + (" z" if z else ""), Reply(
            "R", seq=1, size=c, text="z" if z else "")), st.integers(1, 4096), st.booleans()),
        st.builds(lambda n: (f"S {n}", Reply("S", size=n)), st.integers(0, 1 << 16)),
        st.builds(lambda d, n, p: (f"H {d} {n} {p}", Reply("H", digest=d, size=n, path=p)),
                  hex_digest, st.integers(0, 1 << 24), path),
        st.sampled_from([(".", Reply("END")), ("A", Reply("A")), ("X", Reply("X"))]),
        st.builds(lambda k, s: (f"{k}{s}", Reply(k, seq=s)), st.sampled_from("KN"), seq16),
        st.builds(lambda k, p: (f"{k} {p}", Reply(k, path=p)), st.sampled_from(["OK", "BAD"]),
                  path),
        st.builds(lambda e, t: (f"E {e} {t}", Reply("E", errno=e, text=t)),
                  st.integers(0, 200), st.sampled_from(["open /a", "write /b c", "rename /"])),
    )


def line_bytes(body: str) -> bytes:
    """The line as the host's read_line hands it on: the bytes before the newline."""
    return command(body)[:-1]


def host_text(raw: bytes) -> str:
    return raw.decode(errors="replace")  # as _Receiver.read_line decodes


@st.composite
def one_byte_damage(draw: st.DrawFn, raw: bytes, nul: bool = False) -> bytes:
    """raw with one byte changed, dropped or inserted (0x00 inserted or dropped only if nul)."""
    kind = draw(st.sampled_from(["flip", "set", "drop", "insert"]))
    if kind == "insert":
        at = draw(st.integers(0, len(raw)))
        byte = draw(st.integers(0 if nul else 1, 255))
        return raw[:at] + bytes([byte]) + raw[at:]
    at = draw(st.integers(0, len(raw) - 1))
    if kind == "drop":
        if raw[at] == 0 and not nul:
            kind = "flip"
        else:
            return raw[:at] + raw[at + 1 :]
    if kind == "flip":
        new = raw[at] ^ (1 << draw(st.integers(0, 7)))
    else:
        new = draw(st.integers(0, 255).filter(lambda b: b != raw[at]))
    return raw[:at] + bytes([new]) + raw[at + 1 :]


# -- checked_body and parse_reply ----------------------------------------------------------

def parses_or_refuses(text: str) -> Reply | None:
    try:
        reply = parse_reply(text)
    except ProtocolError:
        return None
    assert isinstance(reply, Reply)
    return reply


@FAST
@given(st.text(max_size=MAX_LINE + 20))
def test_parse_reply_on_arbitrary_text(text: str) -> None:
    parses_or_refuses(text)
    try:
        body = checked_body(text)
    except ProtocolError:
        return
    assert isinstance(body, str)


@FAST
@given(st.binary(max_size=200))
def test_parse_reply_on_arbitrary_bytes(raw: bytes) -> None:
    parses_or_refuses(host_text(raw))


@FAST
@given(st.one_of(
    st.text(max_size=80),
    st.tuples(st.sampled_from(["R", "S", "H", "K", "N", "OK", "BAD", "E", "A", ".", "X"]),
              st.text(" 0123456789abcdefz/-_x\u0663\u00b2", max_size=80)).map("".join),
))
@example("R 1")
@example("R x 2")
@example("H abc")
@example("H " + "a" * 32 + " x /p")
@example("E 5")
@example("K\u0663")
@example("S \u00b2")
def test_parse_reply_on_checked_garbage(body: str) -> None:
    """Lines that pass the check but say anything: the parser proper, fuzzed."""
    parses_or_refuses(f"{body}*{line_sum(body)}")
    parses_or_refuses(f"{body}*{line_sum(body)}\r\n")


@FAST
@given(replies(any_path))
def test_valid_replies_round_trip(case: tuple[str, Reply]) -> None:
    body, expected = case
    assert parse_reply(host_text(line_bytes(body))) == expected
    assert parse_reply(command(body).decode()) == expected  # with its newline and all


@settings(max_examples=400 * SCALE, deadline=None)
@given(st.data(), replies(ascii_path))
def test_single_byte_damage_never_changes_a_reply(data: st.DataObject,
                                                  case: tuple[str, Reply]) -> None:
    """ASCII lines: any one byte changed, or any one byte (not 0x00) lost or added, is
    either refused or leaves the same reply (a "\\r" added at the end is stripped)."""
    body, expected = case
    damaged = data.draw(one_byte_damage(line_bytes(body)))
    assert parses_or_refuses(host_text(damaged)) in (None, expected)


@FAST
@given(st.data(), replies(any_path))
def test_single_byte_substitution_in_any_line_is_caught_before_decoding(
        data: st.DataObject, case: tuple[str, Reply]) -> None:
    """The sum itself, over the bytes as they came, catches every substitution: what
    lets some through for non-ASCII lines is decoding with errors="replace" first."""
    body, _ = case
    raw = line_bytes(body)
    at = data.draw(st.integers(0, len(raw) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[at]))
    damaged = raw[:at] + bytes([new]) + raw[at + 1 :]
    head, star, check = damaged.rpartition(b"*")
    assert not star or check != f"{fletcher16(head):04x}".encode()


def test_swaps_and_compensating_changes_are_caught() -> None:
    """What a plain byte sum could not catch (the check before Fletcher-16): compensating
    changes and transpositions. Fletcher-16's second sum weighs each byte by its place."""
    for body, damaged_body in [
        ("K12", "K21"),  # two bytes swapped
        ("K13", "K22"),  # +1 on one byte, -1 on another
        ("OK /ab.py", "OK /ba.py"),
        ("H " + "0" * 32 + " 19 /a", "H " + "0" * 32 + " 91 /a"),
    ]:
        with pytest.raises(ProtocolError):
            parse_reply(f"{damaged_body}*{line_sum(body)}")


def test_nul_byte_added_to_a_line_is_caught() -> None:
    raw = line_bytes("OK /main.py")  # b"OK /main.py*03a4"
    damaged = raw[:6] + b"\x00" + raw[6:]  # b"OK /ma\x00in.py*03a4"
    assert parses_or_refuses(host_text(damaged)) is None


def test_replacement_character_cannot_forge_a_reply() -> None:
    raw = line_bytes("OK /\U0001f600")  # b"OK /\xf0\x9f\x98\x80*0390"
    damaged = raw.replace(b"\x80", b"<")  # one byte changed
    assert parses_or_refuses(host_text(damaged)) is None  # parses as OK "/\ufffd<"


# -- frames --------------------------------------------------------------------------------

def receiver_frame(data: bytes, chunk: int) -> tuple[int, bytes] | None:
    """firmware/push/receiver.py _Session.frame, re-implemented: (seq, payload) or None.

    Like the board, it reads the header, then exactly size + 4 bytes, whatever follows."""
    if len(data) < HEADER.size or data[:2] != MAGIC:
        return None
    seq, size = struct.unpack_from("<HH", data, 2)
    if size > chunk or len(data) < HEADER.size + size + 4:
        return None
    payload = data[HEADER.size : HEADER.size + size]
    (got,) = struct.unpack_from("<I", data, HEADER.size + size)
    if zlib.crc32(payload, zlib.crc32(data[2:HEADER.size])) != got:
        return None
    return seq, payload


chunks = st.sampled_from([1, 16, 64, 256, 1024, 4096])


@FAST
@given(st.integers(0, 1 << 20), st.binary(max_size=1024), chunks)
def test_frame_round_trip(seq: int, payload: bytes, chunk: int) -> None:
    wire = frame(seq, payload)
    assert len(wire) == HEADER.size + len(payload) + 4
    expected = (seq & 0xFFFF, payload) if len(payload) <= chunk else None
    assert receiver_frame(wire, chunk) == expected


@FAST
@given(st.data(), seq16, st.binary(max_size=300), st.binary(max_size=400))
def test_single_bit_damage_to_a_frame_is_detected(data: st.DataObject, seq: int,
                                                  payload: bytes, after: bytes) -> None:
    """Magic, seq, payload or CRC: CRC-32 catches every single-bit error of a frame read
    at its own length. A flipped length bit makes the board read a different span (part
    of what follows); that span passes only by a 1 in 2**32 chance of the CRC."""
    wire = bytearray(frame(seq, payload))
    bit = data.draw(st.integers(0, len(wire) * 8 - 1))
    wire[bit // 8] ^= 1 << (bit % 8)
    assert receiver_frame(bytes(wire) + after, 1024) is None


def test_resync_padding_completes_any_half_read_frame() -> None:
    for chunk in (16, 1024):
        for cut in range(HEADER.size + chunk + 4):
            wire = frame(0, bytes(chunk))[:cut] + resync_padding(chunk)
            assert receiver_frame(wire, chunk) is None  # read to the end, refused: N<seq>
            assert len(wire) >= HEADER.size + chunk + 4


# -- sequence numbers ----------------------------------------------------------------------

@FAST
@given(st.one_of(st.integers(0, 1 << 24),
                 st.integers(0, 64).map(lambda k: k * 0x10000 + 0x7FFF),
                 st.integers(0, 64).map(lambda k: k * 0x10000 + 0x8000),
                 st.integers(1, 64).map(lambda k: k * 0x10000),
                 st.integers(1, 64).map(lambda k: k * 0x10000 - 1)),
       st.one_of(st.integers(-0x8000, 0x7FFF), st.sampled_from([-0x8000, -1, 0, 1, 0x7FFF])))
def test_unwrap_near_wraparound(base: int, delta: int) -> None:
    """A 16-bit seq within half the space of base unwraps to the one index it stands for
    (below 0 when the number is "before" a base under 0x8000: callers clamp)."""
    got = _unwrap((base + delta) & 0xFFFF, base)
    assert got == base + delta
    assert got & 0xFFFF == (base + delta) & 0xFFFF


# -- board paths ---------------------------------------------------------------------------

dests = st.sampled_from(["/", "/lib", "/lib/", "/a/b", "//x", "/a/./b/..", "/flash/"])
path_parts = st.lists(
    st.one_of(st.sampled_from(["..", ".", "", "a", "lib", "b.py", "..."]), st.text(max_size=8)),
    max_size=6,
).map("/".join)


@settings(max_examples=300 * SCALE, deadline=None)
@given(dests, st.one_of(path_parts, st.text(max_size=30)))
@example("/", "..")
@example("/lib", "../lib2/x")
@example("/lib", "a/../../lib/x")
@example("/", "a/..")
@example("/lib", "\x00")
@example("/", "\ud800")
def test_board_path_never_escapes(dest: str, relative: str) -> None:
    try:
        joined = board_path(dest, relative)
    except CommandError:
        return
    root = posixpath.normpath(dest)
    assert joined == posixpath.normpath(joined)
    assert ".." not in PurePosixPath(joined).parts
    assert joined != root
    assert joined.startswith(root.rstrip("/") + "/")
    assert not any(ord(c) < 32 or c == "\x7f" for c in joined)
    joined.encode("utf-8")


# -- the host's reply reader over a fake port ----------------------------------------------

class Clock:
    """Virtual time for push.py: it moves when the fake port waits (and a hair per call,
    so a loop that only looks at the clock still reaches its deadline)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        self.now += 1e-6
        return self.now


class FakePort:
    """read/write/in_waiting/timeout over scripted arrivals: (delay before, bytes)."""

    def __init__(self, clock: Clock, arrivals: list[tuple[float, bytes]],
                 fail_after: int | None = None) -> None:
        self.clock = clock
        self.timeout: float | None = None
        self.written = bytearray()
        self.buffer = bytearray()
        self.reads = 0
        self.fail_after = fail_after
        self.script: list[tuple[float, bytes]] = []
        at = clock.now
        for delay, data in arrivals:
            at += delay
            self.script.append((at, data))

    def _arrive(self) -> None:
        while self.script and self.script[0][0] <= self.clock.now:
            self.buffer += self.script.pop(0)[1]

    @property
    def in_waiting(self) -> int:
        self._arrive()
        return len(self.buffer)

    def read(self, size: int = 1) -> bytes:
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise serial.SerialException("device reports readiness to read but returned no data")
        self._arrive()
        if not self.buffer:
            wait = self.timeout if self.timeout is not None else 3600.0
            if self.script and self.script[0][0] - self.clock.now <= wait:
                self.clock.now = self.script[0][0]
                self._arrive()
            else:
                self.clock.now += wait
                return b""
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        return out

    def write(self, data: bytes) -> int:
        self.written += data
        return len(data)


def fake_link(port: object) -> types.SimpleNamespace:
    """What a Program needs of its Link: the port, and where to say the state changed."""
    return types.SimpleNamespace(serial=port, port="fake://", forget_state=lambda: None,
                                 program_ended=lambda prompt_read: None)


def bounded(call: Callable[[], object], clock: Clock) -> tuple[object, float]:
    """Runs call under the virtual clock on a thread: (its result or exception, virtual s)."""
    outcome: list[object] = []
    start = clock.now

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # noqa: BLE001 - judged by the caller
            outcome.append(error)

    fake_time = types.SimpleNamespace(monotonic=clock.monotonic)
    with mock.patch.object(push, "time", fake_time), \
            mock.patch.object(link_program, "time", fake_time):
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(HANG_S)
    assert not thread.is_alive(), "hang: the host's reader did not return"
    return outcome[0], clock.now - start


intact_lines = replies(ascii_path).map(lambda case: command(case[0]))


@st.composite
def board_output(draw: st.DrawFn, lines: st.SearchStrategy[bytes] = intact_lines,
                 ) -> list[tuple[float, bytes]]:
    """What a noisy board might send: intact and damaged replies, garbage, the raw REPL's
    0x04 markers, in pieces with pauses between."""
    piece = st.one_of(
        lines,
        lines,
        lines,
        lines.flatmap(lambda raw: one_byte_damage(raw, nul=True)),
        st.binary(max_size=40),
        st.sampled_from([b"\x04", b"\x04Traceback\r\nOSError: 5\r\n\x04>", b"\r\n", b"*0000\n"]),
    )
    return draw(arrivals_of(b"".join(draw(st.lists(piece, max_size=12)))))


@st.composite
def perturbed(draw: st.DrawFn, script: list[bytes]) -> list[tuple[float, bytes]]:
    """A plausible answer (script) with some lines damaged, lost, repeated or noise before
    them: the reader must still get through, or fail cleanly."""
    out = b""
    for line in script:
        how = draw(st.sampled_from(["keep"] * 6 + ["damage", "drop", "twice", "noise"]))
        if how == "damage":
            line = draw(one_byte_damage(line, nul=True))
        elif how == "drop":
            line = b""
        elif how == "twice":
            line += line
        elif how == "noise":
            line = draw(st.binary(max_size=12)) + line
        out += line
    return draw(arrivals_of(out))


@st.composite
def arrivals_of(draw: st.DrawFn, stream: bytes) -> list[tuple[float, bytes]]:
    """stream cut in pieces that arrive after pauses."""
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    delays = st.sampled_from([0.0, 0.0, 0.05, 0.3, 0.9, 1.5, 4.0])
    return [(draw(delays), p) for p in pieces if p]


def new_receiver(port: FakePort, timeout: float = 2.0) -> _Receiver:
    link = fake_link(port)
    receiver = _Receiver(link, 64, 2, None, reply_timeout=timeout)  # type: ignore[arg-type]
    # the receiver running, as _Receiver.start leaves it
    receiver.program = link_program.Program(link, noisy=True, keep_output=False)  # type: ignore[arg-type]
    receiver.last_command = command("M /")
    return receiver


# Program (noisy) waits up to 1 s (+ a 0.1 s read) past a 0x04 for the second one; a read may
# start just before the deadline.
OVERRUN_S = 1.2


@SLOW
@given(board_output(), st.sampled_from([0.0, 0.2, 1.0, 3.0]))
def test_read_line_returns_raises_or_times_out(arrivals: list[tuple[float, bytes]],
                                               timeout: float) -> None:
    clock = Clock()
    receiver = new_receiver(FakePort(clock, arrivals))
    outcome, took = bounded(lambda: receiver.read_line(timeout), clock)
    event(type(outcome).__name__)
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, TimeoutError | LinkError), repr(outcome)
    else:
        assert isinstance(outcome, bytes) and b"\n" not in outcome
    assert took <= timeout + OVERRUN_S


@SLOW
@given(board_output(), st.sampled_from([0.5, 2.0]), st.one_of(st.none(), st.integers(0, 6)))
def test_reply_returns_or_raises_link_error(arrivals: list[tuple[float, bytes]],
                                            timeout: float, fail_after: int | None) -> None:
    clock = Clock()
    port = FakePort(clock, arrivals, fail_after)
    receiver = new_receiver(port)
    outcome, took = bounded(lambda: receiver.reply(timeout), clock)
    event(getattr(outcome, "kind", type(outcome).__name__))
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, LinkError), repr(outcome)
    else:
        assert isinstance(outcome, Reply) and outcome.kind != "X"
    assert took <= timeout + OVERRUN_S
    assert port.written.count(receiver.last_command) <= push.MAX_RETRIES  # X: sent again


manifest_lines = st.one_of(
    st.builds(lambda d, n, p: command(f"H {d} {n} {p}"), hex_digest, st.integers(0, 9999),
              st.sampled_from(["/a.py", "/lib/b.py", "/c d", "/x/y/z.bin"])),
    st.just(command(".")),
    intact_lines,
).flatmap(lambda line: st.sampled_from([line, line, line, command(".")]))


held_script = [command(f"H {'ab' * 16} 5 /a.py"), command(f"H {'c' * 64} 0 /b c/d"),
               command(".")]


@SLOW
@given(st.one_of(board_output(manifest_lines), perturbed(held_script)))
def test_manifest_holds_only_intact_lines(arrivals: list[tuple[float, bytes]]) -> None:
    clock = Clock()
    receiver = new_receiver(FakePort(clock, arrivals), timeout=1.0)
    outcome, _ = bounded(lambda: receiver.manifest("/"), clock)
    event(f"{type(outcome).__name__} {len(outcome) if isinstance(outcome, dict) else ''}")
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, LinkError), repr(outcome)
        return
    assert isinstance(outcome, dict)
    sent = b"".join(data for _, data in arrivals)
    for path, (digest, size) in outcome.items():
        assert command(f"H {digest} {size} {path}") in sent


ack_lines = st.one_of(
    st.builds(lambda k, s: command(f"{k}{s}"), st.sampled_from("KKKN"),
              st.one_of(st.integers(0, 8), st.integers(0, 8), seq16)),
    st.sampled_from([command("A"), command("A"), command("OK /f.py"), command("OK /f.py"),
                     command("X"), command("BAD /f.py"), command("OK /other"),
                     command("E 28 write /f.py"), command(".")]),
)


@SLOW
@given(st.one_of(board_output(ack_lines),
                 perturbed([command(line) for line in ["A", "K0", "K1", "OK /f.py"]])),
       st.sampled_from([b"", b"x" * 10, bytes(range(128))]))
@example([(0.0, command("A") + command("N65535"))], b"")
def test_send_file_on_random_acknowledgements(arrivals: list[tuple[float, bytes]],
                                              data: bytes) -> None:
    clock = Clock()
    receiver = new_receiver(FakePort(clock, arrivals), timeout=1.0)
    source = types.SimpleNamespace(read_bytes=lambda: data)
    local = LocalFile(source, "/f.py", len(data), hashlib.sha256(data).hexdigest())  # type: ignore[arg-type]
    outcome, _ = bounded(lambda: receiver.send_files([local], len(data)), clock)
    event(f"{type(outcome).__name__} verified={receiver.verified}")
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, LinkError | CommandError), repr(outcome)
    sent = b"".join(chunk for _, chunk in arrivals)
    if "/f.py" in receiver.verified:
        assert command("OK /f.py") in sent


@settings(max_examples=8, deadline=None)
@given(st.binary(max_size=300).filter(lambda b: b"\x04" not in b))
def test_reply_over_a_pyserial_loop_port(noise: bytes) -> None:
    """The same reader on a real pyserial object (loop://: what is written comes back),
    in real time: noise, then a reply or the timeout."""
    port = serial.serial_for_url("loop://", timeout=0.1)
    try:
        receiver = new_receiver(port, timeout=0.3)  # type: ignore[arg-type]
        port.write(noise)
        started = time.monotonic()
        try:
            reply = receiver.reply()
        except LinkError:
            pass
        else:
            assert isinstance(reply, Reply)
        assert time.monotonic() - started < 0.3 + OVERRUN_S + 0.5
    finally:
        port.close()
