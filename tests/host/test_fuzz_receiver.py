"""Fuzz test of the board's push receiver (firmware/push/receiver.py) on MicroPython.

Each example runs firmware/push/fuzz_harness.py on the unix port's interpreter: a RAM
littlefs2 at "/" (the host filesystem unmounted first) holding /keep.bin, the receiver's
own _Session.run() reading the host stream from stdin, with the host's pauses given as
virtual time (see the harness). Hypothesis builds streams the way `ember push` talks --
checked command lines, F and Z transfers in CRC-checked frames, M, D, Q -- and breaks them:
damaged lines and frames (then a pause and the host's resend), lost and repeated frames,
resync padding, garbage, long silences, and a cut anywhere.

Asserted for every stream: the interpreter exits (the subprocess timeout is the bound), no
traceback, /keep.bin intact, every other file exactly the content of a complete valid
transfer to its path in the stream (never partial, never corrupt), a manifest whose hashes
are those of the files, and ".ember-tmp" leftovers only where the link was cut mid-frame.

Damage to a command line here is one byte (0x00 never added): what the 16-bit sum always
catches. What it does not catch, a NUL byte, and lines that pass the check but are not
well formed, were findings of this file, fixed since: they are the last tests here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from host_tools.push.protocol import command, frame, resync_padding

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "firmware" / "push" / "fuzz_harness.py"
RECEIVER = ROOT / "firmware" / "push" / "receiver.py"


def _interpreter() -> str | None:
    local = Path(sys.executable).parent / "micropython"
    return str(local) if local.exists() else shutil.which("micropython")


MICROPYTHON = _interpreter()
pytestmark = pytest.mark.skipif(MICROPYTHON is None, reason="no micropython interpreter")

KEEP = "/keep.bin"
KEEP_DATA = bytes(range(256)) * 3 + b"ember keep"  # as the harness writes it
SCALE = int(os.environ.get("EMBER_FUZZ_SCALE", "1"))  # e.g. 50 for a long campaign
RUN_TIMEOUT_S = 10.0  # one session takes ~20 ms: past this, the receiver hangs
# The host's reaction to X or N: the board's quiet wait on a broken line (4 x 60 ms), its
# drain (60 ms), then the reply's way back: shorter than its idle wait.
SHORT_MS = 1000
LONG_MS = 6000  # longer than its idle wait (5 s): the host has gone
WBITS = 10  # the receiver inflates with a 1 KB window
POOL = ["/a.py", "/lib/b.py", "/lib", "/lib/sub/c.bin", "/d e.txt", "/\u00e9t\u00e9.py"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Outcome:
    status: str  # done | cut | crash
    said: list[str]
    traceback: str
    files: dict[str, tuple[str, int]]
    manifest: list[str]
    stderr: str


def run_receiver(stream: bytes, chunk: int = 64, blocks: int = 128,
                 pauses: dict[int, int] | None = None) -> Outcome:
    assert MICROPYTHON is not None
    schedule = ",".join(f"{at}:{ms}" for at, ms in sorted((pauses or {}).items()))
    args = [MICROPYTHON, str(HARNESS), str(chunk), str(len(stream)), str(blocks), schedule]
    try:
        proc = subprocess.run(args, input=stream, capture_output=True, timeout=RUN_TIMEOUT_S,
                              cwd=HARNESS.parent)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the receiver hung on {stream!r} (chunk {chunk}, pauses {pauses})")
    out = proc.stdout.decode(errors="replace")
    replies, marker, report = out.rpartition("\n#EMBER-FUZZ ")
    assert marker, f"no report from the harness (exit {proc.returncode}): {out!r} " \
        f"{proc.stderr!r}"
    status, _, rest = report.partition("\n")
    lines = rest.splitlines()
    files = {}
    for line in lines:
        if line.startswith("#FILE "):
            digest, size, path = line[6:].split(" ", 2)
            files[path] = (digest, int(size))
    return Outcome(
        status=status,
        said=replies.splitlines(),
        traceback="\n".join(line for line in lines if not line.startswith("#")),
        files=files,
        manifest=[line[10:] for line in lines if line.startswith("#MANIFEST ")],
        stderr=proc.stderr.decode(errors="replace"),
    )


def _probe_inflate() -> bool:
    if MICROPYTHON is None:
        return False
    said = run_receiver(b"").said
    return any(line.startswith("R ") and " z*" in line for line in said)


INFLATES = _probe_inflate()


# -- streams as the host would send them, broken -------------------------------------------

@dataclass
class Session:
    chunk: int
    blocks: int
    stream: bytes = b""
    pauses: dict[int, int] = field(default_factory=dict)
    valid: dict[str, set[str]] = field(default_factory=dict)  # path -> sha256 of F/Z sent
    story: list[str] = field(default_factory=list)  # what was built, for the report

    def send(self, data: bytes) -> None:
        self.stream += data

    def pause(self, ms: int) -> None:
        at = len(self.stream)
        self.pauses[at] = self.pauses.get(at, 0) + ms

    def __repr__(self) -> str:
        return (f"Session(chunk={self.chunk}, blocks={self.blocks}, pauses={self.pauses}, "
                f"story={self.story}, stream={self.stream!r})")


@st.composite
def byte_damage(draw: st.DrawFn, raw: bytes) -> bytes:
    """raw with one byte changed, lost or added (never a 0x00 added: see the NUL tests)."""
    kind = draw(st.sampled_from(["flip", "drop", "insert"]))
    if kind == "insert":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + bytes([draw(st.integers(1, 255))]) + raw[at:]
    at = draw(st.integers(0, len(raw) - 1))
    if kind == "drop":
        return raw[:at] + raw[at + 1 :]
    new = raw[at] ^ (1 << draw(st.integers(0, 7)))
    return raw[:at] + bytes([new]) + raw[at + 1 :]


def line(draw: st.DrawFn, s: Session, body: str) -> None:
    """A command line; maybe damaged once, then (as the host does on X) sent again."""
    raw = command(body)
    how = draw(st.sampled_from(["clean"] * 5 + ["damaged", "damaged-resent"]))
    s.story.append(f"{how} {body!r}")
    if how == "clean":
        s.send(raw)
        return
    s.send(draw(byte_damage(raw)))
    if how == "damaged-resent":
        s.pause(SHORT_MS)
        s.send(raw)


def frames_of(draw: st.DrawFn, s: Session, wire: bytes) -> None:
    """The frames of one transfer, with faults the host recovers from: a damaged frame
    (answered N: after a pause, the host sends again from it), a lost one (no K: the
    host times out, sends resync padding, and sends again), a repeated one."""
    payloads = [wire[i : i + s.chunk] for i in range(0, len(wire), s.chunk)]
    faults = 0
    i = 0
    while i < len(payloads):
        fault = "ok" if faults >= 3 else draw(
            st.sampled_from(["ok"] * 12 + ["damaged", "lost", "twice", "garbage"]))
        wire_frame = frame(i, payloads[i])
        if fault == "ok":
            s.send(wire_frame)
            i += 1
            continue
        faults += 1
        s.story.append(f"frame {i} {fault}")
        if fault == "twice":
            s.send(wire_frame + wire_frame)
            i += 1
        elif fault == "damaged":
            s.send(draw(byte_damage(wire_frame)))
            s.pause(SHORT_MS)
        elif fault == "lost":
            if i + 1 < len(payloads):
                s.send(frame(i + 1, payloads[i + 1]))  # the next one, out of order
            s.pause(SHORT_MS)
            s.send(resync_padding(s.chunk))
            s.pause(SHORT_MS)
        else:
            s.send(draw(st.binary(min_size=1, max_size=40)))
            s.pause(SHORT_MS)


file_data = st.one_of(
    st.binary(max_size=700),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=8), st.integers(1, 200)),
)


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    s = Session(chunk=draw(st.sampled_from([16, 64, 256])),
                blocks=draw(st.sampled_from([10, 24, 128])))
    kinds = ["F"] * 5 + ["Z"] * 4 + ["M", "M", "D", "D", "garbage", "garbage", "silence", "Q"]
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(kinds))
        if kind == "Z" and not INFLATES:
            kind = "F"
        if kind in ("F", "Z"):
            path = draw(st.sampled_from(POOL))
            data = draw(file_data)
            digest = sha(data)
            if draw(st.integers(0, 9)) == 0:
                digest = sha(data + b"!")  # the board must answer BAD and keep the old file
            else:
                s.valid.setdefault(path, set()).add(digest)
            if kind == "F":
                wire = data
                line(draw, s, f"F {len(data)} {digest} {path}")
            else:
                packer = zlib.compressobj(9, zlib.DEFLATED, -WBITS)
                wire = packer.compress(data) + packer.flush()
                line(draw, s, f"Z {len(data)} {digest} {len(wire)} {path}")
            frames_of(draw, s, wire)
        elif kind == "M":
            line(draw, s, "M " + draw(st.sampled_from(["/", "/lib", "", "/nope", "/a.py"])))
        elif kind == "D":
            line(draw, s, "D " + draw(st.sampled_from(POOL)))
        elif kind == "garbage":
            s.story.append("garbage")
            s.send(draw(st.binary(min_size=1, max_size=80)))
            s.pause(SHORT_MS)  # the board answers X (or N): the host goes on after it
        elif kind == "silence":
            s.story.append("silence")
            s.pause(LONG_MS)
        else:
            line(draw, s, "Q")
    if len(s.stream) > 1 and draw(st.integers(0, 4)) == 0:
        cut = draw(st.integers(1, len(s.stream) - 1))
        s.story.append(f"cut at {cut}")
        s.stream = s.stream[:cut]
        s.pauses = {at: ms for at, ms in s.pauses.items() if at <= cut}
    return s


# -- the invariants ------------------------------------------------------------------------

def check(outcome: Outcome, valid: dict[str, set[str]]) -> list[str]:
    """Asserts the invariants; returns the .ember-tmp leftovers (only after a cut)."""
    assert outcome.status in ("done", "cut"), f"receiver crashed:\n{outcome.traceback}"
    assert not outcome.stderr, outcome.stderr
    assert outcome.files.get(KEEP, ("", 0))[0] == sha(KEEP_DATA), "/keep.bin was changed"
    leftovers = []
    for path, (digest, _) in outcome.files.items():
        if path == KEEP:
            continue
        if path.startswith("/.ember/"):
            assert path in ("/.ember/manifest", "/.ember/dirty"), path
        elif path.endswith(".ember-tmp"):
            leftovers.append(path)
        else:
            assert digest in valid.get(path, ()), f"{path}: not the content of any valid " \
                "transfer to it (partial, corrupt or misplaced)"
    if outcome.status != "cut":
        assert not leftovers, f"temporary files left by a session that ended: {leftovers}"
    for entry in outcome.manifest:
        digest, size, _mtime, path = entry.split(" ", 3)
        if path in outcome.files:
            assert outcome.files[path] == (digest, int(size)), f"manifest lies about {path}"
    return leftovers


@settings(max_examples=60 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(sessions())
def test_receiver_survives_broken_streams(session: Session) -> None:
    outcome = run_receiver(session.stream, session.chunk, session.blocks, session.pauses)
    leftovers = check(outcome, session.valid)
    written = [p for p in outcome.files if p in session.valid]
    said = [r.split("*")[0] for r in outcome.said]
    event(f"status {outcome.status}")
    event(f"files written: {min(len(written), 3)}{'+' if len(written) > 3 else ''}")
    event(f"tmp leftovers: {bool(leftovers)}")
    for kind in ("OK", "BAD", "E 28", "E", "N", "X", "H"):
        if any(r.startswith(kind) for r in said):
            event(f"said {kind}")


def test_clean_session_writes_every_file() -> None:
    """The oracle's other half: a clean stream gets every file written."""
    s = Session(chunk=16, blocks=128)
    expected = {}
    for i, path in enumerate(POOL[:2] + POOL[3:]):
        data = bytes([i]) * (40 * i + 3)
        expected[path] = sha(data)
        s.send(command(f"F {len(data)} {sha(data)} {path}"))
        for n, at in enumerate(range(0, len(data), s.chunk)):
            s.send(frame(n, data[at : at + s.chunk]))
    s.send(command("M /") + command("Q"))
    outcome = run_receiver(s.stream, s.chunk, s.blocks)
    check(outcome, {p: {d} for p, d in expected.items()})
    assert {p: outcome.files[p][0] for p in expected} == expected
    assert outcome.status == "done"
    assert sum(r.startswith("H ") for r in outcome.said) == len(expected) + 1  # and keep.bin


