"""`ember watch` on a board at 115200 baud: every save is pushed and run, a running app is
stopped for new code, a syntax error waits for the fix, and Ctrl-C leaves cleanly."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

from host_tools.sim.launcher import VirtualBoard
from tests.hil.test_cli import EMBER, ember

DEADLINE_S = 60.0


class Reader:
    """A child's stdout and stderr, read as they come, with deadlines."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.selector = selectors.DefaultSelector()
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            self.selector.register(stream, selectors.EVENT_READ)
        self.seen = b""

    def expect(self, wanted: bytes, timeout: float = DEADLINE_S) -> float:
        """Waits for `wanted` after what expect() matched before; returns when it came."""
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {wanted!r}, got {self.seen[-400:]!r}")
            for key, _ in self.selector.select(min(remaining, 0.5)):
                self.seen += key.fileobj.read() or b""  # type: ignore[union-attr]
        at = time.monotonic()
        self.seen = self.seen[self.seen.index(wanted) + len(wanted):]
        return at


def test_each_save_is_pushed_and_run_and_ctrl_c_stops(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "helper.py").write_text("WORD = 'one'\n")
    main = app / "main.py"
    main.write_text("import helper\nprint('v1', helper.WORD)\n")
    with VirtualBoard("rp2-pico", baud=115200) as board:
        process = subprocess.Popen([EMBER, "--port", board.port, "watch", str(app),
                                    "--build-dir", str(tmp_path / "build")],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out = Reader(process)
            out.expect(b"v1 one")
            saved = time.monotonic()
            (app / "helper.py").write_text("WORD = 'two'\n")
            latency = out.expect(b"v1 two") - saved
            # an app that runs forever is stopped for the next version
            main.write_text(  # the board's app idles in its own loop, not the test
                "import time\nprint('v2 up')\nwhile True:\n    time.sleep(1)\n")  # sleep-ok
            out.expect(b"v2 up")
            main.write_text("print('v3 (\n")  # a syntax error: said, then the next save
            out.expect(b"main.py:1")
            main.write_text("print('v3 fixed')\n")
            out.expect(b"v3 fixed")
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0
            out.expect(b"watch stopped")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        assert ember("--port", board.port, "exec", "print(1 + 1)").stdout.strip() == "2"
    print(json.dumps({"watch_edit_to_output_s_115200": round(latency, 3)}))
