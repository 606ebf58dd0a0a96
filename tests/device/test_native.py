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



def test_the_loop_runs_in_c_exactly_when_the_native_module_is_there():
    from ember import core

    native = _native()
    assert (core._cr is None) == (native is None)
    if native is not None:
        assert core._cr is native.run


def test_a_python_stream_of_ember_kind_is_served_by_either_loop():
    # A stream written in Python with the loop's fields (_em, _qd, _deliver) and a C Pipe
    # side by side: the loop (C or Python) treats both the same.
    import io

    from ember import core

    class Flag(io.IOBase):
        def __init__(self):
            self._em = 0
            self._qd = 0
            self.up = False

        def _deliver(self, mask):
            up = self.up
            self.up = False
            return mask & 1 if up else 0

        def ioctl(self, req, arg):
            return (1 | (arg & 128)) if req == 3 and self.up and arg & 1 else 0

    f = Flag()
    p = ember.Pipe(8)
    seen = []

    def on_pipe(s):
        seen.append(s.read())
        f.up = True
        core.wake(f, 1)

    def on_flag(s):
        seen.append("flag")
        ember.stop()

    ember.set_read_handler(p, on_pipe)
    ember.set_read_handler(f, on_flag)
    p.write(b"hi")
    ember.run()
    ember.set_read_handler(p, None)
    ember.set_read_handler(f, None)
    assert seen == [b"hi", "flag"] and f._qd == 0, (seen, f._qd)
