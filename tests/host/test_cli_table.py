"""The `ember` command table, without a board: every verb has a handler and help, global
options work before and after any verb, choices and bad input exit as argparse does, and
main() maps a handler's errors to the exit codes scripts rely on."""

from __future__ import annotations

import argparse
import importlib.metadata
import inspect
from collections.abc import Iterator

import pytest

from host_tools.cli import main as cli_main
from host_tools.cli.context import Context
from host_tools.cli.main import build_parser, main
from host_tools.cli.table import COMMANDS, GLOBAL_OPTIONS, Arg, Verb, arg
from host_tools.errors import DeviceError, EmberError

# What users type and scripts (Makefile, examples/demo.sh, tests/hil) call.
EXPECTED_VERBS = {
    ("boards",), ("sim", "start"), ("sim", "stop"), ("sim", "list"), ("exec",), ("run",),
    ("repl",), ("build",), ("push",), ("flash",), ("firmware", "build"), ("safe-mode",),
    ("bench",), ("reset",), ("soft-reset",), ("watch",), ("mip", "install"),
    ("farm", "up"), ("farm", "down"), ("farm", "status"),
    *(("fs", verb) for verb in ("ls", "tree", "cat", "cp", "rm", "mkdir", "rmdir", "touch",
                                 "df", "sha256sum")),
    ("ls",), ("cat",), ("cp",), ("rm",), ("df",), ("tree",),  # mpremote's shortcuts
}


def _leaves(verbs: tuple[Verb, ...], path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], Verb]]:
    for verb in verbs:
        if verb.sub:
            yield from _leaves(verb.sub, (*path, verb.name))
        else:
            yield (*path, verb.name), verb


def _required(verb: Verb) -> list[str]:
    """Values for the verb's required positional arguments (a choice where there are some)."""
    values = []
    for item in verb.args:
        if item.flags[0].startswith("-") or item.kwargs.get("nargs") in ("?", "*"):
            continue
        choices = item.kwargs.get("choices")
        values.append(choices[0] if choices else "x")
    return values


LEAVES = dict(_leaves(COMMANDS))


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def _exit_code(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int | str | None, str]:
    with pytest.raises(SystemExit) as exited:
        _parse(*argv)
    return exited.value.code, capsys.readouterr().err


def test_the_table_has_every_verb_once() -> None:
    paths = [path for path, _ in _leaves(COMMANDS)]
    assert sorted(paths) == sorted(EXPECTED_VERBS)
    assert len(set(paths)) == len(paths)


def _all(verbs: tuple[Verb, ...]) -> Iterator[Verb]:
    for verb in verbs:
        yield verb
        yield from _all(verb.sub)


def test_every_verb_has_help_and_a_leaf_a_handler_taking_a_context() -> None:
    for verb in _all(COMMANDS):
        assert verb.help.strip(), f"{verb.name}: no help"
        if verb.sub:
            assert verb.handler is None and not verb.args, f"{verb.name}: a group runs nothing"
            continue
        assert callable(verb.handler), f"{verb.name}: no handler"
        assert verb.handler.__module__.startswith("host_tools.cli.commands."), verb.name
        params = list(inspect.signature(verb.handler).parameters.values())
        assert len(params) == 1, f"{verb.name}: a handler takes the Context only"
        hints = inspect.get_annotations(verb.handler, eval_str=True)
        assert hints[params[0].name] is Context and hints["return"] is int, verb.name


@pytest.mark.parametrize("path", sorted(EXPECTED_VERBS), ids=" ".join)
def test_each_verb_parses_to_its_handler(path: tuple[str, ...]) -> None:
    verb = LEAVES[path]
    args = _parse(*path, *_required(verb))
    assert args.handler is verb.handler
    assert args.verb == path[0]
    if len(path) == 2:
        assert getattr(args, f"{path[0]}_verb") == path[1]


def test_the_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _parse("--help")
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for verb in COMMANDS:
        assert f"    {verb.name} " in out and verb.help.split()[0] in out


def _global_values(option: Arg) -> tuple[list[str], object]:
    """What to type for a global option, and the value it should parse to."""
    if option.kwargs.get("action") == "store_true":
        return [option.flags[0]], True
    return [option.flags[0], "VALUE"], "VALUE"


def _dest(option: Arg) -> str:
    return option.flags[0].lstrip("-").replace("-", "_")


@pytest.mark.parametrize("option", GLOBAL_OPTIONS, ids=lambda o: o.flags[0])
@pytest.mark.parametrize("path", sorted(EXPECTED_VERBS), ids=" ".join)
def test_global_options_parse_before_and_after_every_verb(option: Arg,
                                                          path: tuple[str, ...]) -> None:
    typed, value = _global_values(option)
    rest = [*path, *_required(LEAVES[path])]
    before = _parse(*typed, *rest)
    after = _parse(*rest, *typed)
    assert getattr(before, _dest(option)) == value
    assert getattr(after, _dest(option)) == value
    if len(path) == 2:  # between a group and its verb too: `ember sim --port X start`
        between = _parse(path[0], *typed, *rest[1:])
        assert getattr(between, _dest(option)) == value


