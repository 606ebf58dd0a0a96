"""Shared test set-up: an isolated registry of virtual boards for each test process."""

from __future__ import annotations

import os
import tempfile

import pytest

pytest_plugins = ["pytester"]  # the plugin's own tests (tests/plugin) run pytest in pytest

# The slowest tests (20-90 s each: MicroPython's own suite, the fault campaigns, firmware
# builds) start first: on two workers, one of them started last would run alone at the end
# while the other worker has nothing left to do.
SLOW_FIRST = (
    "tests/hil/test_micropython_suite.py",
    "tests/hil/test_fault_campaign.py",
    "tests/hil/test_native_stream.py",
    "tests/host/test_bench_firmware.py",
    "tests/hil/test_cli.py::test_power_cut_mid_push_leaves_every_file_old_or_new",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        for n, prefix in enumerate(SLOW_FIRST):
            if item.nodeid.startswith(prefix):
                return n
        return len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


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
