"""The day's verbs from the command line: fs (and its shortcuts), reset, soft-reset,
push --delete/--dry-run, and --board refused by every verb on another board."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from host_tools.files.board_files import BoardFiles, Entry
from host_tools.link.session import Link
from host_tools.sim.launcher import VirtualBoard
from tests.hil.conftest import on_qemu
from tests.hil.test_cli import ember, one_line_error

BLOB = bytes(range(256)) * 12


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    (root / "data").mkdir(parents=True)
    (root / "data" / "blob.bin").write_bytes(BLOB)
    (root / "main.py").write_text("print('hello from main')\n")
    return root


def test_file_verbs_copy_list_read_hash_and_remove(sim: VirtualBoard, app: Path,
                                                   tmp_path: Path) -> None:
    port = ["--port", sim.port]
    ember(*port, "fs", "cp", "-r", str(app), ":/")
    listing = ember(*port, "ls", ":/app").stdout.splitlines()
    assert "           0 data/" in listing and "          25 main.py" in listing
    as_json = json.loads(ember(*port, "fs", "ls", ":/app/data", "--json").stdout)
    assert as_json == {"/app/data": [{"name": "blob.bin", "type": "file", "size": len(BLOB)}]}
    assert ember(*port, "cat", ":/app/main.py").stdout == "print('hello from main')\n"
    digest = ember(*port, "fs", "sha256sum", ":/app/data/blob.bin").stdout.split()[0]
    assert digest == hashlib.sha256(BLOB).hexdigest()
    assert "blob.bin" in ember(*port, "tree", ":/app").stdout
    ember(*port, "cp", ":/app/data/blob.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == BLOB
    ember(*port, "cp", str(app / "main.py"), ":/newdir/")  # a trailing / names a folder
    assert ember(*port, "cat", ":/newdir/main.py").stdout == "print('hello from main')\n"
    ember(*port, "cp", ":/app/data/blob.bin", ":/copy.bin")  # on the board, as mpremote's
    assert ember(*port, "fs", "sha256sum", ":/copy.bin").stdout.split()[0] == \
        hashlib.sha256(BLOB).hexdigest()
    ember(*port, "fs", "mkdir", "-p", ":/x/y")
    ember(*port, "fs", "touch", ":/x/y/z.txt")
    assert one_line_error(ember(*port, "rm", ":/x", check=False)) == \
        "ember: :/x: is a folder (use -r, or rmdir for an empty one)"
    ember(*port, "rm", "-r", ":/x")
    assert one_line_error(ember(*port, "cat", ":/x/y/z.txt", check=False)) == \
        "ember: :/x/y/z.txt: no such file or folder"
    df = json.loads(ember(*port, "df", "--json").stdout)["/"]
    assert df["total"] == df["used"] + df["free"] and df["free"] > 0


def test_removing_the_runtime_needs_force(sim: VirtualBoard, tmp_path: Path) -> None:
    (tmp_path / "core.py").write_text("X = 1\n")
    port = ["--port", sim.port]
    ember(*port, "fs", "mkdir", "-p", ":/lib/ember")
    ember(*port, "cp", str(tmp_path / "core.py"), ":/lib/ember/core.py")
    error = one_line_error(ember(*port, "rm", "-r", ":/lib", check=False))
    assert "would remove the ember runtime" in error and "--force" in error
    assert ember(*port, "cat", ":/lib/ember/core.py").stdout == "X = 1\n"
    ember(*port, "rm", "-r", "--force", ":/lib/ember")
    assert "ember" not in ember(*port, "ls", ":/lib").stdout


def test_push_delete_lists_what_goes_and_dry_run_changes_nothing(sim: VirtualBoard,
                                                                  app: Path) -> None:
    port = ["--port", sim.port]
    ember(*port, "push", str(app), "--source")
    (app / "data" / "blob.bin").unlink()
    dry = ember(*port, "push", str(app), "--source", "--delete", "--dry-run").stdout
    assert "would delete :/data/blob.bin" in dry and dry.strip().endswith("s")
    assert ember(*port, "fs", "sha256sum", ":/data/blob.bin").returncode == 0
    result = json.loads(ember(*port, "push", str(app), "--source", "--delete",
                              "--json").stdout)
    assert result["deleted_paths"] == ["/data/blob.bin", "/data"]
    assert result["dry_run"] is False
    assert "data" not in ember(*port, "ls").stdout


def test_reset_is_a_hard_reset_and_soft_reset_a_soft_one(sim: VirtualBoard,
                                                         board_name: str) -> None:
    port = ["--port", sim.port]
    cause = "import machine; print(machine.reset_cause())"
    mark = "import builtins; print(hasattr(builtins, 'MARK'))"
    # MicroPython's qemu port has no reset cause: its machine.reset_cause() is always 0.
    causes = not on_qemu(board_name)
    if causes:
        assert ember(*port, "exec", cause).stdout.strip() == "1"  # PWRON_RESET
    ember(*port, "exec", "import builtins; builtins.MARK = 1")
    ember(*port, "soft-reset")
    assert ember(*port, "exec", mark).stdout.strip() == "False"  # a fresh heap
    ember(*port, "exec", "import builtins; builtins.MARK = 1")
    ember(*port, "reset")
    assert ember(*port, "exec", mark).stdout.strip() == "False"
    if causes:
        assert ember(*port, "exec", cause).stdout.strip() == "2"  # HARD_RESET


def test_a_board_option_that_is_not_the_board_is_refused_by_every_verb(
    sim: VirtualBoard,
) -> None:
    for verb in (["exec", "1"], ["ls"], ["soft-reset"], ["df"]):
        error = one_line_error(ember("--port", sim.port, "--board", "esp8266-generic", *verb,
                                     check=False))
        assert "esp8266-generic" in error, verb


def test_safe_mode_says_what_it_does_works_on_the_smallest_board_and_uninstalls() -> None:
    with VirtualBoard("samd21-generic", baud=None) as small:  # a 20 KB heap
        port = ["--port", small.port]
        before = ember(*port, "safe-mode", "status").stdout.strip()
        assert before.startswith("safe mode: off; no boot guard")
        # the guard is pushed with ember push, which this firmware cannot run (no hashlib):
        # it says so in one line, and the status still works on this board
        error = one_line_error(ember(*port, "safe-mode", "install", check=False))
        assert "no hashlib" in error and "nothing was sent" in error
        status = json.loads(ember(*port, "safe-mode", "status", "--json").stdout)
        assert status == {"safe_mode": False, "boots_not_healthy": 0,
                          "guard_installed": False, "limit": 3}


def test_safe_mode_install_explains_and_uninstall_takes_it_off(sim: VirtualBoard) -> None:
    port = ["--port", sim.port]
    said = ember(*port, "safe-mode", "install").stdout
    assert "ember.run()" in said and "ember.healthy()" in said and "after 3 boots" in said
    assert ember(*port, "safe-mode", "status").stdout.startswith(
        "safe mode: off; 0 of 3 boots in a row not healthy")
    ember(*port, "exec", "with open('/main.py', 'w') as f: f.write('print(1)')")
    ember(*port, "safe-mode", "enter")
    assert ember(*port, "safe-mode", "status").stdout.startswith("safe mode: ON")
    assert "removed" in ember(*port, "safe-mode", "uninstall").stdout
    status = json.loads(ember(*port, "safe-mode", "status", "--json").stdout)
    assert status["guard_installed"] is False and status["safe_mode"] is False
    assert ember(*port, "cat", ":/main.py").stdout == "print(1)"  # put back
    assert "boot.py" not in ember(*port, "ls").stdout


def test_after_flash_a_push_with_delete_keeps_the_runtime(app: Path) -> None:
    # issue 12: after `ember flash`, `ember push projB --delete` emptied /lib/ember
    with VirtualBoard("rp2-pico", baud=None, frozen_runtime=False) as board:
        port = ["--port", board.port]
        ember(*port, "flash")
        runtime = {e.name for e in _tree(board, "/lib/ember")}
        assert "__init__.mpy" in runtime
        result = json.loads(ember(*port, "push", str(app), "--delete", "--json").stdout)
        assert result["deleted"] == 0 and result["deleted_paths"] == []
        assert {p.rsplit("/", 1)[-1] for p in result["kept_paths"]} >= runtime
        assert {e.name for e in _tree(board, "/lib/ember")} == runtime
        assert ember(*port, "exec", "import ember; print(hasattr(ember, 'set_timeout'))"
                     ).stdout.strip() == "True"


def _tree(board: VirtualBoard, path: str) -> list[Entry]:
    with Link(board.port) as link:
        return BoardFiles(link).tree(path)


def test_file_verbs_work_on_a_busy_chatty_board(app: Path) -> None:
    with VirtualBoard("rp2-pico", baud=None) as board:
        port = ["--port", board.port]
        (app / "main.py").write_text("import time\nwhile True:\n    print('chatter ' * 8)\n"
                                     "    time.sleep_ms(1)\n")
        ember(*port, "push", str(app), "--source")
        ember(*port, "reset")  # main.py now prints without end
        assert "main.py" in ember(*port, "ls").stdout
        assert ember(*port, "cat", ":/main.py").stdout.startswith("import time")
