"""MicroPython's source for firmware builds: a tree or a .tar.gz of one, never written to.

`--micropython SRC` or MICROPY_DIR names it. A tarball is unpacked once into the user's
cache (EMBER_CACHE_DIR, else $XDG_CACHE_HOME/ember, else ~/.cache/ember), keyed by its
SHA-256, so the builds that use it never touch the file or a user's clone: their objects,
and the mpy-cross they build, go to folders of ember's own.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from host_tools.errors import CommandError
from host_tools.paths import cache_dir

MICROPY_DIR_ENV = "MICROPY_DIR"
_VERSION_RE = re.compile(r"#define MICROPY_VERSION_(MAJOR|MINOR|MICRO)\s+\(?(\d+)")




@dataclass(frozen=True)
class Source:
    """A MicroPython source tree ready to build from."""

    root: Path  # holds py/, ports/, mpy-cross/
    version: str  # "1.28.0", from py/mpconfig.h
    identity: str  # what a cached build is keyed by: the tarball's hash, or the tree's path

    @property
    def mpy_cross_dir(self) -> Path:
        return self.root / "mpy-cross"


def resolve(value: str | None) -> Source:
    """The source named by --micropython or MICROPY_DIR; a clear error if it is no source."""
    value = value or os.environ.get(MICROPY_DIR_ENV)
    if not value:
        raise CommandError(
            f"no MicroPython source: pass --micropython SRC or set {MICROPY_DIR_ENV} to a clone "
            "(git clone --depth 1 --branch v1.28.0 https://github.com/micropython/micropython) "
            "or a release .tar.gz")
    path = Path(value).expanduser()
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        digest = _file_sha256(path)
        return _checked(_unpacked(path, digest), f"tarball:{digest}", value)
    if path.is_dir():
        return _checked(path.resolve(), f"tree:{path.resolve()}:{_tree_state(path)}", value)
    if not path.exists():
        raise CommandError(f"{value}: no such MicroPython source (a folder or a .tar.gz)")
    raise CommandError(f"{value}: not a MicroPython source (a folder or a .tar.gz)")


def _checked(root: Path, identity: str, named: str) -> Source:
    config = root / "py" / "mpconfig.h"
    if not config.is_file() or not (root / "ports").is_dir():
        raise CommandError(f"{named} is not a MicroPython source (no py/mpconfig.h or ports/)")
    parts = dict(_VERSION_RE.findall(config.read_text(errors="replace")))
    version = ".".join(parts.get(k, "?") for k in ("MAJOR", "MINOR", "MICRO"))
    return Source(root=root, version=version, identity=identity)


# What a virtual build reads of a tree: a change in any of these (a git checkout, an edit)
# makes a new cache key, so the firmware is rebuilt.
TREE_PARTS = ("py", "extmod", "shared", "ports/unix", "mpy-cross", "lib/littlefs", "lib/uzlib")


def _tree_state(root: Path) -> str:
    """A fingerprint of a source tree's build inputs: their paths, sizes and mtimes."""
    digest = hashlib.sha256()
    for part in TREE_PARTS:
        base = root / part
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if "build" in path.relative_to(base).parts[:1] or not path.is_file():
                continue
            stat = path.stat()
            digest.update(f"{path.relative_to(root)} {stat.st_size} {stat.st_mtime_ns}\n"
                          .encode())
    return digest.hexdigest()[:16]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpacked(tarball: Path, digest: str) -> Path:
    """The tarball's tree in the cache, unpacked on first use (atomically: a half-unpacked
    tree is never taken for a whole one)."""
    target = cache_dir() / "micropython" / digest[:16]
    done = target / ".unpacked"
    if done.is_file():
        return Path(done.read_text().strip())
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        with tarfile.open(tarball) as archive:
            archive.extractall(scratch, filter="data")
        tops = [p for p in scratch.iterdir() if p.is_dir()]
        root_name = tops[0].name if len(tops) == 1 else ""
        # The marker goes in before the rename: a whole tree is never without it.
        (scratch / ".unpacked").write_text(str(target / root_name if root_name else target))
        try:
            scratch.rename(target)
        except OSError:  # another process unpacked it first
            shutil.rmtree(scratch, ignore_errors=True)
            if done.is_file():
                return Path(done.read_text().strip())
            raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        shutil.rmtree(scratch, ignore_errors=True)
        reason = str(error).splitlines()[0].rstrip(":") or type(error).__name__
        raise CommandError(f"{tarball}: cannot unpack it as a .tar.gz ({reason})") from None
    return target / root_name if root_name else target
