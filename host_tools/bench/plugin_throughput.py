"""Device tests per second: ember's pytest plugin against one `mpremote run` per test."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from host_tools.errors import EmberError
from host_tools.sim.launcher import VirtualBoard

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
BOARD = "rp2-pico"
TIMEOUT_S = 300


def device_module(count: int) -> str:
    """A device test module of `count` trivial tests."""
    tests = "".join(f"\n\ndef test_{i}():\n    assert 1\n" for i in range(count))
    return "# ember: device\n" + tests


def measure_ember(workdir: Path, count: int) -> tuple[float, float]:
    """Wall time of the whole pytest run (start-up, virtual board, runtime install included),
    and the time pytest itself reports for the session."""
    module = workdir / "test_trivial.py"
    module.write_text(device_module(count))
    junit = workdir / "junit.xml"
    env = {**os.environ, "EMBER_RUNTIME_DIR": str(workdir / "runtime")}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
               f"--ember-board={BOARD}", f"--junitxml={junit}", f"--rootdir={workdir}",
               str(module)]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                            timeout=TIMEOUT_S)
    wall = time.monotonic() - started
    if result.returncode != 0 or f"{count} passed" not in result.stdout:
        raise EmberError(f"pytest run failed: {result.stdout[-500:]}{result.stderr[-500:]}")
    suite = ET.parse(junit).getroot().find("testsuite")
    session = float(suite.get("time", "nan")) if suite is not None else float("nan")
    return wall, session


def measure_mpremote(workdir: Path, count: int) -> float:
    """One `mpremote connect PORT run FILE` per test (a process and a soft reset each, as
    MicroPython's run-tests.py does), on a virtual board started beforehand."""
    scripts = []
    for i in range(count):
        script = workdir / f"run_{i}.py"
        script.write_text(f"def test_{i}():\n    assert 1\n\n\ntest_{i}()\nprint('pass')\n")
        scripts.append(script)
    with VirtualBoard(BOARD, baud=None) as board:
        started = time.monotonic()
        for script in scripts:
            result = subprocess.run([MPREMOTE, "connect", board.port, "run", str(script)],
                                    capture_output=True, text=True, timeout=TIMEOUT_S)
            if result.returncode != 0 or "pass" not in result.stdout:
                raise EmberError(f"mpremote run {script.name} failed: {result.stderr[-300:]}")
        return time.monotonic() - started


def run(count: int = 50) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="ember-bench-plugin-") as temp:
        workdir = Path(temp)
        (workdir / "runtime").mkdir()
        previous = os.environ.get("EMBER_RUNTIME_DIR")
        # The benchmark's virtual boards stay out of the user's `ember sim list`.
        os.environ["EMBER_RUNTIME_DIR"] = str(workdir / "runtime")
        try:
            ember_s, session_s = measure_ember(workdir, count)
            mpremote_s = measure_mpremote(workdir, count)
        finally:
            if previous is None:
                os.environ.pop("EMBER_RUNTIME_DIR", None)
            else:
                os.environ["EMBER_RUNTIME_DIR"] = previous
    return {
        "tests": count,
        "ember_s": round(ember_s, 3),
        "ember_session_s": round(session_s, 3),
        "mpremote_s": round(mpremote_s, 3),
        "ember_tests_per_s": round(count / ember_s, 1),
        "mpremote_tests_per_s": round(count / mpremote_s, 1),
        "speedup": round(mpremote_s / ember_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=50)
    args = parser.parse_args(argv)
    try:
        result = run(args.tests)
    except EmberError as error:
        print(f"plugin_throughput: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
