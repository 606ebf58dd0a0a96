"""The virtual board's states as the supervisor plays them, and the moves allowed between them.

`Supervisor._enter` is the one place the state changes, and it checks each move against
`TRANSITIONS`: a move not in the table is a bug in the supervisor, and raises.

    OFF ────── boot (power-on, reflash) ──────► BOOTING ── flash mounted ──► FRIENDLY_REPL
     ▲                                          ▲                                ▲ │
     │ power cut                                │ boot (hard or soft reset)      │ ▼
     │                                          │               RAW_REPL ◄──► RAW_PROMPT
     └────────────────────────────────────── RESET ◄── interpreter killed or exited,
                                              │ │       from any state above or below
                       raw-REPL soft reset ───┘ └── stop ──► STOPPED  (also from OFF)
                       (Ctrl-D at RAW_PROMPT)
                                │
                                ▼
    RAW_BOOTING ── mounted ──► RAW_BOOT_SCRIPTS ── RAW_MARKER ──► RAW_ENTRY_PROMPT
                                  (boot.py)                           │ ">>> ": Ctrl-A
                                                                      ▼
                                      RAW_PROMPT / RAW_REPL ◄── RAW_ENTRY_BANNER
                                                        (the raw banner)

Among FRIENDLY_REPL, RAW_REPL and RAW_PROMPT the REPL's own output moves the board (the raw
banner, ">>> ", the raw prompt), and host input moves RAW_PROMPT to RAW_REPL.

In words: every start of the interpreter is BOOTING (a power-on, a hard or a soft reset
that runs main.py) or RAW_BOOTING (a soft reset asked for from the raw REPL, which comes
back to it). Until the firmware says its flash is mounted, host input is kept aside. A raw
boot then runs boot.py (RAW_BOOT_SCRIPTS), waits for the friendly prompt to send Ctrl-A
(RAW_ENTRY_PROMPT) and for the raw banner (RAW_ENTRY_BANNER), all unseen by the host, as a
board's firmware stays in its raw REPL through a soft reset. Whenever the interpreter goes
(killed, or exited), the board is in RESET until it starts again; a power cut leaves it
OFF, silent, until a reflash boots it. STOPPED is the end: the supervisor has quit.

Requests from signal handlers (stop, power cut, reflash) are not states: they are noted as
`Request`s and acted on in the supervisor's loop, which then makes the moves above.
"""

from __future__ import annotations

import enum


class BoardState(enum.Enum):
    """What the virtual board is doing, as far as the supervisor's relaying is concerned."""

    OFF = "off"  # no interpreter and no power: before the first boot, after a power cut
    BOOTING = "booting"  # interpreter started, flash not yet mounted; main.py will run
    RAW_BOOTING = "raw booting"  # likewise, for a soft reset back into the raw REPL
    RAW_BOOT_SCRIPTS = "raw boot scripts"  # mounted; boot.py runs before the quiet raw entry
    RAW_ENTRY_PROMPT = "raw entry: prompt"  # waiting for ">>> " to send Ctrl-A, unseen
    RAW_ENTRY_BANNER = "raw entry: banner"  # Ctrl-A sent; output kept back until the banner
    FRIENDLY_REPL = "friendly REPL"  # the friendly REPL, or code run from it or from boot
    RAW_REPL = "raw REPL"  # the raw REPL, reading or running code
    RAW_PROMPT = "raw prompt"  # raw REPL, its prompt its last output, nothing typed since
    RESET = "reset"  # powered, between an interpreter's end and the next one's start
    STOPPED = "stopped"  # the supervisor has ended


class Request(enum.Enum):
    """What a signal handler asks of the supervisor's loop (handled in `step`)."""

    STOP = "stop"  # SIGTERM, SIGINT: end the supervisor
    POWER_CUT = "power cut"  # SIGUSR1: kill the interpreter, the port goes silent
    REFLASH = "reflash"  # SIGHUP: a new firmware image is in place; boot it


S = BoardState
BOOTS = frozenset({S.BOOTING, S.RAW_BOOTING})  # the flash not mounted yet
RAW_ENTRY = frozenset({S.RAW_BOOT_SCRIPTS, S.RAW_ENTRY_PROMPT, S.RAW_ENTRY_BANNER})
REPL = frozenset({S.FRIENDLY_REPL, S.RAW_REPL, S.RAW_PROMPT})
RUNNING = BOOTS | RAW_ENTRY | REPL  # an interpreter is alive
# The REPL the board is in, or comes back to when this start is done (a reset keeps it).
RAW = frozenset({S.RAW_BOOTING, *RAW_ENTRY, S.RAW_REPL, S.RAW_PROMPT})

TRANSITIONS: dict[BoardState, frozenset[BoardState]] = {
    S.OFF: frozenset({S.OFF, S.BOOTING, S.STOPPED}),  # a second power cut changes nothing
    S.BOOTING: frozenset({S.FRIENDLY_REPL, S.RESET}),
    S.RAW_BOOTING: frozenset({S.RAW_BOOT_SCRIPTS, S.RESET}),
    S.RAW_BOOT_SCRIPTS: frozenset({S.RAW_ENTRY_PROMPT, S.RESET}),
    S.RAW_ENTRY_PROMPT: frozenset({S.RAW_ENTRY_BANNER, S.RESET}),
    S.RAW_ENTRY_BANNER: REPL | {S.RESET},
    S.FRIENDLY_REPL: REPL | {S.RESET},
    S.RAW_REPL: REPL | {S.RESET},
    S.RAW_PROMPT: REPL | {S.RESET},
    S.RESET: frozenset({S.BOOTING, S.RAW_BOOTING, S.OFF, S.STOPPED}),
    S.STOPPED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A move the table does not allow: the supervisor's bookkeeping has gone wrong."""


def check_transition(old: BoardState, new: BoardState) -> None:
    """Raises IllegalTransition unless the table allows old -> new."""
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"virtual board: no move from {old.value} to {new.value}")


def repl_state(raw: bool, prompt_fresh: bool) -> BoardState:
    """The REPL state for the REPL kind and whether its prompt is the last thing it said."""
    if not raw:
        return S.FRIENDLY_REPL
    return S.RAW_PROMPT if prompt_fresh else S.RAW_REPL
