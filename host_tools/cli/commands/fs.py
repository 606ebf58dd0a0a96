"""`ember fs ls|tree|cat|cp|rm|mkdir|rmdir|touch|df|sha256sum` (and the top-level ls, cat,
cp, rm, df, tree): the board's files, with mpremote's names and its ':' for board paths."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from host_tools.cli.context import Context
from host_tools.errors import CommandError
from host_tools.files.board_files import BoardFiles, Entry, board_path, is_board_path

VERBS = ("ls", "tree", "cat", "cp", "rm", "mkdir", "rmdir", "touch", "df", "sha256sum")
SHORTCUTS = ("ls", "cat", "cp", "rm", "df", "tree")  # also top-level verbs


def _files(ctx: Context) -> BoardFiles:
    return BoardFiles(ctx.link)


def _paths(ctx: Context, default: str | None = "/") -> list[str]:
    given = ctx.args.paths or ([default] if default else [])
    if not given:
        raise CommandError("which board path? (write it as :PATH)")
    return [board_path(p) for p in given]


def _line(entry: Entry) -> str:
    return f"{entry.size:>12} {entry.name}{'/' if entry.is_dir else ''}"


def cmd_ls(ctx: Context) -> int:
    files = _files(ctx)
    listings = {path: files.ls(path) for path in _paths(ctx)}
    if ctx.args.json:
        print(json.dumps({path: [e.as_json() for e in entries]
                          for path, entries in listings.items()}))
        return 0
    for path, entries in listings.items():
        if len(listings) > 1:
            print(f":{path}:")
        for entry in entries:
            print(_line(entry))
    return 0


def cmd_tree(ctx: Context) -> int:
    files = _files(ctx)
    for path in _paths(ctx):
        entries = files.tree(path)
        if ctx.args.json:
            print(json.dumps({path: [e.as_json() for e in entries]}))
            continue
        print(f":{path}")
        for entry in entries:
            depth = entry.name.count("/")
            name = entry.name.rsplit("/", 1)[-1]
            size = "" if entry.is_dir else f"  ({entry.size} B)"
            print(f"{'    ' * depth}├── {name}{'/' if entry.is_dir else ''}{size}")
    return 0


def cmd_cat(ctx: Context) -> int:
    files = _files(ctx)
    for path in _paths(ctx, default=None):
        sys.stdout.buffer.write(files.cat(path))
    sys.stdout.buffer.flush()
    return 0


def cmd_cp(ctx: Context) -> int:
    """cp SRC... DEST: one side on the board (':'), as mpremote's cp."""
    args = ctx.args
    if len(args.paths) < 2:
        raise CommandError("cp needs a source and a destination (one of them :PATH)")
    *sources, dest = args.paths
    if is_board_path(dest) and all(is_board_path(s) for s in sources):
        files = _files(ctx)
        for source in sources:  # on the board: each file through the host
            files.copy(board_path(source), board_path(dest))
        return 0
    if is_board_path(dest):
        if any(is_board_path(s) for s in sources):
            raise CommandError("cp takes sources from one side: all :PATH or all local")
        files = _files(ctx)
        if dest.endswith("/") and board_path(dest) != "/":
            files.mkdir(board_path(dest), parents=True)  # ':dir/' is a folder, as in mpremote
        sent = 0
        with ctx.progress("copying") as progress:
            for source in sources:
                result = files.put(Path(source), board_path(dest), recursive=args.recursive,
                                   progress=progress)
                sent += len(result.sent)
        if not ctx.quiet:
            print(f"copied {len(sources)} to :{board_path(dest)} ({sent} files sent)",
                  file=sys.stderr)
        return 0
    if not all(is_board_path(s) for s in sources):
        raise CommandError("cp needs one side on the board: write board paths as :PATH")
    files = _files(ctx)
    written = 0
    for source in sources:
        written += len(files.get(board_path(source), Path(dest), recursive=args.recursive))
    if not ctx.quiet:
        print(f"copied {written} files to {dest}", file=sys.stderr)
    return 0


def cmd_rm(ctx: Context) -> int:
    files = _files(ctx)
    for path in _paths(ctx, default=None):
        removed = files.rm(path, recursive=ctx.args.recursive, force=ctx.args.force)
        if not ctx.quiet:
            print(f"removed :{path}" + (f" ({removed} entries)" if removed > 1 else ""),
                  file=sys.stderr)
    return 0


def cmd_mkdir(ctx: Context) -> int:
    files = _files(ctx)
    for path in _paths(ctx, default=None):
        files.mkdir(path, parents=ctx.args.parents)
    return 0


def cmd_rmdir(ctx: Context) -> int:
    files = _files(ctx)
    for path in _paths(ctx, default=None):
        files.rmdir(path, force=ctx.args.force)
    return 0


def cmd_touch(ctx: Context) -> int:
    files = _files(ctx)
    for path in _paths(ctx, default=None):
        files.touch(path)
    return 0


def cmd_df(ctx: Context) -> int:
    files = _files(ctx)
    usages = {path: files.df(path) for path in _paths(ctx)}
    if ctx.args.json:
        print(json.dumps({path: usage.as_json() for path, usage in usages.items()}))
        return 0
    print(f"{'size':>12} {'used':>12} {'avail':>12} {'use%':>5}  mounted on")
    for path, usage in usages.items():
        percent = round(100 * usage.used / usage.total) if usage.total else 0
        print(f"{usage.total:>12} {usage.used:>12} {usage.free:>12} {percent:>4}%  :{path}")
    return 0


def cmd_sha256sum(ctx: Context) -> int:
    files = _files(ctx)
    for path in _paths(ctx, default=None):
        print(f"{files.sha256sum(path)}  :{path}")
    return 0


HANDLERS = {name: globals()[f"cmd_{name}"] for name in VERBS}
