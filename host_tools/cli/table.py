"""The `ember` command table, in the spirit of mpremote's `_COMMANDS`: one entry per verb
(nested verbs under their group) with its help, its options and its handler, and the
global options, declared once and accepted before or after any verb.

cli/main.py builds the argparse parser from this table; nothing here parses or runs.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from host_tools.cli.commands import (
    bench,
    boards,
    code,
    farm,
    firmware,
    flash,
    fs,
    mip,
    project,
    reset,
    safe_mode,
    sim,
    watch,
)
from host_tools.cli.context import Handler


@dataclass(frozen=True)
class Arg:
    """One argparse argument: its flags (or positional name) and add_argument's keywords.
    With env, the default is that environment variable, read when the parser is built."""

    flags: tuple[str, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    env: str | None = None


def arg(*flags: str, env: str | None = None, **kwargs: Any) -> Arg:
    """Arg("--json", action="store_true") written as arg("--json", action="store_true")."""
    return Arg(flags, kwargs, env)


@dataclass(frozen=True)
class Verb:
    """A verb: a handler with its arguments, or a group of sub-verbs (`sim start`), whose
    choice is stored as NAME_verb (`sim_verb`) in the parsed namespace."""

    name: str
    help: str
    handler: Handler | None = None
    args: tuple[Arg, ...] = ()
    sub: tuple[Verb, ...] = ()

    @property
    def sub_dest(self) -> str:
        return self.name.replace("-", "_") + "_verb"


def version() -> str:
    return f"ember {importlib.metadata.version('ember')}"


# Only before the verb.
TOP_OPTIONS: tuple[Arg, ...] = (
    arg("--version", action="version", version=version()),
)

# Before or after the verb (`ember --port X push` and `ember push --port X`); the values
# here are the defaults.
GLOBAL_OPTIONS: tuple[Arg, ...] = (
    arg("--port", env="EMBER_PORT",
        help="serial port or pyserial URL (default: $EMBER_PORT, else detect)"),
    arg("--board", default=None, help="board profile name (boards/NAME.toml)"),
    arg("--quiet", "-q", action="store_true", default=False, help="no progress output"),
    arg("--build-dir", default=None, metavar="DIR",
        help="where compiled .mpy files go (default: ./build)"),
    arg("--labgrid", default=None, metavar="PLACE",
        help="acquire this labgrid place (coordinator: $LG_COORDINATOR), use its serial "
             "port and board= tag, release it at the end"),
)

FARM_STATE = arg("--state", metavar="DIR",
                 help="the farm's state folder (default: $EMBER_FARM_DIR, else beside the "
                      "virtual boards' records)")

JSON = arg("--json", action="store_true", help="print JSON instead of text")
JSON_OBJECT = arg("--json", action="store_true", help="print one JSON object")

BOARD_PATHS = arg("paths", nargs="*", metavar=":PATH", help="board paths (default :/)")
SOME_BOARD_PATHS = arg("paths", nargs="+", metavar=":PATH", help="board paths")
RECURSIVE = arg("-r", "--recursive", action="store_true", help="folders with what they hold")
FORCE = arg("--force", action="store_true",
            help="also ember's own files (the runtime in /lib/ember, its cache in /.ember)")

FS_VERBS: tuple[Verb, ...] = (
    Verb("ls", "list board folders (size, name; folders end in /)", fs.cmd_ls,
         (BOARD_PATHS, JSON)),
    Verb("tree", "list board folders and all they hold", fs.cmd_tree, (BOARD_PATHS, JSON)),
    Verb("cat", "print board files", fs.cmd_cat, (SOME_BOARD_PATHS,)),
    Verb("cp", "copy between host and board: cp SRC... DEST, board paths as :PATH",
         fs.cmd_cp, (arg("paths", nargs="+", metavar="SRC... DEST",
                         help="files or folders; the board side written :PATH"),
                     RECURSIVE)),
    Verb("rm", "remove board files (folders with -r)", fs.cmd_rm,
         (SOME_BOARD_PATHS, RECURSIVE, FORCE)),
    Verb("mkdir", "make board folders", fs.cmd_mkdir,
         (SOME_BOARD_PATHS, arg("-p", "--parents", action="store_true",
                                help="and their missing parents; no error if there"))),
    Verb("rmdir", "remove empty board folders", fs.cmd_rmdir, (SOME_BOARD_PATHS, FORCE)),
    Verb("touch", "create empty board files (existing ones are left as they are)",
         fs.cmd_touch, (SOME_BOARD_PATHS,)),
    Verb("df", "the board filesystem's size, use and free space", fs.cmd_df,
         (BOARD_PATHS, JSON)),
    Verb("sha256sum", "SHA-256 of board files, as sha256sum prints it", fs.cmd_sha256sum,
         (SOME_BOARD_PATHS,)),
)

COMMANDS: tuple[Verb, ...] = (
    Verb("boards", "list connected and virtual boards", boards.cmd_boards, (JSON,)),
    Verb("sim", "virtual boards", sub=(
        Verb("start", "start a virtual board; prints its port", sim.cmd_sim_start, (
            arg("--baud", type=int, help="throttle the link to this baud (0: unthrottled)"),
            arg("--state", help="directory for the flash image (kept after stop)"),
            arg("--power-cut-after", type=int, metavar="BYTES",
                help="cut the power after this many bytes from the host"),
            arg("--noise", type=float, default=0.0, metavar="RATE",
                help="flip or drop bytes at this rate per byte, both directions"),
            arg("--noise-seed", type=int, default=0, help="seed of the noise"),
            arg("--json", action="store_true", help="print port, UARTs, pid as JSON"),
            arg("--firmware", metavar="IMAGE",
                help="run this virtual firmware image (default: the board's, built on "
                     "first use from $MICROPY_DIR)"),
        )),
        Verb("stop", "stop a virtual board", sim.cmd_sim_stop, (
            arg("sim_port", nargs="?", metavar="PORT", help="the port `sim start` printed"),
            arg("--all", action="store_true", help="every virtual board of this user"),
        )),
        Verb("list", "list running virtual boards", sim.cmd_sim_list, (JSON,)),
    )),
    Verb("farm", "a local labgrid board farm of virtual boards, on loopback", sub=(
        Verb("up", "start a coordinator, N virtual boards behind ser2net (RFC 2217), an "
             "exporter and one place per board tagged board=NAME; prints LG_COORDINATOR",
             farm.cmd_farm_up, (
                 arg("--boards", type=int, default=2, metavar="N",
                     help="how many boards (default 2); --board NAME chooses the profile "
                          f"(default {farm.DEFAULT_BOARD})"),
                 arg("--prefix", default="farm",
                     help="places are named PREFIX-BOARD-N (default farm)"),
                 FARM_STATE,
                 JSON_OBJECT,
             )),
        Verb("down", "stop everything `farm up` started", farm.cmd_farm_down, (FARM_STATE,)),
        Verb("status", "the farm's processes and places", farm.cmd_farm_status,
             (FARM_STATE, JSON_OBJECT)),
    )),
    Verb("exec", "run code on the board", code.cmd_exec, (
        arg("code", help="Python statements, run in the board's raw REPL"),
        arg("--timeout", type=float, default=None, help="seconds (default: none)"),
    )),
    Verb("run", "build, push and run a script, streaming its output", code.cmd_run, (
        arg("file", help="the script (.py) to run"),
        arg("--with", dest="with_sources", nargs="*", default=[], metavar="SRC",
            help="project files or folders to build and push first"),
        arg("--no-reset", action="store_true", help="run without a soft reset first"),
    )),
    Verb("repl", "open the board's REPL (Ctrl-] or Ctrl-x leaves)", code.cmd_repl),
    Verb("build", "compile .py to .mpy for the board", project.cmd_build, (
        arg("sources", nargs="*", metavar="SRC", help="files or folders (default .)"),
        arg("--source", action="store_true", help="keep .py source, compile nothing"),
        JSON,
    )),
    Verb("push", "sync compiled files to the board (only what changed)", project.cmd_push, (
        arg("sources", nargs="*", metavar="SRC", help="files or folders (default .)"),
        arg("--dest", default="/", help="board folder (default /)"),
        arg("--delete", action="store_true",
            help="remove board files under --dest not in SRC (never ember's own), and the "
                 "folders that leaves empty"),
        arg("--dry-run", action="store_true",
            help="only say what would be sent and deleted"),
        arg("--delete-libs", action="store_true",
            help="with --delete: also what `ember mip install` put there"),
        arg("--source", action="store_true", help="push .py source, not .mpy"),
        JSON,
    )),
    Verb("mip", "libraries from micropython-lib or a package.json", sub=(
        Verb("install", "install packages and their dependencies, compiled for the board",
             mip.cmd_mip_install, (
                 arg("packages", nargs="+", metavar="PKG",
                     help="NAME[@VERSION], github:ORG/REPO[/PATH], a URL or a package.json"),
                 arg("--index", metavar="URL|DIR",
                     help="package index URL, or a local micropython-lib checkout "
                          "(default: micropython.org/pi/v2)"),
                 arg("--target", default="/lib", help="board folder (default /lib)"),
             )),
    )),
    Verb("watch", "push on every save, soft-reset and run the script, until Ctrl-C",
         watch.cmd_watch, (
             arg("sources", nargs="*", metavar="SRC", help="files or folders (default .)"),
             arg("--run", metavar="FILE", help="the script to run (default: SRC's main.py)"),
             arg("--dest", default="/", help="board folder (default /)"),
         )),
    Verb("flash", "install the runtime (and a firmware image first)", flash.cmd_flash, (
        arg("--firmware", metavar="IMAGE", help="firmware image for the board's flasher"),
        arg("--romfs", nargs="*", metavar="SRC", default=None,
            help="build SRC (default .) and the runtime into a ROMFS image, mount at /rom"),
    )),
    Verb("firmware", "build MicroPython with ember frozen in", sub=(
        Verb("build", "build the board's firmware (cached)", firmware.cmd_firmware_build, (
            arg("--micropython", metavar="SRC",
                help="MicroPython source tree or .tar.gz (default: $MICROPY_DIR)"),
            arg("--virtual", action="store_true",
                help="the board's virtual target (32-bit unix port) instead of its port"),
            JSON_OBJECT,
            arg("--dry-run", action="store_true",
                help="port builds: write the manifest, print the make command"),
            arg("-j", "--jobs", type=int, default=os.cpu_count(), help="parallel jobs"),
            arg("--c-module", dest="c_modules", action="append", default=[], metavar="DIR",
                help="link a user C module (a folder with a micropython.mk) into the firmware; "
                     "repeatable"),
            arg("extra", nargs="*", metavar="VAR=VALUE", help="port builds: more make variables"),
        )),
    )),
    Verb("fs", "the board's files (mpremote's verbs; board paths as :PATH)", sub=FS_VERBS),
    *(verb for verb in FS_VERBS if verb.name in fs.SHORTCUTS),
    Verb("reset", "hard-reset the board: boot.py and main.py run as at power-on",
         reset.cmd_reset),
    Verb("soft-reset", "soft-reset the board: a fresh heap, left at the REPL",
         reset.cmd_soft_reset),
    Verb("safe-mode", "boot guard and crash-loop recovery", safe_mode.cmd_safe_mode, (
        arg("action", choices=safe_mode.ACTIONS,
            help="install: the guard as /boot.py; uninstall: take it off; enter: set main.py "
                 "aside now (Ctrl-C through a crash loop); leave: put main.py back; status: "
                 "safe mode and the count of failed boots"),
        arg("--json", action="store_true", help="status: print one JSON object"),
    )),
    Verb("bench", "benchmarks: loop (runtime), push (file sync), faults, "
         "firmware (heap and size against a stock build)", bench.cmd_bench, (
        arg("bench", choices=bench.BENCHES,
            help="loop: ember's loop against asyncio and a raw poll loop; push: file sync "
                 "speed; faults: power cuts, noise, bad input; firmware: heap and size"),
        arg("--micropython", metavar="SRC",
            help="firmware: MicroPython source (default: $MICROPY_DIR)"),
        arg("--small", action="store_true", help="faults: a short campaign"),
        JSON_OBJECT,
        arg("--baud", type=int, default=115200, help="push: virtual link baud"),
        arg("--round-trips", type=int, help="loop: ping-pong count (default 20000)"),
    )),
)
