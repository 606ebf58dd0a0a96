"""The `ember` command: parses arguments, calls one function per verb, prints the result."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from host_tools.boards import profiles as boards
from host_tools.boards.detect import check_profile, profile_for_port, resolve_port
from host_tools.cli.progress import progress_bar
from host_tools.errors import CommandError, DeviceError, EmberError
from host_tools.install import runtime as deploy
from host_tools.link.session import Link
from host_tools.sim import launcher, registry

Handler = Callable[[argparse.Namespace], int]


def cmd_boards(args: argparse.Namespace) -> int:
    detected = boards.detect_ports()
    sims = registry.running()
    if args.json:
        print(
            json.dumps(
                {
                    "connected": [
                        {"port": d.device, "description": d.description, "boards": list(d.boards)}
                        for d in detected
                    ],
                    "virtual": [
                        {"port": s.port, "board": s.board, "pid": s.pid, "uarts": s.uarts}
                        for s in sims
                    ],
                }
            )
        )
        return 0
    if not detected and not sims:
        print("no boards connected and no virtual boards running")
    for d in detected:
        names = ", ".join(d.boards) or "unknown board"
        print(f"{d.device}\t{names}\t{d.description}")
    for s in sims:
        baud = f"{s.baud} baud" if s.baud else "unthrottled"
        print(f"{s.port}\tvirtual {s.board}\t{baud}, state {s.state_dir}")
    return 0


def cmd_sim_start(args: argparse.Namespace) -> int:
    board = args.board
    if not board:
        raise EmberError("sim start needs --board NAME (one of: "
                         + ", ".join(boards.profile_names()) + ")")
    baud = -1 if args.baud is None else (args.baud or None)
    record = launcher.start(
        board,
        baud=baud,
        state_dir=Path(args.state) if args.state else None,
        power_cut_after=args.power_cut_after,
        noise=args.noise,
        noise_seed=args.noise_seed,
        firmware=Path(args.firmware) if args.firmware else None,
    )
    if record.warning and not args.quiet:
        print(f"ember: {record.warning}", file=sys.stderr)
    print(record.to_json() if args.json else record.port)
    return 0


def cmd_sim_stop(args: argparse.Namespace) -> int:
    if args.all:
        stopped = launcher.stop_all()
        if not args.quiet:
            for record in stopped:
                print(f"stopped {record.port} ({record.board})", file=sys.stderr)
        return 0
    if not args.sim_port:
        raise EmberError("sim stop needs a PORT or --all")
    launcher.stop_port(args.sim_port)
    return 0


def cmd_sim_list(args: argparse.Namespace) -> int:
    for record in registry.running():
        print(record.to_json() if args.json else f"{record.port}\t{record.board}\t{record.pid}")
    return 0


def _with_parents(common: argparse.ArgumentParser) -> type[argparse.ArgumentParser]:
    class VerbParser(argparse.ArgumentParser):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("parents", [common])
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    return VerbParser


def _build_dir(args: argparse.Namespace) -> Path:
    return deploy.project_build_dir(Path(args.build_dir) if args.build_dir else None)


def _link(args: argparse.Namespace) -> Link:
    return Link(resolve_port(args.port))


def _board_name(args: argparse.Namespace, link: Link | None) -> str | None:
    """--board (checked against the board), else the profile of a virtual or USB-matched
    board on the port."""
    if args.board:
        if link is not None:
            check_profile(link, args.board)
        return args.board
    return profile_for_port(link.port) if link is not None else None


def _write_out(data: bytes) -> None:
    sys.stdout.buffer.write(data.replace(b"\x04", b""))
    sys.stdout.buffer.flush()


def cmd_exec(args: argparse.Namespace) -> int:
    with _link(args) as link:
        link.exec(args.code, on_output=_write_out, timeout=args.timeout)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    script = Path(args.file)
    if not script.is_file():
        raise CommandError(f"{script}: no such file")
    with _link(args) as link:
        board = _board_name(args, link)
        target, label = deploy.board_target(link, board)
        # Compile first: a syntax error is reported before anything touches the board.
        deploy.build_tree([script], target, label, subdir="run", root=_build_dir(args))
        if args.with_sources:
            with progress_bar("pushing", args.quiet) as progress:
                deploy.push_project(link, [Path(p) for p in args.with_sources], board=board,
                                    progress=progress, build_dir=_build_dir(args))
        if not args.no_reset:
            link.raw_repl(soft_reset=True)  # a clean heap and globals, as mpremote run has
        try:
            link.exec(script.read_bytes(), on_output=_write_out, timeout=None)
        except KeyboardInterrupt:  # Link.exec has stopped it on the board and read its end
            print("ember: interrupted", file=sys.stderr)
            return 130
    return 0


def cmd_repl(args: argparse.Namespace) -> int:
    from mpremote.main import State
    from mpremote.repl import do_repl

    with _link(args) as link:
        state = State()
        state.transport = link.transport
        repl_args = argparse.Namespace(escape_non_printable=False, capture=None,
                                       inject_code=None, inject_file=None)
        do_repl(state, repl_args)  # mpremote's console: Ctrl-] or Ctrl-x leaves
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    sources = [Path(p) for p in args.sources] or [Path(".")]
    if args.board:
        target, label = deploy.board_target(None, args.board)
        result = deploy.build_tree(sources, target, label, as_source=args.source,
                                   root=_build_dir(args))
    else:
        with _link(args) as link:
            target, label = deploy.board_target(link, _board_name(args, link))
            result = deploy.build_tree(sources, target, label, as_source=args.source,
                                   root=_build_dir(args))
    if args.json:
        print(json.dumps({"out_dir": str(result.out_dir), "compiled": result.compiled,
                          "copied": result.copied, "cached": result.cached,
                          "files": len(result.files), "target": str(target)}))
    elif not args.quiet:
        print(f"{len(result.files)} files for {target} in {result.out_dir} "
              f"({result.compiled} compiled, {result.copied} copied, {result.cached} cached)")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    sources = [Path(p) for p in args.sources] or [Path(".")]
    with _link(args) as link:
        board = _board_name(args, link)
        with progress_bar("pushing", args.quiet or args.json) as progress:
            _, result = deploy.push_project(link, sources, board=board, dest=args.dest,
                                            delete=args.delete, as_source=args.source,
                                            progress=progress, build_dir=_build_dir(args))
    if args.json:
        print(json.dumps(result.as_json()))
    elif not args.quiet:
        print(f"sent {len(result.sent)}, unchanged {len(result.unchanged)}, "
              f"deleted {len(result.deleted)}: {result.bytes} bytes in {result.seconds:.2f} s")
    return 0


def cmd_flash(args: argparse.Namespace) -> int:
    port = resolve_port(args.port)
    if args.firmware:
        from host_tools.install import flash

        flash.write_firmware(port, Path(args.firmware), board=args.board or profile_for_port(port),
                             quiet=args.quiet)
        if not args.quiet:
            print(f"flashed {args.firmware}; the board has rebooted")
    with Link(port) as link:
        board = _board_name(args, link)
        if args.romfs is not None:
            from host_tools.install import romfs

            with progress_bar("deploying ROMFS", args.quiet) as progress:
                placed = romfs.install_romfs(link, [Path(p) for p in args.romfs] or [Path(".")],
                                             board=board, progress=progress)
            if not args.quiet:
                where = ("a RAM copy (no ROMFS partition)" if placed.kind == "ram"
                         else f"the ROMFS partition ({placed.capacity} bytes)")
                print(f"ROMFS image of {placed.size} bytes mounted at {placed.mount_point}: "
                      f"{where}")
            return 0
        with progress_bar("installing runtime", args.quiet) as progress:
            result = deploy.install_runtime(link, board=board, progress=progress)
    if args.quiet:
        return 0
    if result is None:
        print("runtime frozen into the board's firmware: nothing to install")
    else:
        print(f"runtime installed in {deploy.RUNTIME_DEST}: {len(result.sent)} sent, "
              f"{len(result.unchanged)} unchanged")
    return 0


def cmd_firmware_build(args: argparse.Namespace) -> int:
    from host_tools.install import firmware_build

    if not args.board:
        raise CommandError("firmware build needs --board NAME (one of: "
                           + ", ".join(boards.profile_names()) + ")")
    if args.dry_run and not args.virtual:
        print(" ".join(firmware_build.port_command(args.board, args.micropython,
                                                   jobs=args.jobs, extra=args.extra)))
        return 0
    result = firmware_build.build_firmware(args.board, args.micropython, virtual=args.virtual,
                                           jobs=args.jobs, extra=args.extra)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        state = "cached" if result.cached else f"built in {result.seconds:.1f} s"
        print(result.image)
        if not args.quiet:
            print(f"{result.board} ({result.target}, MicroPython {result.micropython}): "
                  f"{state}; text {result.text} B, data {result.data} B, bss {result.bss} B",
                  file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.bench == "loop":
        from host_tools.bench.loop import run_loop_bench

        result = run_loop_bench(port=args.port, board=args.board, round_trips=args.round_trips)
    elif args.bench == "firmware":
        from host_tools.bench.firmware import run_firmware_bench

        result = run_firmware_bench(board=args.board or "esp8266-generic",
                                    micropython=args.micropython)
    elif args.bench == "faults":
        from host_tools.bench.faults import run_fault_campaign

        counts = (5, 3, 3) if args.small else (50, 10, 10)
        result = run_fault_campaign(*counts)
    else:
        from host_tools.bench.push import run_push_bench

        result = run_push_bench(baud=args.baud)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:24} {value}")
    return 0


def cmd_safe_mode(args: argparse.Namespace) -> int:
    from host_tools.install import safe_mode

    port = resolve_port(args.port)
    if args.action == "enter":
        safe_mode.enter_safe_mode(port)  # Ctrl-C through the resets: no Link opened first
        print("safe mode: main.py set aside; `ember safe-mode leave` puts it back")
        return 0
    with Link(port) as link:
        if args.action == "install":
            result = safe_mode.install_boot_guard(link)
            print("boot guard installed as /boot.py" if result is not None else
                  "a boot.py that is not ember's is on the board: left alone")
        elif args.action == "leave":
            restored = safe_mode.leave_safe_mode(link)
            print("main.py restored" if restored else "not in safe mode")
        else:
            safe, boots = safe_mode.safe_mode_status(link)
            print(json.dumps({"safe_mode": safe, "boots_not_healthy": boots}))
    return 0


def _common_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    # Accepted before or after the verb; only the top level sets the defaults.
    def value(default: object) -> object:
        return default if defaults else argparse.SUPPRESS

    parser.add_argument("--port", default=value(os.environ.get("EMBER_PORT")),
                        help="serial port or pyserial URL (default: $EMBER_PORT, else detect)")
    parser.add_argument("--board", default=value(None),
                        help="board profile name (boards/NAME.toml)")
    parser.add_argument("--quiet", "-q", action="store_true", default=value(False),
                        help="no progress output")
    parser.add_argument("--build-dir", default=value(None), metavar="DIR",
                        help="where compiled .mpy files go (default: ./build)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ember", description=__doc__)
    parser.add_argument("--version", action="version",
                        version=f"ember {importlib.metadata.version('ember')}")
    _common_options(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, defaults=False)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB",
                                  parser_class=_with_parents(common))

    p = verbs.add_parser("boards", help="list connected and virtual boards")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_boards)

    sim = verbs.add_parser("sim", help="virtual boards").add_subparsers(
        dest="sim_verb", required=True, metavar="SIM_VERB")
    p = sim.add_parser("start", help="start a virtual board; prints its port")
    p.add_argument("--baud", type=int, help="throttle the link to this baud (0: unthrottled)")
    p.add_argument("--state", help="directory for the flash image (kept after stop)")
    p.add_argument("--power-cut-after", type=int, metavar="BYTES",
                   help="cut the power after this many bytes from the host")
    p.add_argument("--noise", type=float, default=0.0, metavar="RATE",
                   help="flip or drop bytes at this rate per byte, both directions")
    p.add_argument("--noise-seed", type=int, default=0, help="seed of the noise")
    p.add_argument("--json", action="store_true", help="print port, UARTs, pid as JSON")
    p.add_argument("--firmware", metavar="IMAGE",
                   help="run this virtual firmware image (default: the board's, built on "
                        "first use from $MICROPY_DIR)")
    p.set_defaults(handler=cmd_sim_start)
    p = sim.add_parser("stop", help="stop a virtual board")
    p.add_argument("sim_port", nargs="?", metavar="PORT")
    p.add_argument("--all", action="store_true")
    p.set_defaults(handler=cmd_sim_stop)
    p = sim.add_parser("list", help="list running virtual boards")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_sim_list)

    p = verbs.add_parser("exec", help="run code on the board")
    p.add_argument("code")
    p.add_argument("--timeout", type=float, default=None, help="seconds (default: none)")
    p.set_defaults(handler=cmd_exec)
    p = verbs.add_parser("run", help="build, push and run a script, streaming its output")
    p.add_argument("file")
    p.add_argument("--with", dest="with_sources", nargs="*", default=[], metavar="SRC",
                   help="project files or folders to build and push first")
    p.add_argument("--no-reset", action="store_true", help="run without a soft reset first")
    p.set_defaults(handler=cmd_run)
    p = verbs.add_parser("repl", help="open the board's REPL (Ctrl-] or Ctrl-x leaves)")
    p.set_defaults(handler=cmd_repl)
    p = verbs.add_parser("build", help="compile .py to .mpy for the board")
    p.add_argument("sources", nargs="*", metavar="SRC")
    p.add_argument("--source", action="store_true", help="keep .py source, compile nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_build)
    p = verbs.add_parser("push", help="sync compiled files to the board (only what changed)")
    p.add_argument("sources", nargs="*", metavar="SRC")
    p.add_argument("--dest", default="/", help="board folder (default /)")
    p.add_argument("--delete", action="store_true", help="remove board files not in SRC")
    p.add_argument("--source", action="store_true", help="push .py source, not .mpy")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_push)
    p = verbs.add_parser("flash", help="install the runtime (and a firmware image first)")
    p.add_argument("--firmware", metavar="IMAGE", help="firmware image for the board's flasher")
    p.add_argument("--romfs", nargs="*", metavar="SRC", default=None,
                   help="build SRC (default .) and the runtime into a ROMFS image, mount at /rom")
    p.set_defaults(handler=cmd_flash)
    firmware = verbs.add_parser("firmware", help="build MicroPython with ember frozen in"
                                ).add_subparsers(dest="firmware_verb", required=True,
                                                 metavar="FIRMWARE_VERB")
    p = firmware.add_parser("build", help="build the board's firmware (cached)")
    p.add_argument("--micropython", metavar="SRC",
                   help="MicroPython source tree or .tar.gz (default: $MICROPY_DIR)")
    p.add_argument("--virtual", action="store_true",
                   help="the board's virtual target (32-bit unix port) instead of its port")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--dry-run", action="store_true",
                   help="port builds: write the manifest, print the make command")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count(), help="parallel jobs")
    p.add_argument("extra", nargs="*", metavar="VAR=VALUE",
                   help="port builds: more make variables")
    p.set_defaults(handler=cmd_firmware_build)
    p = verbs.add_parser("safe-mode", help="boot guard and crash-loop recovery")
    p.add_argument("action", choices=("install", "enter", "leave", "status"))
    p.set_defaults(handler=cmd_safe_mode)
    p = verbs.add_parser("bench", help="benchmarks: loop (runtime), push (file sync), faults, "
                         "firmware (heap and size against a stock build)")
    p.add_argument("bench", choices=("loop", "push", "faults", "firmware"))
    p.add_argument("--micropython", metavar="SRC",
                   help="firmware: MicroPython source (default: $MICROPY_DIR)")
    p.add_argument("--small", action="store_true", help="faults: a short campaign")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--baud", type=int, default=115200, help="push: virtual link baud")
    p.add_argument("--round-trips", type=int, default=2000, help="loop: ping-pong count")
    p.set_defaults(handler=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(format="ember: warning: %(message)s", level=logging.WARNING)
    handler: Handler = args.handler
    try:
        return handler(args)
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
