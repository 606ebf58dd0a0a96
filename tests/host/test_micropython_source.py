"""MicroPython sources for firmware builds: trees and tarballs, and clear errors for the rest."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from host_tools.errors import CommandError
from host_tools.install import micropython_source

CONFIG = ("#define MICROPY_VERSION_MAJOR 1\n#define MICROPY_VERSION_MINOR 28\n"
          "#define MICROPY_VERSION_MICRO 0\n")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("EMBER_CACHE_DIR", str(folder))
    monkeypatch.delenv("MICROPY_DIR", raising=False)
    return folder


def _tree(root: Path) -> Path:
    (root / "py").mkdir(parents=True)
    (root / "py" / "mpconfig.h").write_text(CONFIG)
    (root / "ports").mkdir()
    return root


def _tarball(path: Path, top: str = "micropython-1.28.0") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in ((f"{top}/py/mpconfig.h", CONFIG), (f"{top}/ports/README", "x")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_a_tree_is_used_where_it_is(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "mp")
    source = micropython_source.resolve(str(tree))
    assert source.root == tree.resolve() and source.version == "1.28.0"


def test_a_tarball_is_unpacked_once_into_the_cache(tmp_path: Path, cache: Path) -> None:
    tarball = _tarball(tmp_path / "mp.tar.gz")
    first = micropython_source.resolve(str(tarball))
    assert first.root.is_relative_to(cache) and first.root.name == "micropython-1.28.0"
    assert first.version == "1.28.0" and first.identity.startswith("tarball:")
    (first.root / "marker").write_text("kept")
    again = micropython_source.resolve(str(tarball))
    assert again == first and (again.root / "marker").is_file()  # not unpacked again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "mp.tar.gz"]


def test_missing_source_names_the_ways_to_give_one() -> None:
    with pytest.raises(CommandError, match="MICROPY_DIR") as error:
        micropython_source.resolve(None)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("kind", ["nowhere", "empty folder", "other file", "corrupt tarball"])
def test_what_is_no_source_is_a_one_line_error(tmp_path: Path, kind: str, cache: Path) -> None:
    path = tmp_path / "src"
    if kind == "empty folder":
        path.mkdir()
    elif kind == "other file":
        path.write_text("hello")
    elif kind == "corrupt tarball":
        path = tmp_path / "src.tar.gz"
        path.write_bytes(b"\x1f\x8b" + bytes(100))
    with pytest.raises(CommandError) as error:
        micropython_source.resolve(str(path))
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert not any(cache.rglob("py"))  # nothing half-unpacked is left to be taken for a tree
