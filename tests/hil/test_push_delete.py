"""push --delete removes only the project's old files, says which, and spares ember's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from host_tools.errors import CommandError
from host_tools.files.board_files import BoardFiles
from host_tools.link.session import Link
from host_tools.push.session import plan, push
from host_tools.sim.launcher import VirtualBoard


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_delete_spares_the_runtime_lists_what_went_and_prunes_empty_folders(
    sim: VirtualBoard, tmp_path: Path,
) -> None:
    runtime = write(tmp_path / "runtime", {"__init__.py": "X = 1\n", "core.py": "Y = 2\n"})
    project_a = write(tmp_path / "a", {"main.py": "A\n", "old/deep/gone.py": "G\n",
                                       "old/keep_folder.py": "K\n",
                                       "tree/only/one.py": "O\n"})
    project_b = write(tmp_path / "b", {"main.py": "B\n", "old/keep_folder.py": "K\n"})
    with Link(sim.port) as link:
        push(link, plan([runtime], "/lib/ember"), dest="/lib/ember")
        push(link, plan([project_a], "/"), dest="/")
        dry = push(link, plan([project_b], "/"), dest="/", delete=True, dry_run=True)
        assert dry.dry_run and dry.deleted == ["/old/deep/gone.py", "/tree/only/one.py"]
        assert dry.sent == ["/main.py"]
        files = BoardFiles(link)
        assert files.cat("/main.py") == b"A\n"  # a dry run changes nothing
        assert files.cat("/old/deep/gone.py") == b"G\n"

        result = push(link, plan([project_b], "/"), dest="/", delete=True)
        assert result.deleted == ["/old/deep/gone.py", "/tree/only/one.py"]
        # /old still holds keep_folder.py; /tree held nothing else
        assert set(result.pruned) == {"/old/deep", "/tree/only", "/tree"}
        assert set(result.kept) == {"/lib/ember/__init__.py", "/lib/ember/core.py"}
        assert result.as_json()["deleted_paths"] == result.deleted + result.pruned
        assert files.cat("/lib/ember/core.py") == b"Y = 2\n"
        assert files.cat("/main.py") == b"B\n"
        assert {e.name for e in files.ls("/old")} == {"keep_folder.py"}
        assert "tree" not in {e.name for e in files.ls("/")}


def test_a_push_that_cannot_fit_is_refused_before_anything_is_sent(sim: VirtualBoard,
                                                                   tmp_path: Path) -> None:
    with Link(sim.port) as link:
        push(link, plan([], "/"), dest="/")  # the receiver's own state (/.ember) is there
        files = BoardFiles(link)
        free = files.df("/").free
        big = tmp_path / "big"
        big.mkdir()
        (big / "huge.bin").write_bytes(bytes(free + 8192))
        (big / "small.py").write_text("X = 1\n")
        with pytest.raises(CommandError, match="too full.*nothing was sent") as error:
            push(link, plan([big], "/"), dest="/")
        assert "intact" in str(error.value)
        assert {e.name for e in files.ls("/")}.isdisjoint({"huge.bin", "small.py"})
        assert files.df("/").free == free  # not a byte written
