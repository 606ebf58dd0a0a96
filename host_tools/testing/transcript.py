"""What passed between host and board, per test: a transcript, and a port that records it.

The pytest plugin prints a failing test's transcript and keeps every test's in a log file
(`host| ...` and `board| ...` lines); Board reads and writes through RecordingSerial.
"""

from __future__ import annotations

import re
from pathlib import Path

import serial


class Transcript:
    """Every byte between host and board, per test: in memory, and appended to a log file."""

    LIMIT = 1 << 20  # bytes of the current test kept in memory; the file keeps everything

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._chunks: list[tuple[str, bytearray]] = []
        self._size = 0
        self._flushed = 0  # chunks already written to the file
        self._label = ""

    def record(self, direction: str, data: bytes) -> None:
        if not data:
            return
        if len(self._chunks) > self._flushed and self._chunks[-1][0] == direction:
            self._chunks[-1][1].extend(data)
        else:
            self._chunks.append((direction, bytearray(data)))
        self._size += len(data)
        if self._size > self.LIMIT and len(self._chunks) > 1:
            self.flush()
            dropped = self._chunks.pop(0)
            self._size -= len(dropped[1])
            self._flushed -= 1

    def mark(self, label: str) -> None:
        """Starts the transcript of a new test."""
        self.flush()
        self._chunks, self._size, self._flushed, self._label = [], 0, 0, label
        self._write(f"=== {label}\n")

    def text(self) -> str:
        """The current test's transcript, rendered."""
        return _render_all(self._chunks)

    def flush(self) -> None:
        pending = self._chunks[self._flushed :]
        self._flushed = len(self._chunks)
        self._write(_render_all(pending))

    def where(self) -> str:
        """Where the full transcript is, for failure messages."""
        self.flush()
        if self.path is None:
            return "not kept on disk"
        return f"{self.path} (section '=== {self._label}')" if self._label else str(self.path)

    def _write(self, text: str) -> None:
        if self.path is not None and text:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as log:
                log.write(text)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


def _render_all(chunks: list[tuple[str, bytearray]]) -> str:
    """Renders chunks in order; a program the host sent in raw-paste windows reads as one
    text, the board's window acknowledgements (0x01, "send another window") shown after it."""
    folded: list[tuple[str, bytes]] = []
    acks = 0
    for direction, data in chunks:
        if direction == "board" and folded and folded[-1][0] == "host":
            rest = bytes(data).lstrip(b"\x01")
            acks += len(data) - len(rest)
            if not rest:
                continue
            data = bytearray(rest)
        if direction == "host" and folded and folded[-1][0] == "host":
            folded[-1] = ("host", folded[-1][1] + bytes(data))
            continue
        if acks:
            folded.append(("board", b"\x01" * acks))
            acks = 0
        folded.append((direction, bytes(data)))
    if acks:
        folded.append(("board", b"\x01" * acks))
    return "".join(_render(direction, data) for direction, data in folded)


def _render(direction: str, data: bytes) -> str:
    """Lines as `host| text` / `board| text`, each raw-REPL 0x04 ending one; a long line
    of binary bytes is summarised."""
    rendered = []
    for raw in data.replace(b"\r\n", b"\n").replace(b"\x04", b"\x04\n").split(b"\n"):
        if not raw:
            continue
        try:
            text = raw.decode("utf-8")
            binary = len(_CONTROL.findall(text))
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "backslashreplace")
            binary = sum(byte not in _TEXT_BYTES for byte in raw)
        if len(raw) > 32 and binary * 4 > len(raw):
            line = f"<{len(raw)} bytes of binary data>"
        else:
            line = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
        rendered.append(f"{direction}| {line}\n")
    return "".join(rendered)


class RecordingSerial:
    """A pyserial port that copies every byte read or written into a Transcript."""

    def __init__(self, port: serial.Serial, transcript: Transcript) -> None:
        object.__setattr__(self, "_port", port)
        object.__setattr__(self, "_transcript", transcript)

    def read(self, size: int = 1) -> bytes:
        data = self._port.read(size)
        self._transcript.record("board", data)
        return data

    def write(self, data: bytes) -> int | None:
        self._transcript.record("host", bytes(data))
        return self._port.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._port, name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._port, name, value)
