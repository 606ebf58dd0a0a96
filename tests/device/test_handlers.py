# ember: device
"""Read/write handlers on Pipes: dispatch, replacement, removal, errors, stop, idle."""

import ember
from ember import core, diag, timers  # noqa: F401 - timers loaded before the tests


def test_reader_runs_when_data_arrives():
    p = ember.Pipe(32)
    got = []
    ember.set_read_handler(p, lambda s: got.append(s.read()))
    ember.set_timeout(lambda _: p.write(b"one"), 5)
    ember.set_timeout(lambda _: p.write(b"two"), 30)
    ember.set_timeout(lambda _: ember.set_read_handler(p, None), 60)
    ember.run()
    assert got == [b"one", b"two"], got


def test_setting_again_replaces_and_none_removes():
    p = ember.Pipe(32)
    got = []
    ember.set_read_handler(p, lambda s: got.append(("a", s.read())))

    def swap(_):
        ember.set_read_handler(p, lambda s: got.append(("b", s.read())))
        p.write(b"2")

    def remove(_):
        ember.set_read_handler(p, None)
        p.write(b"3")  # nobody reads it now

    ember.set_timeout(lambda _: p.write(b"1"), 5)
    ember.set_timeout(swap, 30)
    ember.set_timeout(remove, 60)
    ember.run()  # returns: the only handler was removed and no timer is left
    assert got == [("a", b"1"), ("b", b"2")], got
    assert core._nh == 0 and p not in core._rd
    assert p.read() == b"3"


def test_write_handler_fills_a_pipe_and_level_triggering_repeats_it():
    p = ember.Pipe(8)
    sent = []

    def writer(s):
        n = s.write(b"abc")
        sent.append(n)
        if len(sent) == 3:  # 3 + 3 + 2 bytes: full
            ember.set_write_handler(s, None)

    ember.set_write_handler(p, writer)
    ember.run()
    assert sent == [3, 3, 2], sent
    assert p.read() == b"abcabcab"


def test_reader_and_writer_on_the_same_stream():
    p = ember.Pipe(4)
    log = []
    got = bytearray()

    def writer(s):
        s.write(b"xy")
        log.append("w")
        if log.count("w") == 3:
            ember.set_write_handler(s, None)

    def reader(s):
        got.extend(s.read())
        if len(got) == 6:
            ember.set_read_handler(s, None)

    ember.set_write_handler(p, writer)
    ember.set_read_handler(p, reader)
    ember.run()
    assert log.count("w") == 3 and got == b"xy" * 3, (log, got)


def test_pipe_fifo_wraps_and_compacts():
    p = ember.Pipe(8)
    buf = bytearray(3)
    assert p.write(b"12345") == 5
    assert p.readinto(buf) == 3 and buf == b"123"
    assert p.write(b"6789abc") == 6  # 2 held + 6: full; data moved to the front
    assert p.write(b"z") is None  # full: would block
    assert p.read(4) == b"4567"
    assert p.read() == b"89ab"
    assert p.read() is None and p.readinto(buf) is None  # empty: would block
    assert p.write(b"hello", 1, 3) == 3 and p.read() == b"ell"


def test_pipe_close_gives_eof_to_the_reader():
    p = ember.Pipe(16)
    got = []

    def reader(s):
        data = s.read()
        got.append(data)
        if data == b"":
            ember.set_read_handler(s, None)

    ember.set_read_handler(p, reader)
    ember.set_timeout(lambda _: p.write(b"last"), 5)
    ember.set_timeout(lambda _: p.close(), 30)
    ember.run()
    assert got == [b"last", b""], got
    try:
        p.write(b"x")
    except OSError:
        pass
    else:
        raise AssertionError("write after close")


def test_raising_handler_is_reported_and_others_keep_running():
    errors = []
    diag.set_error_handler(lambda e, where: errors.append((type(e), where)))
    p = ember.Pipe(8)
    q = ember.Pipe(8)
    got = []

    def bad(s):
        s.read()
        raise ValueError("boom")

    ember.set_read_handler(p, bad)
    ember.set_read_handler(q, lambda s: got.append(s.read()))
    ember.set_timeout(lambda _: 1 / 0, 1)
    for i in range(3):
        ember.set_timeout(lambda _: (p.write(b"x"), q.write(b"y")), 5 + 25 * i)
    ember.set_timeout(
        lambda _: (ember.set_read_handler(p, None), ember.set_read_handler(q, None)), 90
    )
    ember.run()
    assert got == [b"y", b"y", b"y"], got
    assert [t for t, _ in errors] == [ZeroDivisionError] + [ValueError] * 3, errors
    assert errors[1][1] is bad


def test_default_report_prints_the_traceback():
    printed = []

    class FakeSys:
        def print_exception(self, e):
            printed.append(e)

    diag.sys = FakeSys()  # the default report goes through sys.print_exception
    try:
        ember.set_timeout(lambda _: [][1], 1)
        ember.set_timeout(printed.append, 5, "after")
        ember.run()
    finally:
        diag.sys = __import__("sys")
    assert type(printed[0]) is IndexError and printed[1] == "after", printed


def test_stop_returns_from_run_and_run_resumes():
    got = []
    h = ember.set_interval(got.append, 2, "i")

    def halt(_):
        got.append("stop")
        ember.stop()

    ember.set_timeout(halt, 7)
    ember.run()
    assert got[-1] == "stop" and "i" in got, got  # nothing ran after stop()
    n = len(got)
    ember.set_timeout(lambda _: ember.clear_timeout(h), 10)
    ember.run()  # the interval still runs until cleared
    assert got[n:] and set(got[n:]) == {"i"}, got


def test_run_returns_when_idle():
    ember.run()  # nothing at all: returns at once
    p = ember.Pipe(4)
    ember.set_read_handler(p, lambda s: s.read())
    ember.set_timeout(lambda _: ember.set_read_handler(p, None), 5)
    ember.run()  # returns once the last handler and timer are gone
    assert core._nh == 0 and core._tn == 0 and core._qn == 0


def test_wake_is_not_needed_for_external_writes():
    # A write made outside the loop (here: before run) is found by poll.
    p = ember.Pipe(8)
    got = []
    p.write(b"early")

    def reader(s):
        got.append(s.read())
        ember.set_read_handler(s, None)

    ember.set_read_handler(p, reader)
    ember.run()
    assert got == [b"early"], got


def test_stats_count_events_and_lag():
    ember.set_timeout(lambda _: None, 1)
    ember.run()
    st = ember.stats()
    assert st["events"] >= 1 and st["lag_max_ms"] >= 0 and st["timers"] == 0, st


def test_a_write_after_close_is_epipe_and_the_rest_is_still_read():
    p = ember.Pipe(8)
    assert p.write(b"abc") == 3
    p.close()
    p.close()  # idempotent
    try:
        p.write(b"d")
    except OSError as e:
        assert e.args[0] == 32  # EPIPE
    else:
        raise AssertionError("a write after close")
    assert p.read() == b"abc" and p.read() == b""