# -- findings ------------------------------------------------------------------------------

def _transfer(body_raw: bytes, data: bytes, chunk: int = 64) -> bytes:
    return body_raw + b"".join(
        frame(n, data[at : at + chunk]) for n, at in enumerate(range(0, len(data), chunk)))


@pytest.mark.parametrize("body", ["F", "F 1 2", "F x " + "0" * 64 + " /a", "Z 1 2 3"])
def test_checked_but_malformed_command_line(body: str) -> None:
    if body.startswith("Z") and not INFLATES:
        pytest.skip("this receiver cannot inflate")
    outcome = run_receiver(command(body) + command("Q"))  # e.g. b"F*0046\nQ*0051\n"
    check(outcome, {})


def test_nul_byte_in_an_f_line_writes_another_file() -> None:
    data = b"meant for /keep.bin2"
    raw = command(f"F {len(data)} {sha(data)} /keep.bin2")
    damaged = raw.replace(b"/keep.bin2", b"/keep.bin\x002")  # same sum: still "checked"
    outcome = run_receiver(_transfer(damaged, data) + command("Q"))
    check(outcome, {"/keep.bin2": {sha(data)}})


def test_nul_byte_in_a_d_line_deletes_another_file() -> None:
    damaged = command("D /keep.bin2").replace(b"/keep.bin2", b"/keep.bin\x002")
    outcome = run_receiver(damaged + command("Q"))
    check(outcome, {})
