"""The ember pytest plugin, run in pytest subprocesses against virtual boards."""

from __future__ import annotations

import os
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from host_tools.sim import registry
from host_tools.sim.launcher import VirtualBoard

Run = Callable[..., pytest.RunResult]
SUPERVISOR = "host_tools.sim.supervisor"


def _supervisors(runtime_dir: Path) -> set[int]:
    """Live virtual-board supervisors whose environment names this runtime directory."""
    marker = f"EMBER_RUNTIME_DIR={runtime_dir}".encode()
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if SUPERVISOR.encode() not in (proc / "cmdline").read_bytes():
                continue
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.add(int(proc.name))
        except OSError:
            continue
    return found


@pytest.fixture
def run(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Runs pytest in a subprocess with its own virtual-board registry, and checks that every
    virtual board it started is gone when it returns."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    monkeypatch.setenv("EMBER_RUNTIME_DIR", str(runtime))
    # Under xdist this test runs in a worker whose name the inner pytest would inherit and
    # take for its own (gw1 then looks for a second --ember-port entry): it is not one.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)

    def go(*args: str, timeout: float = 120, keep: Iterable[int] = ()) -> pytest.RunResult:
        """`keep`: supervisors started by the test itself, not by the pytest run."""
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=timeout)
        assert _supervisors(runtime) <= set(keep), "a virtual board outlived its pytest run"
        assert {r.pid for r in registry.running()} <= set(keep), "a virtual board is registered"
        return result

    return go


def device_module(pytester: pytest.Pytester, name: str, body: str) -> Path:
    return pytester.makepyfile(**{name: "# ember: device\n" + textwrap.dedent(body)})


def test_device_tests_pass_and_cpython_never_imports_them(
    pytester: pytest.Pytester, run: Run
) -> None:
    device_module(pytester, "test_ok", """
        import micropython  # no such module in CPython: importing it there would fail
        import ember


        def test_runtime_is_installed():
            assert ember.Pipe


        def test_arithmetic():
            assert micropython.const(3) + 1 == 4


        def helper_not_collected():
            raise AssertionError
    """)
    result = run("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_ok.py::test_runtime_is_installed PASSED*"])


def test_failing_assert_shows_message_and_device_line(
    pytester: pytest.Pytester, run: Run
) -> None:
    device_module(pytester, "test_bad", """
        def double(x):
            return x * 2


        def test_double():
            got = double(3)
            assert got == 7, "double(3) gave %d" % got
    """)
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "test_bad.py:9: AssertionError: double(3) gave 6  [on the board: /tests/test_bad.py]",
        '  File "test_bad.py", line 9, in test_double',
        '    assert got == 7, "double(3) gave %d" % got',
    ])


def test_errors_and_memory_error_are_reported_and_the_board_recovers(
    pytester: pytest.Pytester, run: Run
) -> None:
    device_module(pytester, "test_err", """
        def test_key_error():
            {}["missing"]


        def test_memory():
            bytearray(10**9)


        def test_after_memory_error():
            assert bytearray(1000)
    """)
    result = run()
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines([
        "test_err.py:4: KeyError: missing*",
        "test_err.py:8: MemoryError: memory allocation failed*(heap 230112 bytes*",
    ])


def test_hanging_tests_time_out_and_the_next_one_passes(
    pytester: pytest.Pytester, run: Run
) -> None:
    device_module(pytester, "test_hang", """
        import micropython


        def test_forever():
            while True:
                pass


        def test_deaf_to_ctrl_c():
            micropython.kbd_intr(-1)
            while True:
                pass


        def test_next():
            import ember
            assert 1 + 1 == 2
    """)
    result = run("--ember-timeout", "2", "-v")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines([
        "*test_hang.py::test_forever FAILED*",
        "*test_hang.py::test_deaf_to_ctrl_c FAILED*",
        "*test_hang.py::test_next PASSED*",
        "Timeout: test_forever did not finish within 2 s (--ember-timeout); stopped with Ctrl-C",
        "Timeout: test_deaf_to_ctrl_c did not finish within 2 s (--ember-timeout); Ctrl-C did"
        " not stop it: the board is reset before the next test",
    ])


