"""ember installed from its wheel into a fresh venv works from any folder, not its checkout.

A wheel is built from a copy of the checkout's files, installed (dependencies from PyPI)
into a venv in an empty folder, and that venv's `ember` starts a virtual board, flashes,
pushes an app, runs a script, and runs pytest with the plugin; the checkout is left as it
was. The board runs the firmware the checkout's tests already built (passed by
`--firmware`, read only), so the test does not build MicroPython a second time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.boards.profiles import load_profile
from host_tools.sim.launcher import firmware_for

CHECKOUT = Path(__file__).resolve().parents[2]
STEP_TIMEOUT_S = 300
BOARD = "rp2-pico"
BOARD_TEST = '''\
def test_the_board_answers(board):
    assert board.eval("6 * 7") == 42
    assert board.eval("__import__('ember').__name__") == "ember"
'''


def _checkout_state() -> set[str]:
    """What git sees in the checkout: changed, new and ignored paths, except the folders
    other tests write to while this one runs (the shared firmware cache, caches)."""
    out = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=CHECKOUT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    busy = ("build/", ".venv/", ".pytest_cache/", ".ruff_cache/")
    return {line for line in out.splitlines()
            if not line[3:].startswith(busy) and "__pycache__" not in line}


def _run(args: list[str], cwd: Path, env: dict[str, str],
         timeout: float = STEP_TIMEOUT_S) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv with ember installed from a wheel of the checkout; its bin/ folder."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"  # a copy: building in the checkout would write build/ there
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                           cwd=CHECKOUT, capture_output=True, check=True, timeout=60)
    for name in files.stdout.decode().split("\0"):
        if name and (CHECKOUT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(CHECKOUT / name, source / name)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"),
          str(source)], root, env)
    (wheel,) = (root / "dist").glob("ember-*.whl")
    venv.create(root / "venv", with_pip=True)
    _run([str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
         root, env)
    yield root / "venv" / "bin"


def test_the_wheel_works_from_an_empty_folder_and_leaves_the_checkout_alone(
    installed: Path, tmp_path: Path
) -> None:
    image, _ = firmware_for(load_profile(BOARD))
    if image is None:
        pytest.skip("no virtual firmware (no 32-bit toolchain or MicroPython source)")
    before = _checkout_state()
    work = tmp_path / "project"
    (work / "app").mkdir(parents=True)
    (work / "app" / "greet.py").write_text("def hello():\n    return 'hello from app'\n")
    (work / "main.py").write_text("import greet\nprint(greet.hello(), 6 * 7)\n")
    (work / "tests").mkdir()
    (work / "tests" / "test_on_board.py").write_text(BOARD_TEST)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("EMBER_", "MICROPY", "VIRTUAL_ENV", "PYTHON"))}
    env.update(PATH=f"{installed}{os.pathsep}{env.get('PATH', '')}",
               EMBER_CACHE_DIR=str(tmp_path / "cache"))
    ember = str(installed / "ember")

    where = _run([str(installed / "python"), "-c",
                  "import host_tools.paths as p; print(p.FIRMWARE_DIR); print(p.BOARDS_DIR)"],
                 work, env).split()
    assert all(Path(path).is_relative_to(installed.parent) for path in where), where
    assert _run([ember, "--version"], work, env).split() == ["ember", "0.1.0"]

    port = _run([ember, "sim", "start", "--board", BOARD, "--firmware", str(image)],
                work, env).strip()
    try:
        _run([ember, "--port", port, "flash"], work, env)
        _run([ember, "--port", port, "push", "app/", "--dest", "/lib"], work, env)
        out = _run([ember, "--port", port, "run", "main.py"], work, env)
        assert "hello from app 42" in out
        assert (work / "build").is_dir()  # the project's builds are the project's
        tests = _run([str(installed / "pytest"), "-q", "-p", "no:cacheprovider",
                      "--ember-port", port, "tests"], work, env)
        assert "1 passed" in tests
    finally:
        subprocess.run([ember, "sim", "stop", port], cwd=work, env=env, timeout=60,
                       capture_output=True)
    assert _checkout_state() == before
