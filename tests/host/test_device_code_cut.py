"""A one-off call sends only what its function needs of a firmware/ file."""

from __future__ import annotations

import ast

import pytest

from host_tools.link import device_code


def _names(source: str) -> set[str]:
    tree = ast.parse(source)
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)} | {
        t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
        if isinstance(t, ast.Name)}


def test_status_takes_its_helpers_and_constants_and_nothing_else() -> None:
    cut = device_code.needed_for("boot_guard.py", "status")
    assert _names(cut) == {"status", "count", "_exists", "ROOT", "_MAIN", "_BOOTS", "_SAVED"}
    assert "__main__" not in cut  # the guard's boot-time action is not sent
    assert len(cut) < len(device_code.compacted("boot_guard.py")) / 3
    compile(cut, "boot_guard.py", "exec")  # a module of its own


def test_imports_and_try_blocks_come_with_the_names_they_bind() -> None:
    cut = device_code.needed_for("host/fs.py", "tree")
    assert {"tree", "_walk", "ls", "stat", "_join", "DIR"} <= _names(cut)
    assert "import os" in cut and "def sha256" not in cut


def test_an_unknown_function_is_an_error_on_the_host() -> None:
    with pytest.raises(ValueError, match="no function nope"):
        device_code.needed_for("host/fs.py", "nope")
