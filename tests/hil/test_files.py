"""The file verbs' library on a virtual board, checked against stock mpremote's fs verbs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from host_tools.files.board_files import BoardFiles, FileError, board_path
from host_tools.link.session import Link
from host_tools.sim.launcher import VirtualBoard
from tests.hil.conftest import mpremote

BLOB = bytes(range(256)) * 20  # 5,120 bytes: every byte value, more than one read chunk
ODD_NAME = "päivä ☃.txt"  # non-ASCII and a space


def project(root: Path) -> Path:
    (root / "app" / "sub").mkdir(parents=True)
    (root / "app" / "blob.bin").write_bytes(BLOB)
    (root / "app" / ODD_NAME).write_text("hei\n", encoding="utf-8")
    (root / "app" / "sub" / "empty.py").write_bytes(b"")
    return root / "app"


def test_copy_in_list_read_and_fetch_keep_every_byte_and_name(sim: VirtualBoard,
                                                                tmp_path: Path) -> None:
    app = project(tmp_path)
    with Link(sim.port) as link:
        files = BoardFiles(link)
        files.put(app, "/", recursive=True)
        listing = {e.name: (e.is_dir, e.size) for e in files.ls("/app")}
        assert listing == {"blob.bin": (False, len(BLOB)), ODD_NAME: (False, 4),
                           "sub": (True, 0)}
        assert [e.name for e in files.tree("/app")] == ["blob.bin", ODD_NAME, "sub",
                                                        "sub/empty.py"]
        assert files.cat("/app/blob.bin") == BLOB
        assert files.cat(f"/app/{ODD_NAME}") == b"hei\n"
        assert files.cat("/app/sub/empty.py") == b""
        assert files.sha256sum("/app/blob.bin") == hashlib.sha256(BLOB).hexdigest()
        fetched = files.get("/app", tmp_path / "back", recursive=True)
        assert len(fetched) == 3
    assert (tmp_path / "back" / "blob.bin").read_bytes() == BLOB
    assert (tmp_path / "back" / ODD_NAME).read_text(encoding="utf-8") == "hei\n"
    # stock mpremote sees the same names, sizes and hashes
    stock = mpremote(sim.port, "fs", "ls", ":/app").stdout
    assert f"{len(BLOB)} blob.bin" in stock and f"4 {ODD_NAME}" in stock and "sub/" in stock
    stock_hash = mpremote(sim.port, "fs", "sha256sum", ":/app/blob.bin").stdout
    assert hashlib.sha256(BLOB).hexdigest() in stock_hash


def test_make_touch_remove_and_df(sim: VirtualBoard) -> None:
    with Link(sim.port) as link:
        files = BoardFiles(link)
        before = files.df("/")
        assert before.total > 0 and 0 < before.free <= before.total
        assert files.mkdir("/a/b/c", parents=True) is True
        assert files.mkdir("/a/b/c", parents=True) is False  # there already
        files.touch("/a/b/c/new.txt")
        files.touch("/a/b/c/new.txt")  # an existing file is left as it is
        assert files.stat("/a/b/c/new.txt").size == 0
        with pytest.raises(FileError, match=r"^:/a: is a folder"):
            files.rm("/a")
        with pytest.raises(FileError, match=r"^:/a/b: "):
            files.rmdir("/a/b")  # not empty
        assert files.rm("/a", recursive=True) == 4
        assert "a" not in {e.name for e in files.ls("/")}


def test_device_errors_come_back_as_one_line_host_errors(sim: VirtualBoard) -> None:
    with Link(sim.port) as link:
        files = BoardFiles(link)
        with pytest.raises(FileError, match=r"^:/nope: no such file or folder$"):
            files.cat("/nope")
        with pytest.raises(FileError, match=r"^:/nope/x: no such file"):
            files.ls("/nope/x")
        files.mkdir("/d")
        with pytest.raises(FileError, match=r"^:/d: already exists$"):
            files.mkdir("/d")


def test_the_runtime_and_embers_cache_are_not_removed_without_force(sim: VirtualBoard,
                                                                    tmp_path: Path) -> None:
    (tmp_path / "__init__.py").write_text("X = 1\n")
    with Link(sim.port) as link:
        files = BoardFiles(link)
        files.put(tmp_path / "__init__.py", "/lib/ember/__init__.py")
        for path in ("/lib/ember", "/lib/ember/__init__.py", "/lib", "/", "/.ember"):
            with pytest.raises(FileError, match="would remove .*--force"):
                files.rm(path, recursive=True)
        assert files.cat("/lib/ember/__init__.py") == b"X = 1\n"
        assert files.rm("/lib/ember", recursive=True, force=True) == 2
        with pytest.raises(FileError, match="no such file"):
            files.stat("/lib/ember")


def test_board_paths_are_written_as_mpremote_writes_them() -> None:
    assert board_path(":") == "/" and board_path(":/") == "/"
    assert board_path(":lib/x.py") == "/lib/x.py" == board_path("/lib//x.py")
    assert board_path(":/a/../b") == "/b"
