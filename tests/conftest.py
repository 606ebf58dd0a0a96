"""Shared test set-up: an isolated registry of virtual boards for each test process."""

from __future__ import annotations

import os
import tempfile

import pytest

pytest_plugins = ["pytester"]  # the plugin's own tests (tests/plugin) run pytest in pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_ember_runtime_dir() -> None:
    # Virtual boards this test process starts are recorded apart from the user's own.
    with tempfile.TemporaryDirectory(prefix="ember-test-rt-") as path:
        previous = os.environ.get("EMBER_RUNTIME_DIR")
        os.environ["EMBER_RUNTIME_DIR"] = path
        yield
        if previous is None:
            os.environ.pop("EMBER_RUNTIME_DIR", None)
        else:
            os.environ["EMBER_RUNTIME_DIR"] = previous
