"""`ember mip install PKG...`: libraries for the board, compiled for it, sent with push."""

from __future__ import annotations

import sys
from pathlib import Path

from host_tools.cli.context import Context


def cmd_mip_install(ctx: Context) -> int:
    from host_tools.install import mip

    args = ctx.args
    local = Path(args.index) if args.index and Path(args.index).is_dir() else None
    index = args.index if args.index and local is None else mip.INDEX
    with ctx.progress("installing") as progress:
        fetched, result = mip.install(ctx.link, args.packages, board=ctx.board,
                                      target=args.target, index=index, local_index=local,
                                      build_dir=ctx.build_dir, progress=progress)
    if not ctx.quiet:
        print(f"installed {', '.join(fetched.packages)} in {args.target}: "
              f"{len(result.sent)} sent, {len(result.unchanged)} unchanged", file=sys.stderr)
    return 0
