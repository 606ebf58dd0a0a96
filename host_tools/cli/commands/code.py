"""`ember exec`, `ember run` and `ember repl`: code on the board, its output on stdout."""

from __future__ import annotations

import sys
from pathlib import Path

from host_tools.cli.context import Context, write_out
from host_tools.errors import CommandError


def cmd_exec(ctx: Context) -> int:
    ctx.link.exec(ctx.args.code, on_output=write_out, timeout=ctx.args.timeout)
    return 0


def cmd_run(ctx: Context) -> int:
    from host_tools.install.run import INTERRUPTED, run_script

    args = ctx.args
    script = Path(args.file)
    if not script.is_file():
        raise CommandError(f"{script}: no such file")
    status = run_script(ctx.link, script, board=ctx.board,
                        with_sources=[Path(p) for p in args.with_sources],
                        reset=not args.no_reset, build_dir=ctx.build_dir,
                        on_output=write_out, progress=ctx.progress)
    if status == INTERRUPTED:
        print("ember: interrupted", file=sys.stderr)
    return status


def cmd_repl(ctx: Context) -> int:
    from host_tools.link.repl import open_repl

    open_repl(ctx.link)  # mpremote's console: Ctrl-] or Ctrl-x leaves
    return 0
