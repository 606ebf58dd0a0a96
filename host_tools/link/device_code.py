"""Runs ember's device code on a board: functions of real files under firmware/.

Every piece of code the host sends to a board for its own work lives in `firmware/` as a
module (linted, tested on the interpreter); this layer sends it. It compacts a file once
(docstrings, comments and blank lines out), runs it in a namespace of its own (so the REPL's
globals stay clean and a module's boot-time action, guarded by `__name__`, does not run),
calls one function with literal arguments and returns the function's result, read back
with `ast.literal_eval`. Composing that call (a function name and `repr()`s of its
arguments) is the one place in host_tools that writes device text; nothing else may.

`keep=True` leaves the module defined on the board (a namespace in
`sys.modules['_ember_dc']`, out of the REPL's globals), so a job of many calls (writing a
ROMFS image chunk by chunk, a test suite's fresh state and calls) sends the module once: a
call finds it there, or says it is missing and is sent again with the module. A soft reset
empties sys.modules; the next call defines it again.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path
from typing import Protocol

from host_tools.paths import FIRMWARE_DIR

MISSING = "\x1bember:undefined\x1b"  # a kept module's call found no module on the board
GLOBALS = object()  # an argument that stands for the REPL's globals() on the board


class Runs(Protocol):
    """What device code runs through: a Link (bytes back) or the plugin's Board (text)."""

    def exec(self, code: str, *, timeout: float | None = ...) -> bytes | str: ...


class Starts(Protocol):
    def start(self, code: str) -> None: ...


@functools.cache
def compacted(relative: str) -> str:
    """firmware/RELATIVE without docstrings or comments: less to send, same code."""
    tree = ast.parse((FIRMWARE_DIR / relative).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree) + "\n"


def _bound_by(statement: ast.stmt) -> set[str]:
    """The names a top-level statement binds (a def, an import, an assignment, or those
    inside a try/if at the top level), not looking into function bodies."""
    if isinstance(statement, ast.FunctionDef | ast.ClassDef):
        return {statement.name}
    if isinstance(statement, ast.Import | ast.ImportFrom):
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    bound: set[str] = set()
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef) and node is not statement:
            bound.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return bound


@functools.cache
def needed_for(relative: str, function: str) -> str:
    """firmware/RELATIVE compacted and cut to what FUNCTION needs: the top-level
    statements that bind a name it uses, and theirs in turn, in file order. A one-off call
    sends that, not the whole file (boot_guard's status is 600 bytes of its 5,000, which
    a 20 KB board can compile). A module whose top level runs anything else (say, an
    `if __name__ == ...` block) keeps only its bindings, which is what a call wants."""
    body = ast.parse(compacted(relative)).body
    binders = [(statement, _bound_by(statement)) for statement in body]
    wanted, todo = set(), [function]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        for statement, bound in binders:
            if name in bound:
                todo += [node.id for node in ast.walk(statement) if isinstance(node, ast.Name)]
    kept = [statement for statement, bound in binders if bound & wanted]
    if not any(function in bound for _, bound in binders):
        raise ValueError(f"firmware/{relative} has no function {function}")
    return ast.unparse(ast.Module(body=kept, type_ignores=[])) + "\n"


def _key(relative: str) -> str:
    return hashlib.sha256(compacted(relative).encode()).hexdigest()[:12]


def _arguments(args: tuple[object, ...]) -> str:
    return ", ".join("globals()" if arg is GLOBALS else repr(arg) for arg in args)


def _text(out: bytes | str) -> str:
    return out.decode("utf-8", "replace") if isinstance(out, bytes) else out


def _result(out: bytes | str) -> object:
    line = _result_line(out)
    return ast.literal_eval(line) if line else None


def _one_off(relative: str, function: str, args: tuple[object, ...], show: bool = True) -> str:
    """Defines what the function needs of the module in a namespace of its own, calls the
    function, prints its repr (if `show`) and drops the namespace again (also when the
    function raised)."""
    call = f"_ember_ns[{function!r}]({_arguments(args)})"
    return (f"_ember_ns = {{'__name__': {Path(relative).stem!r}}}\n"
            "try:\n"
            f" exec({needed_for(relative, function)!r}, _ember_ns)\n"
            f" {f'print(repr({call}))' if show else call}\n"
            "finally:\n"
            " globals().pop('_ember_ns', None)\n")


def one_off(relative: str, function: str, *args: object) -> str:
    """The program `start` sends for FUNCTION(*args) of firmware/RELATIVE (what a fake
    link in a host test compares against)."""
    return _one_off(relative, function, args, show=False)


def expression(text: str) -> str:
    """A caller's own expression as a program that prints its repr (Link.eval, Board.eval:
    the expression is the caller's code, only its framing is written here)."""
    return f"print(repr({text}))"


