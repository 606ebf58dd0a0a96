"""Where ember's own files live: device code (firmware/), board profiles (boards/), caches.

An installed ember finds `firmware/` and `boards/` as package data (`importlib.resources`,
under `host_tools/_data`, put there by setup.py's build step); a checkout, or an editable
install of one, has them beside `host_tools/`. This module is the only place that knows
which: everything else asks it. Output that belongs to a user's project (`.mpy` builds) goes
to that project's folder; what can be rebuilt at will goes to the user's cache folder.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

CACHE_DIR_ENV = "EMBER_CACHE_DIR"


def _data_root() -> Path:
    packaged = Path(str(resources.files("host_tools"))) / "_data"
    if (packaged / "firmware").is_dir():
        return packaged
    return Path(str(resources.files("host_tools"))).parent  # a checkout: beside host_tools/


DATA_DIR = _data_root()
FIRMWARE_DIR = DATA_DIR / "firmware"
RUNTIME_DIR = FIRMWARE_DIR / "ember"
# mpy-cross -O level of the runtime, as .mpy and frozen (firmware/manifest.py says the
# same): -O3 leaves out the line-number tables, 10 % of each .mpy and of the heap its code
# takes once loaded. Its tracebacks still name the function; a user's code keeps its lines.
RUNTIME_OPTIMISE = 3
BOARDS_DIR = DATA_DIR / "boards"
VIRTUAL_BOARD_DIR = BOARDS_DIR / "virtual"


def cache_dir() -> Path:
    """Per-user cache: $EMBER_CACHE_DIR, else $XDG_CACHE_HOME/ember, else ~/.cache/ember."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ember"
