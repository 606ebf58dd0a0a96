"""The `ember` command: parses arguments, calls one function per verb, prints the result."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterable

from host_tools.cli.context import Context, Handler
from host_tools.cli.table import COMMANDS, GLOBAL_OPTIONS, TOP_OPTIONS, Arg, Verb
from host_tools.errors import DeviceError, EmberError


def _add(parser: argparse.ArgumentParser, args: Iterable[Arg], *, defaults: bool = True) -> None:
    """Adds table arguments; without defaults, an option left out sets nothing (so a global
    option given before the verb is not overwritten by the verb's parser)."""
    for item in args:
        kwargs = dict(item.kwargs)
        if item.env is not None:
            kwargs["default"] = os.environ.get(item.env)
        if not defaults:
            kwargs["default"] = argparse.SUPPRESS
        parser.add_argument(*item.flags, **kwargs)


def _with_parents(common: argparse.ArgumentParser) -> type[argparse.ArgumentParser]:
    """A parser class whose every instance (each verb, nested ones too) has the global
    options."""

    class VerbParser(argparse.ArgumentParser):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("parents", [common])
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    return VerbParser


def _add_verbs(group: argparse._SubParsersAction[argparse.ArgumentParser],
               verbs: Iterable[Verb]) -> None:
    """One parser per verb of the table; a group's sub-verbs under it."""
    for verb in verbs:
        parser = group.add_parser(verb.name, help=verb.help)
        if verb.sub:
            sub = parser.add_subparsers(dest=verb.sub_dest, required=True,
                                        metavar=verb.sub_dest.upper())
            _add_verbs(sub, verb.sub)
            continue
        _add(parser, verb.args)
        parser.set_defaults(handler=verb.handler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ember", description=__doc__)
    _add(parser, TOP_OPTIONS)
    _add(parser, GLOBAL_OPTIONS)  # the defaults live at the top level only
    common = argparse.ArgumentParser(add_help=False)
    _add(common, GLOBAL_OPTIONS, defaults=False)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB",
                                  parser_class=_with_parents(common))
    _add_verbs(verbs, COMMANDS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(format="ember: warning: %(message)s", level=logging.WARNING)
    handler: Handler = args.handler
    try:
        with Context(args) as ctx:
            return handler(ctx)
    except DeviceError as error:
        sys.stderr.write(error.traceback or f"{error}\n")
        return 1
    except EmberError as error:
        print(f"ember: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ember: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
