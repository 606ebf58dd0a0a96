"""The virtual board's state table (host_tools/sim/states.py), and the supervisor's checks of it.

No firmware and no process: the table itself, and a Supervisor's `_enter` and output
tracking driven by hand (its ptys are opened, and closed again, by the test).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.sim import states
from host_tools.sim.states import (
    TRANSITIONS,
    BoardState,
    IllegalTransition,
    check_transition,
    repl_state,
)
from host_tools.sim.status import InterpreterStatus
from host_tools.sim.supervisor import RAW_BANNER, SimConfig, Supervisor

S = BoardState


def _reachable(start: BoardState) -> set[BoardState]:
    seen, todo = {start}, deque([start])
    while todo:
        for nxt in TRANSITIONS[todo.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_state_has_a_row_and_names_only_states() -> None:
    assert set(TRANSITIONS) == set(BoardState)
    for targets in TRANSITIONS.values():
        assert targets <= set(BoardState)


def test_every_state_is_reachable_from_off() -> None:
    assert _reachable(S.OFF) == set(BoardState)


def test_every_state_but_stopped_can_reach_stopped() -> None:
    for state in set(BoardState) - {S.STOPPED}:
        assert S.STOPPED in _reachable(state), state
    assert TRANSITIONS[S.STOPPED] == frozenset()


def test_every_running_state_can_be_reset() -> None:
    for state in states.RUNNING:
        assert S.RESET in TRANSITIONS[state], state


@pytest.mark.parametrize(("old", "new"), [
    (S.OFF, S.FRIENDLY_REPL),  # no REPL without a boot
    (S.OFF, S.RAW_BOOTING),  # a power-on never comes back to the raw REPL
    (S.BOOTING, S.RAW_BOOT_SCRIPTS),  # a normal boot never takes the quiet raw entry
    (S.RAW_BOOTING, S.FRIENDLY_REPL),
    (S.RAW_BOOT_SCRIPTS, S.RAW_REPL),  # the quiet entry is never skipped
    (S.RAW_ENTRY_PROMPT, S.RAW_PROMPT),
    (S.FRIENDLY_REPL, S.OFF),  # a power cut kills the interpreter first (RESET)
    (S.FRIENDLY_REPL, S.BOOTING),  # likewise a reset
    (S.RESET, S.FRIENDLY_REPL),
    (S.STOPPED, S.OFF),  # nothing after the end
    (S.STOPPED, S.BOOTING),
])
def test_impossible_moves_raise(old: BoardState, new: BoardState) -> None:
    with pytest.raises(IllegalTransition, match=old.value):
        check_transition(old, new)


def test_every_move_outside_the_table_raises() -> None:
    for old in BoardState:
        for new in BoardState:
            if new in TRANSITIONS[old]:
                check_transition(old, new)
            else:
                with pytest.raises(IllegalTransition):
                    check_transition(old, new)


def test_repl_state() -> None:
    assert repl_state(raw=False, prompt_fresh=True) is S.FRIENDLY_REPL
    assert repl_state(raw=True, prompt_fresh=False) is S.RAW_REPL
    assert repl_state(raw=True, prompt_fresh=True) is S.RAW_PROMPT


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    config = SimConfig(board="rp2-pico", heap_bytes=1 << 16, fs_bytes=1 << 16,
                       block_size=4096, state_dir=tmp_path, uarts=())
    sup = Supervisor(config)
    try:
        yield sup
    finally:
        sup.console.close()
        sup.interp_tty.close()
        os.close(sup.flash_fd)
        os.close(sup.wake_r)
        os.close(sup.wake_w)


def test_the_supervisor_starts_off_and_refuses_an_impossible_move(
        supervisor: Supervisor) -> None:
    assert supervisor.state is S.OFF
    with pytest.raises(IllegalTransition):
        supervisor._enter(S.RAW_PROMPT)
    assert supervisor.state is S.OFF  # a refused move changes nothing


def test_the_repl_output_moves_the_state(supervisor: Supervisor) -> None:
    supervisor.state = S.BOOTING  # as boot() leaves it, without an interpreter
    supervisor._enter(S.FRIENDLY_REPL)  # as on_mounted() does
    supervisor.track_and_emit(b"MicroPython v1.28.0\r\n>>> ")
    assert supervisor.state is S.FRIENDLY_REPL
    supervisor.track_and_emit(RAW_BANNER + b">")
    assert supervisor.state is S.RAW_PROMPT
    supervisor.take_host_input(b"print(1)")
    assert supervisor.state is S.RAW_REPL  # typed at: no longer a fresh prompt
    supervisor.track_and_emit(b"OK1\r\n\x04\x04>")
    assert supervisor.state is S.RAW_PROMPT
    supervisor.track_and_emit(b"\r\n>>> ")  # Ctrl-B: back to the friendly REPL
    assert supervisor.state is S.FRIENDLY_REPL
    assert supervisor.to_host.endswith(b"\r\n>>> ")  # all of it passed on


def test_output_while_booting_never_changes_the_repl(supervisor: Supervisor) -> None:
    supervisor.state = S.RAW_BOOT_SCRIPTS  # boot.py printing, before the quiet raw entry
    supervisor.track_and_emit(b">>> ")
    assert supervisor.state is S.RAW_BOOT_SCRIPTS


def test_nothing_reaches_the_host_while_off(supervisor: Supervisor) -> None:
    supervisor.emit(b"lost")
    assert supervisor.to_host == b""


def test_a_wait_report_counts_only_if_it_is_newer_than_the_last_input_and_sigint() -> None:
    status = InterpreterStatus(reports=True, console_slave=-1)
    firmware = os.dup(status.write_fd)  # the child's copy of the write end
    status.started(os.getpid())
    try:
        assert not status.waiting() and not status.sigint_caught()  # nothing said yet
        os.write(firmware, b"k1\nw0 0\n")
        assert status.waiting() and status.sigint_caught()
        status.wrote(3)  # input it has not read yet: an old report cannot say it waits
        assert not status.waiting()
        os.write(firmware, b"w3 0\n")
        assert status.waiting()
        status.interrupted()  # a SIGINT sent: the report of before it is old news
        assert not status.waiting()
        os.write(firmware, b"w3 1\nk0\n")
        assert status.waiting() and not status.sigint_caught()
        status.interrupted()  # one never taken (masked): given up on after its hold
        assert not status.waiting()
        status.forgive_interrupts()
        assert status.waiting()
        assert status.read()  # still running
    finally:
        os.close(firmware)
    assert not status.read()  # its end of file: the interpreter has exited
    status.close()