def value(board: Runs, text: str, *, timeout: float | None = 30.0) -> object:
    """The value of the caller's expression on the board, read back from its repr()
    (Link.eval and Board.eval)."""
    return ast.literal_eval(_text(board.exec(expression(text), timeout=timeout)).strip())


def program(relative: str, function: str, *args: object) -> str:
    """firmware/RELATIVE followed by a call of FUNCTION(*args), as one program for the raw
    REPL whose output is the caller's to read (the push receiver's protocol, say): no
    result printed, and compiled straight from the program text (no second copy of the
    source as a string, which a small heap may not hold). The names it defines in the
    REPL's globals are removed again when the call ends, however it ends."""
    names = "".join(f"{name!r}, " for name in _top_level_names(relative))
    body = "".join(f" {line}\n" for line in compacted(relative).splitlines())
    return ("try:\n" + body
            + f" {function}({_arguments(args)})\n"
            + f"finally:\n for _ember_n in ({names}):\n  globals().pop(_ember_n, None)\n"
            + " globals().pop('_ember_n', None)\n")


@functools.cache
def _top_level_names(relative: str) -> tuple[str, ...]:
    """The names a module's top level binds: its functions, classes, imports, globals."""
    names: list[str] = []
    for node in ast.parse(compacted(relative)).body:
        names += sorted(_bound_by(node))  # defs, imports, assignments, inside try/if too
    return tuple(dict.fromkeys(names))


def start(board: Starts, relative: str, function: str, *args: object) -> None:
    """Starts FUNCTION(*args) of firmware/RELATIVE and does not wait for it: for a call
    after which the board answers no more (it resets, or enters its bootloader)."""
    board.start(one_off(relative, function, *args))


def output_of(board: Runs, relative: str, function: str, *args: object, keep: bool = False,
              timeout: float | None = 30.0) -> bytes | str:
    """What FUNCTION(*args) of firmware/RELATIVE prints on the board (its result unused)."""
    if keep:
        return _kept(board, relative, function, args, False, timeout)
    return board.exec(_one_off(relative, function, args, show=False), timeout=timeout)


def call(board: Runs, relative: str, function: str, *args: object, keep: bool = False,
         timeout: float | None = 30.0) -> object:
    """Runs FUNCTION(*args) of firmware/RELATIVE on the board and returns its result
    (a literal: None, numbers, strings, bytes, tuples, lists, dicts). GLOBALS as an argument
    passes the REPL's globals. Raises DeviceError as the board's code raised."""
    if keep:
        return _result(_kept(board, relative, function, args, True, timeout))
    return _result(board.exec(_one_off(relative, function, args), timeout=timeout))


def _kept(board: Runs, relative: str, function: str, args: tuple[object, ...], show: bool,
          timeout: float | None) -> bytes | str:
    """Calls a module kept on the board in sys.modules['_ember_dc'] (a dict of namespaces:
    out of the REPL's globals, so a test's fresh globals keep it), defining it first if the
    board has not got it (first use, or after a soft reset emptied sys.modules)."""
    key = _key(relative)
    call_text = f"_ember_f[{function!r}]({_arguments(args)})"
    run = ("import sys\n"
           f"_ember_f = sys.modules.get('_ember_dc', {{}}).get({key!r})\n"
           "del sys\n"
           "if _ember_f is None:\n"
           f" print({MISSING!r})\n"
           "else:\n"
           " try:\n"
           f"  {f'print(repr({call_text}))' if show else call_text}\n"
           " finally:\n"
           "  globals().pop('_ember_f', None)\n")
    out = board.exec(run, timeout=timeout)
    if _result_line(out) != MISSING:
        return out
    # Defined in a namespace of its own first and kept only once whole: a define cut
    # short (a MemoryError, Ctrl-C) leaves nothing half-made for later calls to find.
    define = ("import sys\n"
              f"_ember_m = {{'__name__': {Path(relative).stem!r}}}\n"
              "try:\n"
              f" exec({compacted(relative)!r}, _ember_m)\n"
              f" sys.modules.setdefault('_ember_dc', {{}})[{key!r}] = _ember_m\n"
              "finally:\n"
              " globals().pop('_ember_m', None)\n"
              "del sys\n")
    return board.exec(define + run, timeout=timeout)


def forget(board: Runs, relative: str) -> None:
    """Frees a module that `keep=True` left on the board."""
    board.exec("import sys\n"
               f"sys.modules.get('_ember_dc', {{}}).pop({_key(relative)!r}, None)\n"
               "del sys\n")


def _result_line(out: bytes | str) -> str:
    lines = _text(out).strip().splitlines()
    return lines[-1].strip() if lines else ""
