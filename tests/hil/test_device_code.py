"""Device code sent as functions of firmware/ files, run on the interpreter of a board."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from host_tools.boards.profiles import load_profile, sys_platform
from host_tools.errors import DeviceError
from host_tools.link import device_code
from host_tools.link.session import Link
from host_tools.paths import FIRMWARE_DIR
from host_tools.sim.launcher import VirtualBoard

PROBE = "host/probe.py"
RUNNER = "host/runner.py"
FS = "host/fs.py"


def test_compaction_drops_docstrings_and_comments_but_not_code() -> None:
    text = device_code.compacted(RUNNER)
    assert '"""' not in text and "# ember" not in text
    assert "def fresh_call(" in text
    assert len(text) < len((FIRMWARE_DIR / RUNNER).read_text())
    assert device_code.compacted(RUNNER) is text  # compacted once per file


def test_functions_run_on_the_board_and_leave_its_globals_clean(sim: VirtualBoard,
                                                               board_name: str) -> None:
    with Link(sim.port) as link:
        before = link.eval("sorted(globals())")
        platform = sys_platform(load_profile(board_name))  # "rp2" on the default board
        assert device_code.call(link, PROBE, "sys_platform") == platform
        mpy = device_code.call(link, PROBE, "sys_mpy")
        assert isinstance(mpy, int) and mpy & 0xFF == 6
        assert link.eval("sorted(globals())") == before


def test_arguments_results_and_errors_cross_as_literals(sim: VirtualBoard) -> None:
    data = bytes(range(256)) * 3
    with Link(sim.port) as link:
        link.exec(f"with open('/blob.bin', 'wb') as f:\n    f.write({data!r})")
        assert device_code.call(link, FS, "sha256", "/blob.bin") == \
            hashlib.sha256(data).hexdigest()
        held = device_code.call(link, RUNNER, "files_with_digests")
        assert held == {"/blob.bin": hashlib.sha256(data).hexdigest()}
        with pytest.raises(DeviceError) as caught:
            device_code.call(link, FS, "sha256", "/no/such/file")
        assert caught.value.kind == "OSError" and caught.value.errno == 2
        assert link.eval("'_ember_ns' in globals()") is False  # dropped after the error


def test_a_kept_module_is_sent_once_and_defined_again_after_a_soft_reset(
    sim: VirtualBoard,
) -> None:
    sent: list[str] = []
    with Link(sim.port) as link:
        real = link.exec

        def counting(code: str | bytes, **kwargs: object) -> bytes:
            sent.append(code if isinstance(code, str) else code.decode())
            return real(code, **kwargs)  # type: ignore[arg-type]

        link.exec = counting  # type: ignore[method-assign]
        names = device_code.call(link, RUNNER, "module_names", keep=True)
        assert isinstance(names, list)
        first = len(sent)
        device_code.call(link, RUNNER, "module_names", keep=True)
        assert len(sent) == first + 1 and "def " not in sent[-1]  # called, not sent again
        link.raw_repl(soft_reset=True)
        assert device_code.call(link, RUNNER, "module_names", keep=True) is not None
        device_code.forget(link, RUNNER)
        assert link.eval("len(__import__('sys').modules['_ember_dc'])") == 0


def test_fresh_state_empties_the_repl_and_unloads_new_modules(sim: VirtualBoard) -> None:
    with Link(sim.port) as link:
        keep = device_code.call(link, RUNNER, "module_names")
        link.exec("import json\nleft_over = 1")
        device_code.output_of(link, RUNNER, "fresh", device_code.GLOBALS, keep)
        assert link.eval("'left_over' in globals() or 'json' in __import__('sys').modules") \
            is False
        assert link.eval("__name__") == "__main__"


def test_the_firmware_files_sent_are_real_modules() -> None:
    # Each file device_code sends must also be importable as written (no placeholders).
    for relative in ("host/probe.py", "host/runner.py", "host/romfs.py", "boot_guard.py",
                     "uncount_boot.py", "frozen_runtime.py", "push/quickstart.py"):
        compile((FIRMWARE_DIR / relative).read_text(), relative, "exec")
    assert "TAG" not in Path(FIRMWARE_DIR / "push" / "quickstart.py").read_text()
