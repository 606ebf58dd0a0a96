"""Tests of host_tools.mpy.compiler with the real mpy-cross binaries and the real interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.boards.profiles import load_profile
from host_tools.errors import CommandError
from host_tools.mpy import compiler
from host_tools.mpy.compiler import (
    ARCH_NAMES,
    INDEX_NAME,
    V5_CACHE_LOOKUP,
    V5_UNICODE,
    CompileError,
    IncompatibleMpyError,
    Target,
    build,
    check_compatible,
    compile_file,
    read_mpy_header,
    select_compiler,
)

MICROPYTHON = Path(sys.executable).with_name("micropython")

PLAIN = "X = 40\n\ndef answer():\n    return X + 2\n"
NATIVE = "import micropython\n\n@micropython.native\ndef answer():\n    return 42\n"

needs_micropython = pytest.mark.skipif(
    not MICROPYTHON.exists(), reason="the micropython interpreter is not in the venv"
)


@pytest.fixture(autouse=True, scope="module")
def _private_compiler_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Executable copies of the wheel's archived compilers go here, not into ~/.cache.
    previous = os.environ.get(compiler.CACHE_DIR_ENV)
    os.environ[compiler.CACHE_DIR_ENV] = str(tmp_path_factory.mktemp("ember-cache"))
    yield
    if previous is None:
        os.environ.pop(compiler.CACHE_DIR_ENV, None)
    else:
        os.environ[compiler.CACHE_DIR_ENV] = previous


def run_micropython(path_dir: Path, code: str) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys; sys.path.insert(0, {str(path_dir)!r}); "
    return subprocess.run(
        [str(MICROPYTHON), "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture(scope="module")
def host_sys_mpy() -> int:
    if not MICROPYTHON.exists():
        pytest.skip("the micropython interpreter is not in the venv")
    proc = run_micropython(Path("."), "print(sys.implementation._mpy)")
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


@pytest.fixture(scope="module")
def host_target(host_sys_mpy: int) -> Target:
    # The unix interpreter is 64-bit: its small ints are 63 bits wide.
    return Target.from_sys_mpy(host_sys_mpy, small_int_bits=63)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def header_bytes(path: Path) -> bytes:
    return path.read_bytes()[:4]


# --- targets and headers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2822, Target(6, 3, "x64")),  # this interpreter: 6 | (3 | 2 << 2) << 8
        (6 | 1 << 8 | 9 << 10, Target(6, 1, "xtensa")),
        (6 | 3 << 8 | 10 << 10, Target(6, 3, "xtensawin")),
        (6 | 2 << 8 | 4 << 10, Target(6, 2, "armv6m")),
        (6 | 3 << 8 | 11 << 10, Target(6, 3, "rv32imc")),
        (6, Target(6, 0, None)),
        (5 | 2 << 8 | 7 << 10, Target(5, 0, "armv7emsp", v5_flags=V5_UNICODE)),
        (5 | 3 << 8, Target(5, 0, None, v5_flags=V5_UNICODE | V5_CACHE_LOOKUP)),
    ],
)
def test_from_sys_mpy_decodes_version_sub_version_and_arch(value: int, expected: Target) -> None:
    target = Target.from_sys_mpy(value)
    assert target == expected
    assert target.to_sys_mpy() == value


@pytest.mark.parametrize("index", range(len(ARCH_NAMES)))
def test_every_arch_index_round_trips(index: int) -> None:
    value = 6 | (3 | index << 2) << 8
    target = Target.from_sys_mpy(value)
    assert target.arch == ARCH_NAMES[index]
    assert target.to_sys_mpy() == value


def test_unknown_arch_index_is_an_error() -> None:
    with pytest.raises(CommandError, match="arch #15"):
        Target.from_sys_mpy(6 | (3 | 15 << 2) << 8)


def test_target_validation_and_parse() -> None:
    assert Target.parse("6.1", "xtensa") == Target(6, 1, "xtensa")
    assert Target.parse("v6") == Target(6, 0)
    assert Target.parse("5").mpy == "5"
    assert str(Target(6, 1, "xtensa")) == ".mpy v6.1 (MicroPython 1.20-1.21), xtensa"
    with pytest.raises(CommandError, match="unknown .mpy architecture"):
        Target(6, 3, "z80")
    with pytest.raises(CommandError, match="sub-version"):
        Target.parse("6.4")
    with pytest.raises(CommandError, match="not an .mpy version"):
        Target.parse("latest")


def test_for_profile_uses_current_version_and_profile_arch() -> None:
    target = Target.for_profile(load_profile("esp32-generic"))
    assert (target.version, target.sub_version, target.arch) == (6, 3, "xtensawin")


@needs_micropython
def test_header_of_native_output_matches_the_interpreters_sys_mpy(
    tmp_path: Path, host_sys_mpy: int, host_target: Target
) -> None:
    src = write(tmp_path / "src" / "fast.py", NATIVE)
    out = compile_file(src, host_target, tmp_path / "out", root=tmp_path / "src")
    version, sub_version, arch = read_mpy_header(out)
    assert Target(version, sub_version, arch) == Target.from_sys_mpy(host_sys_mpy)
    assert version | (sub_version | ARCH_NAMES.index(arch) << 2) << 8 == host_sys_mpy
    proc = run_micropython(out.parent, "import fast; print(fast.answer())")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "42"


# --- compiler choice --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mpy", "label"),
    [("6.3", "v1.29.0"), ("6.2", "v1.22.0"), ("6.1", "v1.20.0"), ("6", "v1.19"), ("5", "v1.12")],
)
def test_each_supported_mpy_version_has_a_compiler(mpy: str, label: str) -> None:
    chosen = select_compiler(Target.parse(mpy))
    assert chosen.mpy == mpy
    assert chosen.label.startswith(label[:5])  # the wheel's newest may move past 1.29
    assert os.access(chosen.path, os.X_OK)


def test_compilers_know_their_march_values() -> None:
    assert "rv32imc" in select_compiler(Target(6, 3)).arches
    assert "armv6m" in select_compiler(Target(6, 1)).arches
    assert "armv6m" not in select_compiler(Target(5)).arches  # mpy-cross 1.12 lacks it


@pytest.mark.parametrize(("mpy", "advice"), [("4", "flash newer firmware"), ("7", "upgrade")])
def test_no_fitting_compiler_says_so_and_offers_source(mpy: str, advice: str) -> None:
    with pytest.raises(CompileError) as caught:
        select_compiler(Target.parse(mpy, "xtensa"))
    message = str(caught.value)
    assert f".mpy v{mpy}" in message
    assert "--source" in message
    assert advice in message


def test_building_for_an_unserved_version_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path / "src" / "mod.py", PLAIN)
    with pytest.raises(CompileError, match="--source"):
        build([tmp_path / "src"], Target(4, arch="xtensa"), tmp_path / "out")
    assert not (tmp_path / "out" / "mod.mpy").exists()


# --- compiling --------------------------------------------------------------------------------


@needs_micropython
def test_compiled_module_loads_on_the_interpreter(tmp_path: Path, host_target: Target) -> None:
    src = write(tmp_path / "src" / "mod.py", PLAIN)
    out = compile_file(src, host_target, tmp_path / "out", root=tmp_path / "src")
    assert out == tmp_path / "out" / "mod.mpy"
    assert header_bytes(out)[:2] == b"M\x06"
    proc = run_micropython(out.parent, "import mod; print(mod.__file__, mod.answer())")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(out), "42"]


@needs_micropython
def test_traceback_names_the_source_path_relative_to_the_root(
    tmp_path: Path, host_target: Target
) -> None:
    src = write(tmp_path / "src" / "pkg" / "boom.py", "def go():\n    raise ValueError(7)\n")
    write(tmp_path / "src" / "pkg" / "__init__.py", "")
    out_dir = tmp_path / "out"
    build([tmp_path / "src"], host_target, out_dir)
    assert (out_dir / "pkg" / "boom.mpy").exists()
    proc = run_micropython(out_dir, "import pkg.boom; pkg.boom.go()")
    # The unix port prints uncaught tracebacks of -c code on stdout.
    assert 'File "pkg/boom.py", line 2, in go' in proc.stdout + proc.stderr
    assert src.exists()


@needs_micropython
@pytest.mark.parametrize("mpy", ["6", "6.1", "6.2"])
def test_older_v6_bytecode_has_the_v6_header_and_loads(
    tmp_path: Path, mpy: str, host_target: Target
) -> None:
    # Bytecode-only output carries no sub-version (MicroPython loads it on any 6.x); the
    # compiler used is the board's own release all the same.
    target = Target.parse(mpy, "xtensa")
    src = write(tmp_path / "src" / "old.py", PLAIN)
    out = compile_file(src, target, tmp_path / "out", root=tmp_path / "src")
    assert header_bytes(out) == b"M\x06\x00\x1f"
    check_compatible(out, target)
    check_compatible(out, host_target)  # bytecode: any 6.x loader accepts it
    proc = run_micropython(out.parent, "import old; print(old.answer())")
    assert proc.stdout.strip() == "42", proc.stderr


@pytest.mark.parametrize(("mpy", "sub"), [("6", 0), ("6.1", 1), ("6.2", 2), ("6.3", 3)])
def test_native_output_carries_the_targets_sub_version_and_arch(
    tmp_path: Path, mpy: str, sub: int
) -> None:
    target = Target.parse(mpy, "xtensa")
    src = write(tmp_path / "src" / "fast.py", NATIVE)
    out = compile_file(src, target, tmp_path / "out", root=tmp_path / "src")
    assert read_mpy_header(out) == (6, sub, "xtensa")
    assert header_bytes(out)[2] == sub | ARCH_NAMES.index("xtensa") << 2
    check_compatible(out, target)
    for other in {0, 1, 2, 3} - {sub}:
        with pytest.raises(IncompatibleMpyError, match=rf"native code of \.mpy v6\.{sub}"):
            check_compatible(out, Target(6, other, "xtensa"))
    with pytest.raises(IncompatibleMpyError, match="native code for xtensa"):
        check_compatible(out, Target(6, sub, "xtensawin"))
    with pytest.raises(IncompatibleMpyError, match="cannot run"):
        check_compatible(out, Target(6, sub, None))


@needs_micropython
def test_v5_output_has_the_v5_header_and_is_refused_by_newer_boards(
    tmp_path: Path, host_target: Target
) -> None:
    target = Target(5, arch="armv7emsp")
    src = write(tmp_path / "src" / "legacy.py", PLAIN)
    out = compile_file(src, target, tmp_path / "out", root=tmp_path / "src")
    assert header_bytes(out) == b"M\x05\x02\x1f"  # v5, unicode flag, 31-bit small ints
    assert read_mpy_header(out) == (5, V5_UNICODE, None)
    check_compatible(out, target)
    with pytest.raises(IncompatibleMpyError, match=r"it is \.mpy v5; the board loads \.mpy v6"):
        check_compatible(out, host_target)
    with pytest.raises(IncompatibleMpyError, match="feature flags are unicode"):
        check_compatible(out, Target(5, v5_flags=V5_UNICODE | V5_CACHE_LOOKUP))
    # The real loader agrees: the interpreter refuses the file.
    proc = run_micropython(out.parent, "import legacy")
    assert "ValueError: incompatible .mpy file" in proc.stdout + proc.stderr


def test_v5_feature_flags_reach_mpy_cross(tmp_path: Path) -> None:
    target = Target(5, v5_flags=V5_CACHE_LOOKUP)  # map caching on, unicode off
    src = write(tmp_path / "src" / "legacy.py", PLAIN)
    out = compile_file(src, target, tmp_path / "out", root=tmp_path / "src")
    assert header_bytes(out)[1:3] == b"\x05\x01"


def test_thumb_boards_run_older_thumb_native_code(tmp_path: Path) -> None:
    src = write(tmp_path / "src" / "fast.py", NATIVE)
    out = compile_file(src, Target(6, 3, "armv6m"), tmp_path / "out", root=tmp_path / "src")
    check_compatible(out, Target(6, 3, "armv7emsp"))  # armv6m code runs on a Cortex-M4
    with pytest.raises(IncompatibleMpyError):
        check_compatible(out, Target(6, 3, "xtensawin"))


def test_wider_small_ints_are_refused(tmp_path: Path) -> None:
    src = write(tmp_path / "src" / "mod.py", PLAIN)
    out = compile_file(
        src, Target(6, 3, "x64", small_int_bits=63), tmp_path / "out", root=tmp_path / "src"
    )
    assert header_bytes(out)[3] == 63
    with pytest.raises(IncompatibleMpyError, match="63-bit small ints, the board 31-bit"):
        check_compatible(out, Target(6, 3, "xtensawin"))


def test_check_compatible_refuses_files_that_are_not_mpy(tmp_path: Path) -> None:
    with pytest.raises(IncompatibleMpyError, match="not an .mpy file"):
        check_compatible(write(tmp_path / "mod.mpy", "print(1)\n"), Target(6, 3))
    with pytest.raises(IncompatibleMpyError, match="cannot read"):
        read_mpy_header(tmp_path / "missing.mpy")


def test_native_code_the_compiler_would_emit_for_the_host_is_refused(tmp_path: Path) -> None:
    # mpy-cross 1.19 without -march emits native code for the host (x64): never shipped.
    src = write(tmp_path / "src" / "fast.py", NATIVE)
    with pytest.raises(CompileError, match=r"fast\.py: mpy-cross v1\.19 output would not load"):
        compile_file(src, Target(6, 0, None), tmp_path / "out", root=tmp_path / "src")
    assert list((tmp_path / "out").iterdir()) == []


def test_native_code_for_an_arch_the_compiler_lacks_is_refused(tmp_path: Path) -> None:
    src = write(tmp_path / "src" / "fast.py", NATIVE)
    with pytest.raises(CompileError, match="native code for x64"):
        compile_file(src, Target(5, arch="armv6m"), tmp_path / "out", root=tmp_path / "src")
    assert not (tmp_path / "out" / "fast.mpy").exists()


# --- syntax errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("mpy", ["6.3", "6.1", "5"])
def test_syntax_error_reads_path_line_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mpy: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "app" / "lib" / "a_ok.py", PLAIN)  # built before bad.py, and kept
    write(tmp_path / "app" / "lib" / "bad.py", "x = 1\ndef f(:\n    pass\n")
    out_dir = tmp_path / "build" / "board"
    with pytest.raises(CompileError) as caught:
        build([Path("app")], Target.parse(mpy, "xtensawin"), out_dir)
    bad = Path("app", "lib", "bad.py")
    assert str(caught.value) == f"{bad}:2: SyntaxError: invalid syntax"
    assert caught.value.line == 2
    assert not (out_dir / "lib" / "bad.mpy").exists()
    assert [p.name for p in (out_dir / "lib").iterdir()] == ["a_ok.mpy"]  # no temp files


def test_compile_time_errors_carry_their_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    src = write(tmp_path / "mod.py", "def f():\n    nonlocal q\n")
    with pytest.raises(CompileError) as caught:
        compile_file(Path("mod.py"), Target(6, 3), tmp_path / "out", root=tmp_path)
    assert str(caught.value) == "mod.py:2: SyntaxError: no binding for nonlocal found"
    assert caught.value.path == Path("mod.py") and src.exists()


# --- building ---------------------------------------------------------------------------------


def make_project(root: Path) -> None:
    write(root / "boot.py", "# boot\n")
    write(root / "main.py", "import app\n")
    write(root / "app.py", PLAIN)
    write(root / "lib" / "drivers" / "__init__.py", "")
    write(root / "lib" / "drivers" / "sensor.py", PLAIN)
    write(root / "lib" / "drivers" / "main.py", "# a module named main deep down\n")
    write(root / "data" / "config.json", '{"rate": 5}\n')
    write(root / ".hidden.py", "secret\n")
    write(root / "__pycache__" / "app.cpython-311.pyc", "junk")


def outputs(result: compiler.BuildResult) -> dict[str, str]:
    return {f.output.relative_to(result.out_dir).as_posix(): f.kind for f in result.files}


def test_build_preserves_layout_and_keeps_boot_and_main_as_source(tmp_path: Path) -> None:
    make_project(tmp_path / "src")
    out_dir = tmp_path / "build" / "esp32-generic"
    result = build([tmp_path / "src"], Target(6, 3, "xtensawin"), out_dir)
    assert outputs(result) == {
        "app.mpy": "mpy",
        "boot.py": "source",
        "data/config.json": "copied",
        "lib/drivers/__init__.mpy": "mpy",
        "lib/drivers/main.py": "source",
        "lib/drivers/sensor.mpy": "mpy",
        "main.py": "source",
    }
    assert (result.compiled, result.copied, result.cached) == (3, 4, 0)
    assert (out_dir / "main.py").read_text() == "import app\n"
    assert (out_dir / "data" / "config.json").read_bytes() == b'{"rate": 5}\n'
    for item in result.files:
        if item.kind == "mpy":
            check_compatible(item.output, Target(6, 3, "xtensawin"))
    assert not list(out_dir.rglob("*.tmp"))


def test_second_build_reuses_every_output(tmp_path: Path) -> None:
    make_project(tmp_path / "src")
    out_dir = tmp_path / "out"
    target = Target(6, 3, "xtensawin")
    first = build([tmp_path / "src"], target, out_dir)
    stamps = {f.output: f.output.stat().st_mtime_ns for f in first.files}
    second = build([tmp_path / "src"], target, out_dir)
    assert (second.compiled, second.copied, second.cached) == (0, 0, len(first.files))
    assert {f.output: f.output.stat().st_mtime_ns for f in second.files} == stamps
    assert outputs(second) == outputs(first)


def test_only_changed_files_are_rebuilt(tmp_path: Path) -> None:
    make_project(tmp_path / "src")
    out_dir = tmp_path / "out"
    target = Target(6, 3, "xtensawin")
    build([tmp_path / "src"], target, out_dir)
    write(tmp_path / "src" / "app.py", PLAIN + "Y = 1\n")
    again = build([tmp_path / "src"], target, out_dir)
    assert (again.compiled, again.copied, again.cached) == (1, 0, 6)


def test_a_changed_target_or_a_damaged_output_is_rebuilt(tmp_path: Path) -> None:
    write(tmp_path / "src" / "mod.py", NATIVE)
    out_dir = tmp_path / "out"
    build([tmp_path / "src"], Target(6, 3, "xtensawin"), out_dir)
    moved = build([tmp_path / "src"], Target(6, 1, "xtensa"), out_dir)
    assert moved.compiled == 1
    assert read_mpy_header(out_dir / "mod.mpy") == (6, 1, "xtensa")
    (out_dir / "mod.mpy").write_bytes(b"M\x06\x00\x1fbroken")
    repaired = build([tmp_path / "src"], Target(6, 1, "xtensa"), out_dir)
    assert repaired.compiled == 1
    assert header_bytes(out_dir / "mod.mpy") != b"broken"
    (out_dir / INDEX_NAME).write_text("{not json")
    assert build([tmp_path / "src"], Target(6, 1, "xtensa"), out_dir).compiled == 1


def test_outputs_of_deleted_sources_are_removed(tmp_path: Path) -> None:
    make_project(tmp_path / "src")
    out_dir = tmp_path / "out"
    target = Target(6, 3, "xtensawin")
    build([tmp_path / "src"], target, out_dir)
    (tmp_path / "src" / "lib" / "drivers" / "sensor.py").unlink()
    (tmp_path / "src" / "data" / "config.json").unlink()
    result = build([tmp_path / "src"], target, out_dir)
    assert sorted(p.relative_to(out_dir).as_posix() for p in result.removed) == [
        "data/config.json",
        "lib/drivers/sensor.mpy",
    ]
    assert not (out_dir / "lib" / "drivers" / "sensor.mpy").exists()
    assert not (out_dir / "data").exists()  # emptied folders go too


def test_source_mode_copies_py_and_drops_stale_mpy(tmp_path: Path) -> None:
    make_project(tmp_path / "src")
    out_dir = tmp_path / "out"
    build([tmp_path / "src"], Target(6, 3, "xtensawin"), out_dir)
    result = build([tmp_path / "src"], None, out_dir, as_source=True)
    assert outputs(result)["app.py"] == "source"
    assert result.compiled == 0
    assert not list(out_dir.rglob("*.mpy"))
    assert (out_dir / "app.py").read_text() == PLAIN


def test_files_and_root(tmp_path: Path) -> None:
    make_project(tmp_path / "src")
    sensor = tmp_path / "src" / "lib" / "drivers" / "sensor.py"
    target = Target(6, 3, "xtensawin")
    alone = build([sensor], target, tmp_path / "a")
    assert outputs(alone) == {"sensor.mpy": "mpy"}
    rooted = build(
        [sensor, tmp_path / "src" / "data"], target, tmp_path / "b", root=tmp_path / "src"
    )
    assert outputs(rooted) == {"lib/drivers/sensor.mpy": "mpy", "data/config.json": "copied"}
    with pytest.raises(CommandError, match="not inside the source root"):
        build([sensor], target, tmp_path / "c", root=tmp_path / "src" / "data")
    with pytest.raises(CommandError, match="no such file"):
        build([tmp_path / "nope.py"], target, tmp_path / "c")
    with pytest.raises(CommandError, match="needs a target"):
        build([sensor], None, tmp_path / "c")


def test_build_output_inside_the_source_tree_is_skipped(tmp_path: Path) -> None:
    write(tmp_path / "mod.py", PLAIN)
    target = Target(6, 3, "xtensawin")
    build([tmp_path], target, tmp_path / "build" / "esp32")
    again = build([tmp_path], target, tmp_path / "build" / "rp2")
    assert outputs(again) == {"mod.mpy": "mpy"}


def test_two_sources_for_one_output_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "src" / "mod.py", PLAIN)
    (tmp_path / "src" / "mod.mpy").write_bytes(b"M\x06\x00\x1f")
    with pytest.raises(CommandError, match="would both build to mod.mpy"):
        build([tmp_path / "src"], Target(6, 3), tmp_path / "out")


def test_prebuilt_mpy_is_copied_only_when_compatible(tmp_path: Path) -> None:
    write(tmp_path / "old" / "legacy.py", PLAIN)
    compile_file(
        tmp_path / "old" / "legacy.py", Target(5), tmp_path / "src", root=tmp_path / "old"
    )
    with pytest.raises(
        IncompatibleMpyError, match=r"legacy\.mpy: incompatible \.mpy: it is \.mpy v5"
    ):
        build([tmp_path / "src"], Target(6, 3, "xtensawin"), tmp_path / "out")
    assert not (tmp_path / "out" / "legacy.mpy").exists()
    ok = build([tmp_path / "src"], Target(5, arch="xtensa"), tmp_path / "out5")
    assert outputs(ok) == {"legacy.mpy": "copied"}


def test_building_a_project_folder_leaves_out_its_own_build_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "util.py", PLAIN)
    out_dir = tmp_path / "build" / "rp2-pico" / "app"
    target = Target.parse("6.3", "armv6m")
    build([Path(".")], target, out_dir)
    write(tmp_path / "build" / "rp2-pico" / "run" / "stray.py", PLAIN)  # another build
    result = build([Path(".")], target, out_dir)
    assert sorted(p.output.relative_to(out_dir).as_posix() for p in result.files) == [
        "util.mpy"]
