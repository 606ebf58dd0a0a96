"""`ember build` and `ember push`: the user's project compiled for the board, and synced."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from host_tools.cli.context import Context
from host_tools.cli.progress import progress_bar
from host_tools.install import runtime as deploy


def cmd_build(ctx: Context) -> int:
    args = ctx.args
    sources = [Path(p) for p in args.sources] or [Path(".")]
    if args.board:
        target, label = deploy.board_target(None, args.board)  # no board needed
    else:
        target, label = deploy.board_target(ctx.link, ctx.board)
    result = deploy.build_tree(sources, target, label, as_source=args.source,
                               root=ctx.build_dir)
    if args.json:
        print(json.dumps({"out_dir": str(result.out_dir), "compiled": result.compiled,
                          "copied": result.copied, "cached": result.cached,
                          "files": len(result.files), "target": str(target)}))
    elif not args.quiet:
        print(f"{len(result.files)} files for {target} in {result.out_dir} "
              f"({result.compiled} compiled, {result.copied} copied, {result.cached} cached)")
    return 0


def cmd_push(ctx: Context) -> int:
    args = ctx.args
    sources = [Path(p) for p in args.sources] or [Path(".")]
    link, board = ctx.link, ctx.board
    with progress_bar("pushing", args.quiet or args.json or args.dry_run) as progress:
        _, result = deploy.push_project(link, sources, board=board, dest=args.dest,
                                        delete=args.delete, as_source=args.source,
                                        progress=progress, build_dir=ctx.build_dir,
                                        dry_run=args.dry_run,
                                        delete_libraries=args.delete_libs)
    if args.json:
        print(json.dumps(result.as_json()))
        return 0
    if args.quiet:
        return 0
    would = "would " if result.dry_run else ""
    if result.dry_run:
        for path in result.sent:
            print(f"would send :{path}")
    for path in result.deleted + result.pruned:
        print(f"{would}delete :{path}")
    if result.kept:
        print(f"kept {len(result.kept)} files not in SRC that are not the project's (the "
              "runtime, ember's cache, what mip installed: --delete-libs deletes those too)",
              file=sys.stderr)
    print(f"{'dry run: ' if result.dry_run else ''}sent {len(result.sent)}, "
          f"unchanged {len(result.unchanged)}, deleted {len(result.deleted)}: "
          f"{result.bytes} bytes in {result.seconds:.2f} s")
    return 0
