"""The smallest-heap measurement: the ping-pongs on the bare interpreter, ember from .mpy."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.bench import heap


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[Path, str]]:
    """(interpreter, MICROPYPATH) as measure_heaps() prepares them."""
    with heap.prepared() as prepared:
        yield prepared


def test_the_socket_pingpong_runs_in_a_10_kb_heap(setup: tuple[Path, str]) -> None:
    # Issue 3's target, on the interpreter alone: no simulator code shares the heap.
    assert heap.runs_in(*setup, "ember_socket", 10 * 1024)


def test_the_pipe_pingpong_runs_in_12_kb(setup: tuple[Path, str]) -> None:
    assert heap.runs_in(*setup, "ember_pipe", 12 * 1024)


def test_too_small_a_heap_is_told_apart_from_a_broken_program(
        setup: tuple[Path, str], tmp_path: Path) -> None:
    micropython, path = setup
    assert not heap.runs_in(micropython, path, "ember_socket", 4 * 1024)  # MemoryError
    (tmp_path / "broken.py").write_text("import no_such_module\n")
    with pytest.raises(heap.EmberError, match="not for memory"):
        heap.runs_in(micropython, os.pathsep.join([path, str(tmp_path)]), "broken", 64 * 1024)


def test_smallest_heap_is_a_step_that_runs(setup: tuple[Path, str]) -> None:
    found = heap.smallest_heap(*setup, "ember_socket")
    assert found % heap.STEP == 0 and heap.LOW < found <= 10 * 1024
    assert heap.runs_in(*setup, "ember_socket", found)
    assert not heap.runs_in(*setup, "ember_socket", found - heap.STEP)  # failed in the search
