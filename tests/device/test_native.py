# ember: device
"""Which Pipe and Signal the runtime took: the C ones where _ember is installed (pytest
--ember-native puts it in /lib), the Python ones otherwise; the same tests run both ways."""

import ember


def _native():
    try:
        import _ember
    except ImportError:
        return None
    return _ember


def test_the_runtime_takes_the_native_streams_exactly_when_they_are_there():
    native = _native()
    if native is None:
        assert type(ember.Pipe).__name__ == "type" and ember.Pipe.__name__ == "Pipe"
        assert ember.Pipe.__module__ != "_ember"
    else:
        assert ember.Pipe is native.Pipe and ember.Signal is native.Signal


def test_the_loop_sets_and_reads_the_streams_fields():
    p = ember.Pipe(8)
    assert (p._em, p._qd) == (0, 0)
    ember.set_read_handler(p, lambda s: None)
    assert p._em == 1  # POLLIN: the loop has a reader for it
    ember.set_read_handler(p, None)
    assert p._em == 0