def test_board_fixture_api(pytester: pytest.Pytester, run: Run) -> None:
    pytester.makepyfile(test_api='''
        import re

        import pytest

        from host_tools.testing.board import DeviceTimeout
        from host_tools.errors import DeviceError


        def test_exec_and_eval(board):
            assert board.exec("print(1 + 1)") == "2\\n"
            assert board.eval("[1, 'a', None, b'x']") == [1, "a", None, b"x"]
            with pytest.raises(DeviceError, match="ZeroDivisionError"):
                board.exec("1 / 0")
            board.exec("leftover = 1")


        def test_each_test_gets_fresh_globals(board):
            assert board.eval("'leftover' in globals()") is False


        def test_push_is_incremental(board, tmp_path):
            (tmp_path / "mod_x.py").write_text("VALUE = 42\\n")
            assert board.push(tmp_path / "mod_x.py", dest="/lib").sent == ["/lib/mod_x.py"]
            assert board.eval("__import__('mod_x').VALUE") == 42
            assert board.push(tmp_path / "mod_x.py", dest="/lib").sent == []


        def test_reset(board):
            board.exec("import sys\\nsys.modules['marker'] = sys")
            board.reset()
            assert board.eval("'marker' in __import__('sys').modules") is False
            board.reset(soft=False)
            assert board.eval("1 + 1") == 2


        def test_start_and_expect(board):
            board.start("import time\\nfor i in range(3):\\n    print('tick', i)\\n"
                        "    time.sleep_ms(20)\\n")
            assert board.expect(r"tick (\\d)").group(1) == "0"
            assert board.expect(re.compile(r"tick 2")).group() == "tick 2"
            assert board.wait() == "\\n"


        def test_a_hanging_exec_is_stopped(board):
            with pytest.raises(DeviceTimeout):
                board.exec("while True: pass", timeout=0.5)
            assert board.eval("2 * 3") == 6


        def test_uart_loopback(board):
            host = board.uart(1)
            board.exec("import machine\\nu = machine.UART(1, timeout=2000)")
            host.write(b"ping\\n")
            assert board.eval("u.readline()") == b"ping\\n"
            board.exec("u.write(b'pong')")
            assert host.read(4) == b"pong"


        def test_profile(board):
            assert board.profile.name == "rp2-pico"
    ''')
    run().assert_outcomes(passed=8)


def test_expect_failure_says_pattern_tail_and_transcript(
    pytester: pytest.Pytester, run: Run
) -> None:
    pytester.makepyfile(test_exp='''
        def test_expect_never(board):
            board.start("print('hello there')\\nwhile True: pass")
            board.expect("goodbye", timeout=0.5)
    ''')
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*expected /goodbye/ on *: not within 0.5 s; got (last 600 chars):*",
        "*'hello there\\r\\n'*",  # the board's own line end
        "*full transcript: *ember-transcripts*.log"
        " (section '=== test_exp.py::test_expect_never')*",
    ])


def test_boards_are_cross_wired(pytester: pytest.Pytester, run: Run) -> None:
    pytester.makepyfile(test_multi='''
        def test_two_boards_talk(boards):
            a, b = boards(2)
            assert a.port != b.port
            for one in (a, b):
                one.exec("import machine\\nu = machine.UART(1, timeout=2000)")
            a.exec("u.write(b'hello')")
            assert b.eval("u.read(5)") == b"hello"
            b.exec("u.write(b'back')")
            assert a.eval("u.read(4)") == b"back"
            assert a.eval("__import__('ember').__name__") == "ember"
    ''')
    run().assert_outcomes(passed=1)


def test_failing_transcript_is_attached_and_junitxml_written(
    pytester: pytest.Pytester, run: Run
) -> None:
    device_module(pytester, "test_mix", """
        def test_good():
            pass


        def test_says_then_fails():
            print("about to fail")
            assert False, "on purpose"
    """)
    xml = pytester.path / "junit.xml"
    result = run(f"--junitxml={xml}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*- ember transcript * (full: *ember-transcripts*.log*) -*",
        "host| *fresh_call*(globals(), *",
        "board| about to fail",
    ])
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failure = suite.find("testcase[@name='test_says_then_fails']/failure")
    assert failure is not None and "on purpose" in (failure.get("message") or "")


def test_each_xdist_worker_gets_its_own_board(pytester: pytest.Pytester, run: Run) -> None:
    pytester.makepyfile(test_workers='''
        import os

        import pytest


        @pytest.mark.parametrize("n", range(4))
        def test_state(board, n, tmp_path_factory):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            out = tmp_path_factory.getbasetemp().parent / f"state-{worker}-{n}"
            out.write_text(board.sim.record.state_dir)
    ''')
    # --dist each: every worker runs all four, so both take part however the load falls
    # (with load balancing, a worker slow to start on a busy machine may get none).
    # A board is known by its state folder: a pty's number is reused once a worker that
    # finished first has stopped its board.
    result = run("-n", "2", "--dist", "each")
    result.assert_outcomes(passed=8)
    states: dict[str, set[str]] = {}
    for path in pytester.path.rglob("state-gw*"):
        states.setdefault(path.name.split("-")[1], set()).add(path.read_text())
    assert len(states) == 2 and all(len(s) == 1 for s in states.values()), states
    assert len(set.union(*states.values())) == 2


def test_ember_port_uses_a_given_board(pytester: pytest.Pytester, run: Run) -> None:
    pytester.makepyfile(test_given='''
        import pytest

        from host_tools.errors import LinkError


        def test_on_the_given_port(board, pytestconfig):
            assert board.port == pytestconfig.getoption("ember_port")
            assert board.eval("1 + 2") == 3
            with pytest.raises(LinkError, match="--ember-uart 1=PORT"):
                board.uart(1)
    ''')
    with VirtualBoard("rp2-pico", baud=None) as given:
        assert given.record is not None
        result = run(f"--ember-port={given.port}", keep={given.record.pid})
        assert os.path.exists(given.port)
    result.assert_outcomes(passed=1)
