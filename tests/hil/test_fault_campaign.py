"""A short run of `ember bench faults`: cuts, noise, disconnects and bad input, nothing lost."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from host_tools.bench import faults


@pytest.fixture(autouse=True)
def _on_the_chosen_board(board_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The campaign runs on --ember-board (default rp2-pico), the qemu board included."""
    monkeypatch.setattr(faults, "BOARD", board_name)


def test_power_cuts_never_leave_a_corrupt_file(tmp_path: Path) -> None:
    result = faults.power_cut_trials(4, random.Random(11), tmp_path)
    assert result == {"power_cut_trials": 4, "power_cut_corrupt": 0}


def test_noise_never_writes_corrupt_data(tmp_path: Path) -> None:
    result = faults.noise_trials(3, random.Random(12), tmp_path, rate=3e-4)
    assert result["noise_corrupt"] == 0
    assert result["noise_completed"] >= 1  # retries get most pushes through at this rate


def test_a_vanished_host_leaves_files_whole_and_the_next_push_completes(tmp_path: Path) -> None:
    result = faults.disconnect_trials(2, random.Random(13), tmp_path)
    assert result == {"disconnect_trials": 2, "disconnect_corrupt": 0}


def test_every_bad_input_gets_a_one_line_error(tmp_path: Path) -> None:
    result = faults.bad_input_trials(tmp_path)
    assert result["bad_inputs_unclear"] == []
    assert result["bad_inputs_tried"] >= 12
