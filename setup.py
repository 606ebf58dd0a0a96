"""Puts ember's device code (firmware/) and board profiles (boards/) into the wheel.

They stay at the top of the repository, where a user of the checkout finds them; setuptools
only packs files that sit inside a package, so the build step copies both folders to
host_tools/_data/, where host_tools/paths.py finds them in an installed ember (through
importlib.resources). Everything else about the package is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_FOLDERS = ("firmware", "boards")
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mpy", "build", ".ember-state")


class BuildWithData(build_py):
    """build_py that also copies the device code and board profiles into the package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads them from the checkout itself
        here = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "host_tools" / "_data"
        for folder in DATA_FOLDERS:
            shutil.rmtree(target / folder, ignore_errors=True)
            shutil.copytree(here / folder, target / folder, ignore=JUNK)


setup(cmdclass={"build_py": BuildWithData})
