"""The board's files as the host sees them: list, read, fetch, copy in, remove, make.

Each verb is one call of firmware/host/fs.py through device_code (kept on the board while
a verb works, so a `cp -r` of many files sends that module once); copying onto the board
goes through ember's push, so it is verified and atomic. Board paths are written as
mpremote writes them, with a leading ':' (`:/lib/x.py`, `:` alone is `/`). A board's
OSError comes back as a FileError that names the path and what is wrong
(`:/x: no such file`), told apart by its errno.
"""

from __future__ import annotations

import base64
import errno
import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path

from host_tools.board_paths import protected_by
from host_tools.errors import CommandError, DeviceError
from host_tools.link import device_code
from host_tools.link.interface import BoardLink, Progress
from host_tools.push.session import PushResult, plan, push

FS = "host/fs.py"  # the board's side, under firmware/
READ_CHUNK = 2048  # bytes per read call: small enough for a 16 KB heap, base64 and all

REASONS = {
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.ENOTDIR: "not a folder",
    errno.EISDIR: "is a folder",
    errno.ENOTEMPTY: "folder not empty (use -r)",
    errno.EACCES: "permission denied (a folder not empty, or read-only)",
    errno.EROFS: "read-only filesystem",
    errno.ENOSPC: "the board's filesystem is full",
    errno.EINVAL: "invalid path",
}


class FileError(CommandError):
    """A file verb failed on the board: `:PATH: reason`."""


@dataclass(frozen=True)
class Entry:
    """One file or folder: its name (or path relative to the listed folder)."""

    name: str
    is_dir: bool
    size: int

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "type": "dir" if self.is_dir else "file", "size": self.size}


@dataclass(frozen=True)
class DiskUsage:
    block_size: int
    blocks: int
    blocks_free: int

    @property
    def total(self) -> int:
        return self.block_size * self.blocks

    @property
    def free(self) -> int:
        return self.block_size * self.blocks_free

    @property
    def used(self) -> int:
        return self.total - self.free

    def as_json(self) -> dict[str, int]:
        return {"total": self.total, "used": self.used, "free": self.free,
                "block_size": self.block_size}


def board_path(text: str) -> str:
    """':x', ':/x' or '/x' as an absolute, normalised board path ('/x')."""
    path = text[1:] if text.startswith(":") else text
    return posixpath.normpath("/" + path.lstrip("/")) if path.strip("/") else "/"


def is_board_path(text: str) -> bool:
    """Whether a `cp` argument names the board (mpremote's ':' prefix)."""
    return text.startswith(":")


class BoardFiles:
    """The file verbs on one board."""

    def __init__(self, link: BoardLink) -> None:
        self.link = link

    def _call(self, function: str, path: str, *args: object) -> object:
        try:
            return device_code.call(self.link, FS, function, path, *args, keep=True)
        except DeviceError as error:
            if error.kind != "OSError":
                raise
            reason = REASONS.get(error.errno or -1, f"errno {error.errno}")
            raise FileError(f":{path}: {reason}") from None

    def stat(self, path: str) -> Entry:
        is_dir, size = self._call("stat", path)  # type: ignore[misc]
        return Entry(posixpath.basename(path) or "/", bool(is_dir), int(size))

    def ls(self, path: str = "/") -> list[Entry]:
        return [Entry(str(n), bool(d), int(s))
                for n, d, s in self._call("ls", path)]  # type: ignore[union-attr]

    def tree(self, path: str = "/") -> list[Entry]:
        return [Entry(str(n), bool(d), int(s))
                for n, d, s in self._call("tree", path)]  # type: ignore[union-attr]

    def cat(self, path: str) -> bytes:
        data = bytearray()
        while True:
            chunk = base64.b64decode(self._call("read", path, len(data), READ_CHUNK))  # type: ignore[arg-type]
            data += chunk
            if len(chunk) < READ_CHUNK:
                return bytes(data)

    def get(self, path: str, local: Path, *, recursive: bool = False) -> list[Path]:
        """Copies a board file (or, with recursive, a folder) to `local`; an existing local
        folder receives it under its own name, as `cp` does. Returns the files written."""
        entry = self.stat(path)
        if local.is_dir():
            local = local / (posixpath.basename(path) or "board")
        if not entry.is_dir:
            _write_atomically(local, self.cat(path))
            return [local]
        if not recursive:
            raise FileError(f":{path}: is a folder (use -r)")
        written = []
        local.mkdir(parents=True, exist_ok=True)
        for item in self.tree(path):
            target = local.joinpath(*item.name.split("/"))
            if item.is_dir:
                target.mkdir(parents=True, exist_ok=True)
            else:
                _write_atomically(target, self.cat(posixpath.join(path, item.name)))
                written.append(target)
        return written

    def put(self, local: Path, path: str, *, recursive: bool = False,
            progress: Progress | None = None) -> PushResult:
        """Copies a local file (or, with recursive, a folder) onto the board with push:
        verified and atomic. A board folder that exists receives it under its own name."""
        if not local.exists():
            raise CommandError(f"{local}: no such file or folder")
        if local.is_dir() and not recursive:
            raise CommandError(f"{local}: is a folder (use -r)")
        into_folder = path == "/" or self._is_dir(path)
        if local.is_dir():
            dest = posixpath.join(path, local.name) if into_folder else path
            return push(self.link, plan([local], dest), dest=dest, progress=progress)
        target = posixpath.join(path, local.name) if into_folder else path
        folder, name = posixpath.split(target)
        return push(self.link, plan([(local, name)], folder or "/"), dest=folder or "/",
                    progress=progress)

    def copy(self, source: str, path: str) -> PushResult:
        """Copies a board file to another board path (into it, if it is a folder), as
        mpremote's `cp :a :b`: read to the host, then written with push."""
        if self.stat(source).is_dir:
            raise FileError(f":{source}: is a folder (cp on the board copies files)")
        data = self.cat(source)
        with tempfile.TemporaryDirectory(prefix="ember-cp-") as tmp:
            local = Path(tmp) / posixpath.basename(source)
            local.write_bytes(data)
            return self.put(local, path)

    def _is_dir(self, path: str) -> bool:
        try:
            return self.stat(path).is_dir
        except FileError:
            return False

    def rm(self, path: str, *, recursive: bool = False, force: bool = False) -> int:
        """Removes a file, or a folder with what it holds if recursive; refuses ember's own
        files (the runtime, its cache) unless forced. Returns how many entries went."""
        what = protected_by(path)
        if what is not None and not force:
            raise FileError(f":{path}: would remove {what}; add --force to remove it anyway")
        if not recursive and self.stat(path).is_dir:
            raise FileError(f":{path}: is a folder (use -r, or rmdir for an empty one)")
        return int(self._call("remove", path, recursive))  # type: ignore[arg-type]

    def mkdir(self, path: str, *, parents: bool = False) -> bool:
        return bool(self._call("mkdir", path, parents))

    def rmdir(self, path: str, *, force: bool = False) -> None:
        what = protected_by(path)
        if what is not None and not force:
            raise FileError(f":{path}: would remove {what}; add --force to remove it anyway")
        self._call("rmdir", path)

    def touch(self, path: str) -> None:
        self._call("touch", path)

    def df(self, path: str = "/") -> DiskUsage:
        block_size, blocks, free = self._call("df", path)  # type: ignore[misc]
        return DiskUsage(int(block_size), int(blocks), int(free))

    def sha256sum(self, path: str) -> str:
        return str(self._call("sha256", path))


def _write_atomically(local: Path, data: bytes) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(f".{local.name}.ember-tmp")
    tmp.write_bytes(data)
    tmp.replace(local)
