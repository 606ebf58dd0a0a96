"""`ember watch [SRC...] [--run FILE]`: an edit-run loop on the board until Ctrl-C."""

from __future__ import annotations

import sys
from pathlib import Path

from host_tools.cli.context import Context, write_out
from host_tools.errors import CommandError, DeviceError, EmberError


def cmd_watch(ctx: Context) -> int:
    from host_tools.install.watch import Round, watch

    args = ctx.args
    sources = [Path(p) for p in args.sources] or [Path(".")]
    entry = Path(args.run) if args.run else _default_entry(sources)
    if not entry.is_file():
        raise CommandError(f"{entry}: no such file (the script to run: --run FILE)")

    def said(round_: Round) -> None:
        if not ctx.quiet:
            print(f"ember: {', '.join(round_.changed)}: {round_.sent} sent; running "
                  f"{entry.name} (Ctrl-C stops)", file=sys.stderr)

    def failed(error: EmberError) -> None:
        if isinstance(error, DeviceError):
            sys.stderr.write(error.traceback or f"{error}\n")
        else:
            print(f"ember: {error} (waiting for the next change)", file=sys.stderr)

    try:
        watch(ctx.link, sources, entry, board=ctx.board, dest=args.dest,
              build_dir=ctx.build_dir, on_output=write_out, on_round=said, on_error=failed)
    except KeyboardInterrupt:
        print("ember: watch stopped", file=sys.stderr)
    return 0


def _default_entry(sources: list[Path]) -> Path:
    for source in sources:
        candidate = source / "main.py" if source.is_dir() else source
        if candidate.name == "main.py" and candidate.is_file():
            return candidate
    raise CommandError("which script should run? no main.py in SRC: give --run FILE")
