"""The runtime compiles with mpy-cross and its device tests pass from the .mpy files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from host_tools.mpy.compiler import INDEX_NAME, Target, build
from host_tools.paths import RUNTIME_OPTIMISE
from host_tools.sim.interpreter import find_micropython

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
DEVICE_TESTS = ROOT / "tests" / "device"


@pytest.fixture(scope="module")
def mpy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """firmware/ember compiled as `ember flash` installs it (the device tests in
    tests/device run against this form too, through the pytest plugin)."""
    out = tmp_path_factory.mktemp("ember-mpy")
    target = Target.from_sys_mpy(_interpreter_mpy())
    build([FIRMWARE / "ember"], Target(target.version, target.sub_version), out / "ember")
    (out / "ember" / INDEX_NAME).unlink(missing_ok=True)
    return out


def _interpreter_mpy() -> int:
    out = subprocess.run([str(find_micropython()), "-c",
                          "import sys; print(sys.implementation._mpy)"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return int(out)


def test_every_module_compiles(mpy_dir: Path) -> None:
    sources = sorted(p.stem for p in (FIRMWARE / "ember").glob("*.py"))
    built = sorted(p.stem for p in (mpy_dir / "ember").glob("*.mpy"))
    assert built == sources
    assert all((mpy_dir / "ember" / f"{s}.mpy").stat().st_size > 0 for s in built)
    assert not list((mpy_dir / "ember").glob("*.py"))  # nothing to fall back on


def test_bench_script_main_block_is_the_one_the_host_strips() -> None:
    # host_tools/bench/loop.py sends the script with this block removed, then run(n).
    text = (FIRMWARE / "bench" / "bench_loop.py").read_text(encoding="utf-8")
    assert text.endswith('if __name__ == "__main__":\n    run()\n')
    assert "def run(n=" in text


def test_bench_script_pushed_beside_mpy_package(mpy_dir: Path, tmp_path: Path) -> None:
    # As `ember bench loop` would run it: the script beside the installed package.
    micropython = str(find_micropython())
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
        "pipe_latency_us",
        "pipe_irq_latency_us",
        "io_us_per_event",
        "poll_one_us",
        "raw_poll_ceiling",
    ):
        assert key in result, key
    assert result["pipe_latency_us"] >= 0  # (its size is a benchmark's, not a test's)
    assert result["raw_poll_ceiling"] > 0 and result["io_us_per_event"] > 0
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
    # frozen at the -O level the .mpy files get (host_tools/paths.py)
    assert f'package("ember", opt={RUNTIME_OPTIMISE})' in manifest
    assert f'version="{package["version"]}"' in manifest


def test_async_streams_example_ends_with_done() -> None:
    micropython = str(find_micropython())
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
