"""Build-then-push jobs shared by `ember push`, `run`, `flash`, the pytest plugin, benchmarks."""

from __future__ import annotations

import logging
from pathlib import Path

from host_tools.board_paths import RUNTIME_DEST as RUNTIME_DEST  # re-exported
from host_tools.boards.profiles import load_profile
from host_tools.errors import CommandError
from host_tools.link import device_code
from host_tools.link.interface import BoardLink, Progress
from host_tools.mpy import compiler
from host_tools.mpy.compiler import BuildResult, Target
from host_tools.paths import RUNTIME_DIR, RUNTIME_OPTIMISE, cache_dir
from host_tools.push.session import PushResult, plan, push
from host_tools.sim import registry

log = logging.getLogger("ember")


def project_build_dir(build_dir: Path | None = None) -> Path:
    """Where a user's compiled files go: `--build-dir`, else ./build of the folder ember
    runs in (the user's project), never inside ember's own files."""
    return (build_dir if build_dir is not None else Path.cwd() / "build").resolve()


def ember_build_dir() -> Path:
    """Where ember's own device code is compiled (the runtime, benchmarks): the user's
    cache, shared by every project."""
    return cache_dir() / "build"


def board_target(link: BoardLink | None, board: str | None) -> tuple[Target, str]:
    """The .mpy target and a build label. A connected board's own `sys.implementation._mpy`
    decides (a board on MicroPython 1.12-1.22 gets bytecode from the archived compiler
    that matches it), checked against the --board profile: another native arch is an
    error naming both, another .mpy version a warning. A virtual board keeps its own arch
    (label BOARD-virtual). With no link, the profile's."""
    if link is None:
        if not board:
            raise compiler.CompileError("building needs --board NAME or a connected board")
        return Target.for_profile(load_profile(board)), board
    value = device_code.call(link, "host/probe.py", "sys_mpy")
    if not isinstance(value, int):
        raise CommandError(f"{link.port}: the board reports no .mpy version ({value!r})")
    target = Target.from_sys_mpy(value)
    if not board:
        return target, target.build_label
    profile = load_profile(board)
    expected = Target.for_profile(profile)
    if registry.find(link.port) is not None:
        # A virtual board's firmware is x86 (or x64) code standing in for the profile's
        # board: its bytecode is the board's, but native code (a C module, @native) must be
        # for the arch it runs, so its build is kept apart from the real board's.
        return target, f"{board}-virtual"
    if target.arch is not None and profile.mpy_arch is not None and \
            target.arch != profile.mpy_arch:
        raise CommandError(
            f"the board on {link.port} runs native code for {target.arch}, but {board} is "
            f"a {profile.mpy_arch} board: check --board")
    if (target.version, target.sub_version) != (expected.version, expected.sub_version):
        log.warning("the board on %s runs %s, not the %s of %s: building for the board",
                    link.port, target.describe_version(), expected.describe_version(), board)
        return target, f"{board}-{target.build_label}"
    return expected, board


def build_tree(sources: list[Path], target: Target, label: str, *, as_source: bool = False,
               subdir: str = "app", root: Path | None = None,
               optimise: int = 0) -> BuildResult:
    """Compiles sources into ROOT/LABEL/SUBDIR (ROOT: project_build_dir())."""
    base = root if root is not None else project_build_dir()
    return compiler.build(sources, target, base / label / subdir, as_source=as_source,
                          optimise=optimise)


def pushable(result: BuildResult) -> list[tuple[Path, str]]:
    return [(f.output, f.output.relative_to(result.out_dir).as_posix()) for f in result.files]


def push_project(
    link: BoardLink,
    sources: list[Path],
    *,
    board: str | None = None,
    dest: str = "/",
    delete: bool = False,
    as_source: bool = False,
    progress: Progress | None = None,
    build_dir: Path | None = None,
    dry_run: bool = False,
    delete_libraries: bool = False,
) -> tuple[BuildResult, PushResult]:
    """Compiles sources for the board (syntax errors stop here) into build_dir (default
    project_build_dir()) and syncs them to dest (with dry_run: says what it would do)."""
    target, label = board_target(link, board)
    built = build_tree(sources, target, label, as_source=as_source, root=build_dir)
    files = plan(pushable(built), dest)
    return built, push(link, files, dest=dest, delete=delete, progress=progress,
                       window=window_for(board), dry_run=dry_run,
                       delete_libraries=delete_libraries)


def runtime_frozen(link: BoardLink) -> bool:
    """Whether the board's firmware has the ember runtime frozen in (ember's own builds)."""
    return bool(device_code.call(link, "frozen_runtime.py", "frozen"))


def install_runtime(link: BoardLink, *, board: str | None = None,
                    progress: Progress | None = None) -> PushResult | None:
    """Installs firmware/ember as .mpy under /lib/ember (only what is missing or outdated);
    None, installing nothing, where the firmware has the runtime frozen in (a /lib copy
    would never be imported: '.frozen' comes first on a board's sys.path)."""
    if runtime_frozen(link):
        return None
    target, label = board_target(link, board)
    built = build_tree([RUNTIME_DIR], target, label, subdir="runtime", root=ember_build_dir(),
                       optimise=RUNTIME_OPTIMISE)
    files = plan(pushable(built), RUNTIME_DEST)
    return push(link, files, dest=RUNTIME_DEST, delete=True, progress=progress,
                window=window_for(board))


def window_for(board: str | None) -> int:
    """Frames in flight: a UART board's receive buffer holds about one frame, USB CDC two."""
    if board and load_profile(board).link.kind == "uart":
        return 1
    return 2
