"""Provisional collector: runs tests/device/test_*.py on the MicroPython interpreter."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
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

    def __init__(self, *, heapsize: str, timeout: float, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.heapsize = heapsize
        self.timeout = timeout

    def runtest(self) -> None:
        run_device_test(self.path, self.name, heapsize=self.heapsize, timeout=self.timeout)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, DeviceTestFailure):
            e = excinfo.value
            tail = e.output.rstrip().splitlines()[-60:]
            return "\n".join(
                [
                    f"device test {self.name} failed ({e.reason}), heapsize={self.heapsize}",
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
        tree = ast.parse(self.path.read_text(encoding="utf-8"), filename=str(self.path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield DeviceItem.from_parent(
                    self, name=node.name, heapsize=heapsize, timeout=timeout
                )


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.File | None:
    if module_path.name.startswith("test_") and is_device_module(module_path):
        return DeviceModule.from_parent(parent, path=module_path)
    return None
