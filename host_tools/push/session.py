"""Incremental, verified, atomic file sync to a board: the host side of `ember push`.

Plans what to send (local files and their board paths, refusing paths that escape the
destination), asks the board's receiver (firmware/push/receiver.py, sent through the raw
REPL) what it holds in one round trip, and streams only what changed in CRC-checked frames
with a sliding window of acknowledgements. The receiver writes each file to a temporary
name, checks its SHA-256 and renames it, so a cut link leaves every file old or new.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import serial

from host_tools.board_paths import CACHE_DIR as CACHE_DIR  # re-exported
from host_tools.board_paths import MIP_RECORD, protected_by
from host_tools.errors import (
    BoardSilentError,
    CommandError,
    EmberError,
    LinkError,
    ReceiverStoppedError,
)
from host_tools.link import device_code
from host_tools.link.interface import BoardLink, Progress
from host_tools.link.program import Program
from host_tools.link.session import UNHEEDED_INTERRUPT_HOOKS
from host_tools.mpy import compiler
from host_tools.paths import FIRMWARE_DIR
from host_tools.push.protocol import (
    PROTOCOL_VERSION,
    ProtocolError,
    Reply,
    command,
    frame,
    parse_reply,
    resync_padding,
    seq_after,
)

RECEIVER = FIRMWARE_DIR / "push" / "receiver.py"
BOOTSTRAP = "push/bootstrap.py"  # device code under firmware/, sent by device_code
QUICKSTART = "push/quickstart.py"
NO_HASHLIB = "nohashlib"  # the bootstrap's E reply on firmware without hashlib
FS = "host/fs.py"  # board-side file helpers: prune (folders a delete emptied), lines
REPLY_TIMEOUT_S = 10.0
MAX_RETRIES = 12  # frames the board asked for again (a noisy link)
MAX_SILENCES = 3  # resync attempts when the board says nothing at all (a dead link)
FRAME_TIMEOUT_S = 1.0  # no acknowledgement this long: a frame or its ack was lost
ENOSPC = 28
SKIP_NAMES = {"__pycache__", ".git", ".DS_Store"}



@dataclass(frozen=True)
class LocalFile:
    source: Path
    board_path: str
    size: int
    digest: str


@dataclass
class PushResult:
    sent: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # not local, but ember's own: not deleted
    pruned: list[str] = field(default_factory=list)  # folders a delete left empty, removed
    dry_run: bool = False  # nothing was sent or deleted: the lists say what would be
    bytes: int = 0
    seconds: float = 0.0
    wire_bytes: int = 0  # file data as sent: less than bytes where it was compressed

    def as_json(self) -> dict[str, object]:
        return {
            "sent": len(self.sent),
            "unchanged": len(self.unchanged),
            "deleted": len(self.deleted),
            "deleted_paths": self.deleted + self.pruned,
            "kept_paths": self.kept,
            "dry_run": self.dry_run,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }


def board_path(dest: str, relative: str) -> str:
    """Joins a destination and a relative path, refusing anything that escapes dest."""
    if not dest.startswith("/"):
        raise CommandError(f"destination {dest!r} must be an absolute board path")
    dest = posixpath.normpath(dest)
    if any(ord(c) < 32 or c == "\x7f" for c in relative):
        raise CommandError(f"file name {relative!r} has a control character: the board's "
                           "filesystem would take it, but no tool could name it again")
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        raise CommandError(
            f"file name {relative!r} is not UTF-8: a MicroPython board cannot name it"
        ) from None
    if relative.startswith("/") or posixpath.isabs(relative):
        raise CommandError(f"{relative!r} is absolute: it would escape the destination {dest}")
    joined = posixpath.normpath(posixpath.join(dest, relative))
    root = dest.rstrip("/") + "/"
    if not (joined + "/").startswith(root) or joined == dest:
        raise CommandError(f"{relative!r} escapes the destination {dest}")
    return joined


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plan(sources: Iterable[Path | tuple[Path, str]], dest: str = "/") -> list[LocalFile]:
    """Local files and their board paths: a folder keeps its layout under dest.

    A source may be a (path, relative board name) pair, e.g. a built .mpy and its name.
    """
    files: dict[str, LocalFile] = {}
    for source in sources:
        if isinstance(source, tuple):
            path, relative = source
            pairs = [(path, relative)]
        else:
            path = source
            if not path.exists():
                raise CommandError(f"{path}: no such file or folder")
            if path.is_dir():
                pairs = [
                    (p, p.relative_to(path).as_posix())
                    for p in sorted(path.rglob("*"))
                    if p.is_file() and not SKIP_NAMES.intersection(p.relative_to(path).parts)
                ]
            else:
                pairs = [(path, path.name)]
        for local, relative in pairs:
            target = board_path(dest, relative)
            files[target] = LocalFile(local, target, local.stat().st_size, _digest(local))
    return list(files.values())


class _Receiver:
    """Talks to firmware/push/receiver.py once it runs on the board.

    Every line carries a check (push_protocol.command); a damaged reply is dropped and the
    timeouts and resyncs below recover, a damaged command is answered "X" and sent again.
    """

    def __init__(self, link: BoardLink, chunk: int, window: int, progress: Progress | None,
                 reply_timeout: float = 10.0, compress: bool = True) -> None:
        self.reply_timeout = reply_timeout
        self.compress = compress
        self.inflates = False
        self.wire_bytes = 0  # bytes of file data on the wire, after compression
        self.frame_timeout = min(FRAME_TIMEOUT_S, reply_timeout)
        self.link = link
        self.program: Program | None = None  # the receiver, running in the raw REPL
        self.space = (0, -1)  # (block size, blocks free) the listing ended with; -1: unknown
        self.chunk = chunk
        self.window = window
        self.progress = progress
        self.pending = b""
        self.last_command = b""
        self.damaged = 0  # replies dropped for a failed check: the link's noise, measured
        self.unconfirmed: list[LocalFile] = []
        self.verified: list[str] = []

    def start(self) -> None:
        """Starts the receiver: the copy cached on the board, else one sent now (and cached).

        The quick start (about 100 bytes) runs a cached receiver; only when there is none
        does the bootstrap cross the link. Less code through the raw REPL, which has no
        check of its own, is also less for a noisy link to damage."""
        tag = receiver_tag()
        self._run(device_code.program(QUICKSTART, "quick_start", tag, self.chunk))
        try:
            reply = self.reply()
        except LinkError as error:
            if not (isinstance(error, ReceiverStoppedError)
                    and error.device.kind == "ImportError"):
                raise
            self._run(device_code.program(BOOTSTRAP, "_ember_boot", tag, self.chunk))
            reply = self.reply()
        if reply.kind == "S":  # no usable cached receiver on the board yet
            ext, body = _receiver_for(reply.size)
            digest = hashlib.sha256(body).hexdigest()
            self.write(command(f"{ext} {len(body)} {digest}") + body)
            reply = self.reply()
        if reply.kind == "E" and reply.text == NO_HASHLIB:
            raise CommandError(
                f"{self.link.port}: this board's firmware has no hashlib (a BASIC_FEATURES "
                "build, as on the SAMD21), and ember push checks every file with SHA-256; "
                "nothing was sent")
        if reply.kind == "E":
            raise CommandError(
                f"cannot install the push receiver in {CACHE_DIR} (errno {reply.errno}): "
                "is the board's filesystem full?"
            )
        if reply.kind != "R":
            raise LinkError(f"{self.link.port}: the push receiver did not start ({reply})")
        if reply.seq != PROTOCOL_VERSION:
            raise LinkError(f"board receiver speaks protocol {reply.seq}, not {PROTOCOL_VERSION}")
        self.inflates = self.compress and "z" in reply.text.split()

    def _run(self, code: str) -> None:
        # Its stdout is the protocol, read by read_line; a damaged byte that reads as the
        # raw REPL's end marker is told from a real end (noisy).
        self.program = self.link.start(code, noisy=True, keep_output=False)
        self.pending = b""

    def write(self, data: bytes) -> None:
        assert self.program is not None
        self.program.write(data)

    def send_line(self, text: str) -> None:
        self.last_command = command(text)
        self.write(self.last_command)

    def read_line(self, timeout: float) -> bytes:
        program = self.program
        assert program is not None
        deadline = time.monotonic() + timeout
        while True:
            newline = self.pending.find(b"\n")
            if newline >= 0:
                break
            if program.done:
                self.pending = b""
                self._stopped(program)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.pending += program.read(min(remaining, 0.5))
        line, _, self.pending = self.pending.partition(b"\n")
        return line  # checked as bytes, decoded only once intact (push_protocol)

    @staticmethod
    def _stopped(program: Program) -> None:
        """The receiver's program ended: it stopped, with the error it printed."""
        error = program.error_text.strip()
        last = error.splitlines()[-1] if error else "no reason given"
        raise ReceiverStoppedError(f"the push receiver stopped on the board: {last}", last, error)

    def reply(self, timeout: float | None = None) -> Reply:
        """The next intact reply; answers "X" by sending the last command again."""
        timeout = self.reply_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        resends = 0
        while True:
            try:
                line = self.read_line(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise LinkError(
                    f"{self.link.port}: the board stopped answering "
                    f"({timeout:.0f} s without a reply)"
                ) from None
            except (OSError, serial.SerialException) as error:
                raise LinkError(f"link to {self.link.port} lost: {error}") from None
            try:
                reply = parse_reply(line)
            except ProtocolError:
                self.damaged += 1
                continue
            if reply.kind != "X":
                return reply
            resends += 1
            if resends > MAX_RETRIES or not self.last_command:
                raise LinkError(f"{self.link.port}: the link keeps damaging commands")
            self.write(self.last_command)

    def expect(self, kind: str) -> Reply:
        reply = self.reply()
        if reply.kind != kind:
            raise LinkError(f"{self.link.port}: expected {kind!r} from the board, got {reply}")
        return reply

    def manifest(self, dest: str) -> dict[str, tuple[str, int]]:
        self.send_line(f"M {dest}")
        held: dict[str, tuple[str, int]] = {}
        while True:
            reply = self.reply()
            if reply.kind == "END":
                self.space = (reply.block_size, reply.blocks_free)
                return held
            if reply.kind != "H":
                raise LinkError(f"{self.link.port}: unexpected {reply} in the manifest")
            held[reply.path] = (reply.digest, reply.size)

    def send_files(self, files: list[LocalFile], total: int, done: int = 0) -> None:
        """Streams files back to back: the next file's header and frames go out while the
        board still checks and renames the one before, so per-file round trips overlap."""
        sent_before = done
        for local in files:
            self.send_file(local, sent_before, total)
            sent_before += local.size
        while self.unconfirmed:
            self.handle_confirmation(self.reply(), None)

    def send_file(self, local: LocalFile, sent_before: int, total: int) -> None:
        data = local.source.read_bytes()
        wire = _deflated(data) if self.inflates else None
        if wire is not None:
            self.send_line(f"Z {len(data)} {local.digest} {len(wire)} {local.board_path}")
        else:
            wire = data
            self.send_line(f"F {len(data)} {local.digest} {local.board_path}")
        self.wire_bytes += len(wire)
        frames = [wire[i : i + self.chunk] for i in range(0, len(wire), self.chunk)]
        opened = confirmed = False
        base = next_seq = 0
        naks = silences = 0
        while not opened or (base < len(frames) and not confirmed):
            while opened and next_seq < len(frames) and next_seq < base + self.window:
                self.write(frame(next_seq, frames[next_seq]))
                next_seq += 1
            try:
                reply = self.reply(None if not opened else self.frame_timeout)
            except ReceiverStoppedError:
                raise  # not a silence: frames sent now would land in the REPL
            except LinkError:
                if silences >= MAX_SILENCES or not opened:
                    raise
                silences += 1
                self.write(resync_padding(self.chunk))  # unstick a half-read frame
                continue
            silences = 0
            if reply.kind in ("OK", "BAD") and reply.path == local.board_path and opened:
                self.unconfirmed.append(local)
                confirmed = True  # its last acknowledgements were lost on the way
                self.handle_confirmation(reply, None)
            elif reply.kind in ("OK", "BAD"):
                self.handle_confirmation(reply, local)
            elif reply.kind == "A":
                opened = True
            elif reply.kind == "K" and opened:
                acked = _unwrap(reply.seq, base)
                if acked >= base:
                    base = acked + 1
                    if self.progress:
                        done = min(len(wire), base * self.chunk) * len(data) // max(1, len(wire))
                        self.progress(sent_before + done, total)
            elif reply.kind == "N" and opened:
                naks += 1
                if naks > MAX_RETRIES:
                    raise LinkError(f"{self.link.port}: the link keeps corrupting data")
                next_seq = base = min(_unwrap(reply.seq, base), len(frames))
            elif reply.kind == "E":
                raise self._board_error(reply, local)
            # anything else (a late K or N of another frame) is stale: the loop goes on
        if not confirmed:
            self.unconfirmed.append(local)

    def handle_confirmation(self, reply: Reply, current: LocalFile | None) -> None:
        if reply.kind == "E" and current is None and self.unconfirmed:
            raise self._board_error(reply, self.unconfirmed[0])
        if reply.kind not in ("OK", "BAD") or not self.unconfirmed:
            raise LinkError(f"{self.link.port}: unexpected {reply} while sending")
        done = self.unconfirmed.pop(0)
        if reply.path != done.board_path:
            raise LinkError(f"{self.link.port}: confirmation for {reply.path}, "
                            f"expected {done.board_path}")
        if reply.kind == "BAD":
            raise LinkError(
                f"{done.board_path}: SHA-256 mismatch on the board; the old file is kept"
            )
        self.verified.append(done.board_path)

    def _board_error(self, reply: Reply, local: LocalFile) -> CommandError:
        self.finish()
        if reply.errno == ENOSPC:
            return CommandError(
                f"board filesystem full: {local.board_path} ({local.size} bytes) was not "
                f"written; every file on the board is intact"
            )
        return CommandError(
            f"board refused {local.board_path}: errno {reply.errno} ({reply.text}); "
            f"every file on the board is intact"
        )

    def delete(self, path: str) -> None:
        self.send_line(f"D {path}")
        self.expect("OK")

    def finish(self) -> None:
        self.send_line("Q")
        assert self.program is not None
        with contextlib.suppress(EmberError):  # the session is over either way
            if not self.program.wait(REPLY_TIMEOUT_S):
                self.link.forget_state()

    def abort(self, stopped: bool = False) -> None:
        """Ends a broken session from any state, so the raw REPL is reachable again:
        padding completes a half-read frame, then Q (twice: the first may land in a
        damaged line) ends the receiver. A receiver that `stopped` by itself is gone
        already: anything sent would land in the raw REPL as program text (on a full
        heap, enough to crash the interpreter), so only its last output is drained."""
        # The framing is abandoned here: what the board still says is read and dropped.
        port = self.link.serial
        with contextlib.suppress(OSError, serial.SerialException):
            if not stopped:
                port.write(resync_padding(self.chunk))
                _read_until_quiet(port, 0.2)
                for _ in range(2):
                    port.write(command("Q"))
                    _read_until_quiet(port, 0.2)
            else:
                _read_until_quiet(port, 0.2)
        self.link.forget_state()  # enter the raw REPL afresh next time


def _read_until_quiet(port: serial.Serial, quiet_s: float, limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    port.timeout = quiet_s
    while time.monotonic() < deadline and port.read(4096):
        pass


WBITS = 10  # the receiver inflates with a 1 KB window (firmware/push/receiver.py _WBITS)
WORTH_COMPRESSING = 0.9  # send deflated only when it saves at least a tenth


def _deflated(data: bytes) -> bytes | None:
    """Raw deflate with the receiver's window, when it is worth it; else None."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -WBITS)
    packed = packer.compress(data) + packer.flush()
    return packed if len(packed) <= WORTH_COMPRESSING * len(data) else None


def receiver_tag() -> str:
    """The receiver's version: its source's SHA-256, 12 hex digits (its module is rx_TAG).
    ember's firmware builds freeze it under that name (install/virtual_firmware.py): the
    quick start imports it from flash, no cached copy needed and no heap for its code."""
    return hashlib.sha256(RECEIVER.read_bytes()).hexdigest()[:12]


def _receiver_for(sys_mpy: int) -> tuple[str, bytes]:
    """The receiver compiled for a board's sys.implementation._mpy, else its source."""
    try:
        target = compiler.Target.from_sys_mpy(sys_mpy)
        target = compiler.Target(target.version, target.sub_version)  # bytecode only
        with tempfile.TemporaryDirectory(prefix="ember-rx-") as out:
            built = compiler.compile_file(RECEIVER, target, Path(out), root=RECEIVER.parent)
            return "mpy", built.read_bytes()
    except EmberError:
        return "py", RECEIVER.read_bytes()


def _unwrap(seq16: int, base: int) -> int:
    """A 16-bit sequence number back to a frame index near base."""
    candidate = (base & ~0xFFFF) | seq16
    if seq_after(seq16, base & 0xFFFF) and candidate < base:
        candidate += 0x10000
    elif not seq_after(seq16, base & 0xFFFF) and candidate > base:
        candidate -= 0x10000
    return candidate


def push(
    link: BoardLink,
    files: list[LocalFile],
    *,
    dest: str = "/",
    delete: bool = False,
    chunk: int = 1024,
    window: int = 2,
    progress: Progress | None = None,
    attempts: int = 3,
    reply_timeout: float = REPLY_TIMEOUT_S,
    compress: bool = True,
    dry_run: bool = False,
    delete_libraries: bool = False,
) -> PushResult:
    """Sends what changed; with delete, removes board files under dest that are not local
    (never ember's own: the runtime, its cache; see board_paths.py; nor what mip installed
    unless delete_libraries), then the folders that left empty. With dry_run, only says
    what it would send and delete.

    A session broken by the link (noise, a board that stopped answering) is ended and
    started again, up to `attempts` times; files verified before the break are not sent
    again, since the board's manifest lists them. A receiver that ran out of memory is
    started again without compression (inflating takes about 3 KB of heap), once.
    """
    started = time.monotonic()
    result = PushResult(dry_run=dry_run)
    total = sum(f.size for f in files)
    # What `ember mip install` put on the board is not the project's to delete, unless asked.
    libraries = frozenset() if not delete or delete_libraries else frozenset(
        str(line) for line in device_code.call(link, FS, "lines", MIP_RECORD))  # type: ignore[union-attr]
    for attempt in range(1, attempts + 1):
        receiver = _Receiver(link, chunk, window, progress, reply_timeout, compress)
        try:
            _session(receiver, files, dest, delete, result, total, dry_run, libraries)
            result.wire_bytes += receiver.wire_bytes
            break
        except BoardSilentError:
            raise  # nothing answers: trying again only takes longer
        except LinkError as error:
            result.sent += [p for p in receiver.verified if p not in result.sent]
            stopped = isinstance(error, ReceiverStoppedError)
            receiver.abort(stopped)
            if stopped and error.device.kind == "MemoryError":
                if not compress:
                    raise LinkError(
                        f"{link.port}: the board ran out of memory receiving files "
                        f"({error.reason}); free some heap (a reset, a smaller boot.py) "
                        "and push again") from None
                compress = False
            if attempt == attempts:
                raise
    result.bytes = sum(f.size for f in files if f.board_path in result.sent)
    result.seconds = time.monotonic() - started
    return result


def _session(receiver: _Receiver, files: list[LocalFile], dest: str, delete: bool,
             result: PushResult, total: int, dry_run: bool = False,
             libraries: frozenset[str] = frozenset()) -> None:
    receiver.start()
    held = receiver.manifest(dest)
    changed = [f for f in files if not f.digest.startswith(held.get(f.board_path, ("-", 0))[0])]
    result.unchanged = [f.board_path for f in files
                        if f not in changed and f.board_path not in result.sent]
    _check_space(receiver, changed, held)
    if not dry_run:
        receiver.send_files(changed, total, total - sum(f.size for f in changed))
    result.sent += [f.board_path for f in changed if f.board_path not in result.sent]
    if delete:
        wanted = {f.board_path for f in files}
        for path in sorted(held):
            if path in wanted or path in result.deleted:
                continue
            if protected_by(path) is not None or path in libraries:
                result.kept.append(path)
                continue
            if not dry_run:
                receiver.delete(path)
            result.deleted.append(path)
    receiver.finish()
    if delete and result.deleted and not dry_run:
        folders = sorted({posixpath.dirname(path) for path in result.deleted})
        pruned = device_code.call(receiver.link, FS, "prune", folders, dest)
        result.pruned = [str(folder) for folder in pruned]  # type: ignore[union-attr]


SPARE_BLOCKS = 2  # littlefs writes copy-on-write: a full filesystem still needs a block or two


def blocks_needed(changed: list[LocalFile], held: dict[str, tuple[str, int]],
                  block_size: int) -> int:
    """The most blocks the push holds at once beyond today's files: each file is written
    beside its old version, which goes only when the new one is renamed over it."""
    def blocks(size: int) -> int:
        # littlefs keeps a file up to an eighth of a block inline in its folder's metadata
        return 0 if size <= block_size // 8 else -(-size // block_size)

    peak = grown = 0
    for local in changed:
        new = blocks(local.size)
        peak = max(peak, grown + new)
        grown += new - blocks(held.get(local.board_path, ("", 0))[1])
    return peak


def _check_space(receiver: _Receiver, changed: list[LocalFile],
                 held: dict[str, tuple[str, int]]) -> None:
    """Refuses at once, before a byte is sent, a change the board's filesystem cannot hold."""
    block_size, free = receiver.space
    if free < 0 or not changed:
        return
    need = blocks_needed(changed, held, block_size)
    if need > free - SPARE_BLOCKS:
        receiver.finish()
        raise CommandError(
            f"the board's filesystem is too full for this push: "
            f"{max(0, free - SPARE_BLOCKS) * block_size} bytes free, about "
            f"{need * block_size} needed; nothing was sent, every file on the board is "
            "intact (`ember df`, `ember rm`)")


def _end_a_left_receiver(say: Callable[[bytes], None]) -> None:
    """A receiver left running by a host that vanished reads Ctrl-C as data: padding
    completes its frame, Q ends it (see firmware/push/receiver.py); Q again in case the
    first landed in a damaged line."""
    say(resync_padding(1024) + command("Q"))
    say(command("Q"))


UNHEEDED_INTERRUPT_HOOKS.append(_end_a_left_receiver)
