"""Link internals that need no board: what mpremote's transport prints goes into errors."""

from __future__ import annotations

import pytest
from mpremote.transport import TransportError

from host_tools.link.session import _Transport


class _FakeSerial:
    """Answers the raw-paste request with bytes that are not a raw-paste answer."""

    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes) -> int:
        self.written += data
        return len(data)

    def read(self, n: int) -> bytes:
        return b"??"[:n]


def test_a_failed_raw_paste_handshake_is_an_error_not_stdout(
        capsys: pytest.CaptureFixture[str]) -> None:
    transport = _Transport.__new__(_Transport)  # no port: only the handshake is exercised
    transport.serial = _FakeSerial()
    transport.use_raw_paste = True
    answers = iter([b">", b"garbage, no banner"])
    transport.read_until = lambda *args, **kwargs: next(answers)  # type: ignore[method-assign]
    with pytest.raises(TransportError, match="could not enter raw repl.*garbage, no banner"):
        transport.exec_raw_no_follow("print(1)")
    assert capsys.readouterr().out == ""  # mpremote's print(data) did not reach the user
