"""host_tools builds no device code as strings: what runs on a board is a file in firmware/.

Code for the board goes through host_tools/link/device_code.py, which sends functions of
real files; a call like `link.exec(f"...")` or `link.eval("...")` elsewhere would bring
back device code written inside host code (DESIGN §2)."""

from __future__ import annotations

import ast
from pathlib import Path

HOST_TOOLS = Path(__file__).resolve().parents[2] / "host_tools"
SENDS = {"exec", "eval", "start", "exec_raw", "exec_raw_no_follow"}
ALLOWED = {HOST_TOOLS / "link" / "device_code.py"}  # the one sender


def _builds_text(node: ast.expr) -> bool:
    """A string literal, an f-string, a concatenation or a .format()/.replace() of one."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | bytes)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _builds_text(node.left) or _builds_text(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "format":
            return True  # a template filled in
        if node.func.attr in {"replace", "encode", "join"}:
            return _builds_text(node.func.value) or any(_builds_text(a) for a in node.args)
    return False


def test_no_module_sends_code_it_wrote_itself() -> None:
    found = []
    for path in sorted(HOST_TOOLS.rglob("*.py")):
        if path in ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in SENDS and node.args and _builds_text(node.args[0])):
                found.append(f"{path.relative_to(HOST_TOOLS.parent)}:{node.lineno}")
    assert found == [], "device code built as a string (move it to firmware/): " + \
        ", ".join(found)


def test_the_check_would_see_one() -> None:
    tree = ast.parse("link.exec(f'print({x})')\nlink.eval('1' + y)\nb.start(T.format(a=1))")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and
             isinstance(n.func, ast.Attribute) and n.func.attr in SENDS]
    assert all(_builds_text(c.args[0]) for c in calls) and len(calls) == 3
