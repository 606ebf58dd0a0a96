"""Native module builds (host_tools/mpy/natmod.py): which folders are modules, and errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from host_tools.errors import CommandError
from host_tools.install import micropython_source
from host_tools.mpy import compiler, natmod

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "native_stream" / "app"


def test_a_folder_whose_makefile_includes_dynruntime_is_a_module() -> None:
    assert natmod.is_native_module(EXAMPLE / "irqring")
    assert natmod.module_name(EXAMPLE / "irqring") == "irqring"
    assert not natmod.is_native_module(EXAMPLE)  # the program beside it is not


def test_an_unknown_arch_or_a_missing_compiler_is_a_clear_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(natmod.NativeBuildError, match="cannot be built for 'z80'"):
        natmod.check_toolchain("z80")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(natmod.NativeBuildError, match="needs arm-none-eabi-gcc"):
        natmod.check_toolchain("armv7m")


def test_a_board_without_native_code_refuses_a_native_module(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE, app)
    with pytest.raises(CommandError, match="board runs no native code"):
        compiler.build([app], compiler.Target(6, 3, None), tmp_path / "out")


def test_the_build_is_cached_and_leaves_the_folder_alone(tmp_path: Path) -> None:
    try:
        source = micropython_source.resolve(None)
        first = natmod.build(EXAMPLE / "irqring", "x86", source)
    except (CommandError, natmod.NativeBuildError) as error:
        pytest.skip(str(error))
    assert compiler.read_mpy_header(first).arch == "x86"
    assert natmod.build(EXAMPLE / "irqring", "x86", source) == first  # from the cache
    assert sorted(p.name for p in (EXAMPLE / "irqring").iterdir()) == [
        "Makefile", "irqring.c", "micropython.mk"]  # nothing built in the folder