def test_port_before_and_after_push() -> None:
    assert _parse("--port", "X", "push").port == "X"
    assert _parse("push", "--port", "X").port == "X"
    assert _parse("-q", "push").quiet is True and _parse("push", "-q").quiet is True


def test_global_defaults_and_a_value_before_the_verb_is_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMBER_PORT", raising=False)
    args = _parse("boards")
    assert (args.port, args.board, args.quiet, args.build_dir) == (None, None, False, None)
    monkeypatch.setenv("EMBER_PORT", "/dev/from-env")
    assert _parse("push").port == "/dev/from-env"
    assert _parse("--port", "P", "push").port == "P"  # not reset by push's parser
    assert _parse("--board", "b", "--build-dir", "d", "sim", "start").board == "b"
    assert _parse("--build-dir", "d", "build").build_dir == "d"
    assert _parse("--port", "a", "boards", "--port", "b").port == "b"  # the last one wins


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _parse("--version")
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"ember {importlib.metadata.version('ember')}"


@pytest.mark.parametrize("action", ["install", "uninstall", "enter", "leave", "status"])
def test_safe_mode_actions_are_positional_choices(action: str) -> None:
    args = _parse("safe-mode", action)
    assert args.action == action and args.handler is LEAVES[("safe-mode",)].handler


def test_safe_mode_refuses_another_action(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _exit_code(capsys, "safe-mode", "bogus")
    assert code == 2 and "invalid choice: 'bogus'" in err
    code, err = _exit_code(capsys, "safe-mode")
    assert code == 2 and "action" in err


@pytest.mark.parametrize("name", ["loop", "push", "faults", "firmware"])
def test_bench_names_are_positional_choices(name: str) -> None:
    assert _parse("bench", name).bench == name
    assert _parse("bench", name, "--json").json is True


def test_bench_refuses_an_unknown_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _exit_code(capsys, "bench", "nope")
    assert code == 2 and "invalid choice: 'nope'" in err


@pytest.mark.parametrize("argv", [["nope"], [], ["sim"], ["firmware"], ["sim", "nope"],
                                  ["push", "--no-such-option"]], ids=repr)
def test_unknown_or_missing_verb_exits_2(capsys: pytest.CaptureFixture[str],
                                         argv: list[str]) -> None:
    code, err = _exit_code(capsys, *argv)
    assert code == 2 and err.startswith("usage: ember")


def test_main_exits_2_on_an_unknown_verb(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["nope"])
    assert exited.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


# -- main(): a handler's result and errors ------------------------------------------------


def _table_with(handler: object) -> tuple[Verb, ...]:
    return (Verb("try", "a verb for the test", handler, (arg("--json", action="store_true"),)),)


def test_main_returns_the_handler_status_and_gives_it_the_options(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Context] = []

    def handler(ctx: Context) -> int:
        seen.append(ctx)
        return 3

    monkeypatch.setattr(cli_main, "COMMANDS", _table_with(handler))
    assert main(["--port", "P", "try", "--json", "-q"]) == 3
    (ctx,) = seen
    assert ctx.args.port == "P" and ctx.args.json and ctx.quiet
    assert ctx.port == "P"  # given: no detection


@pytest.mark.parametrize(("error", "code", "stderr"), [
    (EmberError("no board found"), 1, "ember: no board found\n"),
    (DeviceError("OSError: 2", "Traceback (most recent call last):\nOSError: 2\n"), 1,
     "Traceback (most recent call last):\nOSError: 2\n"),
    (DeviceError("ValueError: x"), 1, "ValueError: x\n"),
    (KeyboardInterrupt(), 130, "ember: interrupted\n"),
], ids=["ember-error", "device-traceback", "device-no-traceback", "ctrl-c"])
def test_main_maps_errors_to_exit_codes(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str],
                                        error: BaseException, code: int, stderr: str) -> None:
    def handler(ctx: Context) -> int:
        raise error

    monkeypatch.setattr(cli_main, "COMMANDS", _table_with(handler))
    assert main(["try"]) == code
    assert capsys.readouterr().err == stderr


def test_every_argument_and_choice_has_a_one_line_help() -> None:
    for path, verb in _leaves(COMMANDS):
        for item in verb.args:
            text = item.kwargs.get("help", "")
            assert text and "\n" not in text, (path, item.flags)
    for item in GLOBAL_OPTIONS:
        assert item.kwargs.get("help"), item.flags
