"""The board's interactive REPL on an open Link, through mpremote's console."""

from __future__ import annotations

import argparse

from host_tools.link.session import Link


def open_repl(link: Link) -> None:
    """Runs mpremote's console on the link until the user leaves it (Ctrl-] or Ctrl-x)."""
    from mpremote.main import State
    from mpremote.repl import do_repl

    state = State()
    state.transport = link.transport
    repl_args = argparse.Namespace(escape_non_printable=False, capture=None,
                                   inject_code=None, inject_file=None)
    do_repl(state, repl_args)
