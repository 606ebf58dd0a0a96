"""A transcript renders what passed as lines a person reads: a program as sent, not windows."""

from __future__ import annotations

from host_tools.testing.transcript import Transcript


def test_a_program_sent_in_raw_paste_windows_reads_as_one_text() -> None:
    transcript = Transcript()
    transcript.record("host", b"x = 1\ny = ")
    transcript.record("board", b"\x01")
    transcript.record("host", b"2\nprint(x + y)\n\x04")
    transcript.record("board", b"\x01\x01")
    transcript.record("board", b"\x04" + b"3\r\n\x04\x04>")
    lines = transcript.text().splitlines()
    assert lines[:3] == ["host| x = 1", "host| y = 2", "host| print(x + y)"]
    assert lines[3] == "host| \\x04"
    assert "board| \\x01\\x01\\x01" in lines  # every acknowledgement is still shown
    assert "board| 3" in lines


def test_binary_and_control_bytes_are_escaped_or_summarised() -> None:
    transcript = Transcript()
    transcript.record("board", bytes(range(256)))
    transcript.record("host", b"\x03\x02")
    text = transcript.text()
    assert "bytes of binary data>" in text
    assert "host| \\x03\\x02" in text
