"""ember's pytest plugin: `board`/`boards` fixtures and tests that run on the board."""

from __future__ import annotations

import ast
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from host_tools.boards.profiles import load_profile
from host_tools.errors import DeviceError, EmberError
from host_tools.farm.errors import PlaceLost
from host_tools.install.runtime import RUNTIME_DEST, runtime_frozen
from host_tools.paths import RUNTIME_DIR
from host_tools.sim.wire import Wire
from host_tools.testing import labgrid_places
from host_tools.testing.board import Board, DeviceTimeout
from host_tools.testing.labgrid_places import LabgridPlaces
from host_tools.testing.transcript import Transcript

MARKER = "# ember: device"
TESTS_DEST = "/tests"
TRANSCRIPT_LIMIT = 20_000  # characters of a failing test's transcript shown in its report
_FRAME = re.compile(r'^(\s*)File "([^"]+)", line (\d+)(.*)$')


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ember", "ember: MicroPython boards under test")
    group.addoption("--ember-board", default="rp2-pico", metavar="NAME",
                    help="board profile; a virtual board of it per worker unless --ember-port "
                         "(default: rp2-pico)")
    group.addoption("--ember-port", default=None, metavar="PORT[,PORT...]",
                    help="a real board's port or pyserial URL; with xdist, worker N takes entry N")
    group.addoption("--ember-baud", type=int, default=None, metavar="N",
                    help="throttle the virtual board's link to N baud (default: unthrottled)")
    group.addoption("--ember-timeout", type=float, default=30.0, metavar="SECONDS",
                    help="a device test running longer is stopped with Ctrl-C (default: 30)")
    group.addoption("--ember-uart", action="append", default=[], metavar="N=PORT[,PORT...]",
                    help="host port wired to a real board's UART N (repeatable)")
    group.addoption("--ember-native", action="store_true",
                    help="install ember's native module (_ember, built for the board's "
                         "architecture) beside the runtime: its C Pipe and Signal are used")
    labgrid_places.add_options(group)


def pytest_configure(config: pytest.Config) -> None:
    labgrid = None
    if config.getoption("ember_labgrid"):
        labgrid = LabgridPlaces(config)
        workerinput = getattr(config, "workerinput", None)
        if workerinput is None:  # the controller: it holds the places for the whole run
            config.add_cleanup(labgrid.release)
            labgrid.acquire()
        config.add_cleanup(labgrid.close)
        labgrid.take(workerinput)
    config.stash[_SESSION] = EmberSession(config, labgrid)
    config.add_cleanup(config.stash[_SESSION].close)  # runs first: links closed, then release


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, in the controller: each worker is handed its labgrid place."""
    labgrid = node.config.stash[_SESSION].labgrid
    if labgrid is not None:
        node.workerinput.update(labgrid.for_worker(node.gateway.id))


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_SESSION].pytest_session = session


def pytest_report_header(config: pytest.Config) -> list[str]:
    labgrid = config.stash[_SESSION].labgrid
    if labgrid is None or not labgrid.held:
        return []
    return [f"ember labgrid: {len(labgrid.held)} place(s) on {labgrid.address}: "
            + ", ".join(f"{one.name} ({one.board}, {one.url})" for one in labgrid.held)]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    labgrid = config.stash[_SESSION].labgrid
    if labgrid is not None and labgrid.held:
        terminalreporter.write_line(
            f"ember labgrid: {len(labgrid.held)} place(s) used: "
            + ", ".join(one.name for one in labgrid.held))


class EmberSession:
    """This worker's board (started or opened on first use) and what was pushed to it."""

    def __init__(self, config: pytest.Config, labgrid: LabgridPlaces | None = None) -> None:
        self.config = config
        self.labgrid = labgrid  # --ember-labgrid: this process's place
        self.pytest_session: pytest.Session | None = None
        # xdist hands each worker its id in workerinput; the PYTEST_XDIST_WORKER variable
        # would also be inherited by a pytest this run starts as a child, so not read here
        self.worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
        self._board: Board | None = None
        self._failed: EmberError | None = None  # the board could not be started: say so once
        self._extra: list[Board] = []
        self._modules: dict[Path, str] = {}  # local test module -> its name on the board
        self._transcripts: Path | None = None
        self._module_board: tuple[Path, Board] | None = None  # a heapsize= module's board
        self._states: list[Path] = []  # flash images of those boards, removed at the end
        self._frozen: dict[Board, bool] = {}

    @property
    def timeout(self) -> float:
        return float(self.config.getoption("ember_timeout"))

    def transcript(self, label: str) -> Transcript:
        if self._transcripts is None:
            factory = getattr(self.config, "_tmp_path_factory", None)
            base = factory.getbasetemp() if factory else Path(tempfile.mkdtemp())
            self._transcripts = base / "ember-transcripts"
        return Transcript(self._transcripts / f"{_safe(label)}.log")

    @property
    def remote(self) -> bool:
        """The board under test is given (--ember-port, --ember-labgrid), not started here."""
        return bool(self.config.getoption("ember_port") or self.labgrid)

    def board(self) -> Board:
        if self.labgrid is not None:  # every use: is the place still there?
            try:
                self.labgrid.check(self.pytest_session)
            except PlaceLost as lost:  # the reason is the whole story: no traceback
                pytest.fail(str(lost), pytrace=False)
        if self._failed is not None:
            raise self._failed
        if self._board is None:
            try:
                self._board = self._make_board()
            except EmberError as error:
                self._failed = error
                raise
            if self._board.sim is None:  # a real board: _ember pushed as a native .mpy
                self._board.native = bool(self.config.getoption("ember_native"))
        return self._board

    def _make_board(self) -> Board:
        name = self.config.getoption("ember_board")
        ports = self.config.getoption("ember_port")
        if self.labgrid is not None:
            place = self.labgrid.check(self.pytest_session)
            name = place.board or name
            return Board(place.url, load_profile(name), timeout=self.timeout,
                         transcript=self.transcript(f"{self.worker}-{place.name}"))
        if not ports:
            return self.virtual(f"{self.worker}-{name}")
        index = _worker_index(self.worker)
        entries = ports.split(",")
        if index >= len(entries):
            raise EmberError(f"--ember-port lists {len(entries)} port(s): none for {self.worker}")
        uarts: dict[int, str] = {}
        for option in self.config.getoption("ember_uart"):
            n, _, paths = option.partition("=")
            choices = paths.split(",")
            if index < len(choices):
                uarts[int(n)] = choices[index]
        return Board(entries[index].strip(), load_profile(name), timeout=self.timeout,
                     uarts=uarts, transcript=self.transcript(f"{self.worker}-{name}"))

    def virtual(self, label: str, heap_bytes: int | None = None,
                state_dir: Path | None = None, frozen_runtime: bool = True) -> Board:
        """A new virtual board of the chosen profile (stopped at session end at the latest)."""
        board = Board.virtual(
            self.config.getoption("ember_board"),
            baud=self.config.getoption("ember_baud") or None,
            timeout=self.timeout,
            transcript=self.transcript(label),
            heap_bytes=heap_bytes,
            state_dir=state_dir,
            frozen_runtime=frozen_runtime,
            native=bool(self.config.getoption("ember_native")),
        )
        self._extra.append(board)
        return board

    def board_for(self, path: Path) -> Board:
        """The board a device module runs on: this worker's, or for a module that asks for
        a heap of its own, a virtual board with that heap, kept for the module's tests."""
        heap = module_heap(path)
        package = module_package(path)
        if (heap is None and package is None) or self.remote:
            return self.board()
        if self._module_board is not None and self._module_board[0] != path:
            self._module_board[1].close()
            self._extra.remove(self._module_board[1])
            self._module_board = None
        if self._module_board is None:
            frozen = package != "mpy"
            board = (self._small_heap_board(path, heap, frozen) if heap is not None
                     else self.virtual(f"{self.worker}-{path.stem}", frozen_runtime=frozen))
            self._module_board = (path, board)
        return self._module_board[1]

    def _small_heap_board(self, path: Path, heap: int, frozen_runtime: bool) -> Board:
        # A small heap cannot run the push receiver beside the test: files go onto the
        # flash from a board with the profile's heap, which then restarts with the small one
        # on the same flash.
        state = Path(tempfile.mkdtemp(prefix="ember-heap-"))
        self._states.append(state)
        label = f"{self.worker}-{path.stem}-heap{heap}"
        loader = self.virtual(label, state_dir=state, frozen_runtime=frozen_runtime)
        loader.install_runtime()
        for extra in module_extras(path, self.config.rootpath):
            loader.push_once(extra, "/lib")
        loader.push_module(path, TESTS_DEST, self.module_name(path))
        installed = set(loader.installed)
        loader.close()
        self._extra.remove(loader)
        board = self.virtual(label, heap, state_dir=state, frozen_runtime=frozen_runtime)
        board.installed |= installed
        return board

    def frozen(self, board: Board) -> bool:
        """Whether the board's firmware has ember frozen in (asked once per board)."""
        if board not in self._frozen:
            self._frozen[board] = runtime_frozen(board.link)
        return self._frozen[board]

    def module_name(self, path: Path) -> str:
        """A test module's name on the board: its own, unless another module has it."""
        if path not in self._modules:
            taken = set(self._modules.values())
            name, n = path.stem, 1
            while name in taken:
                n += 1
                name = f"{path.stem}_{n}"
            self._modules[path] = name
        return self._modules[path]

    def board_paths(self) -> dict[str, Path]:
        """Board file -> local file, for mapping device tracebacks."""
        paths = {f"{TESTS_DEST}/{name}.py": local for local, name in self._modules.items()}
        for local in RUNTIME_DIR.glob("*.py"):
            paths[f"{RUNTIME_DEST}/{local.name}"] = local
            paths[local.name] = local  # the name mpy-cross gives the installed .mpy
            paths[f"ember/{local.name}"] = local  # the name of the frozen runtime's code
        return paths

    def close(self) -> None:
        boards = [*self._extra, *([self._board] if self._board else [])]
        self._extra, self._board, self._module_board = [], None, None
        for board in boards:
            board.close()
        for state in self._states:
            shutil.rmtree(state, ignore_errors=True)
        self._states.clear()


_SESSION = pytest.StashKey[EmberSession]()
_USED = pytest.StashKey[list[Board]]()


def _worker_index(worker: str) -> int:
    digits = worker.lstrip("gw")
    return int(digits) if digits.isdigit() else 0


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")[-120:]


def _use(item: pytest.Item, board: Board) -> None:
    item.stash.setdefault(_USED, []).append(board)
    board.transcript.mark(item.nodeid)


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture
def board(request: pytest.FixtureRequest) -> Iterator[Board]:
    """This worker's board, with the runtime installed and a fresh __main__."""
    the_board = request.config.stash[_SESSION].board()
    _use(request.node, the_board)
    the_board.ready()
    the_board.install_runtime()
    the_board.fresh()
    yield the_board
    the_board.settle()


@pytest.fixture
def boards(request: pytest.FixtureRequest) -> Iterator[Callable[..., list[Board]]]:
    """`boards(2)`: fresh virtual boards, stopped after the test; with `wired` (the default)
    UART 1 of boards 0 and 1 (2 and 3, ...) are cross-connected through the host."""
    session = request.config.stash[_SESSION]
    made: list[Board] = []
    wires: list[Wire] = []

    def make(count: int = 2, *, wired: bool = True) -> list[Board]:
        new: list[Board] = []
        for _ in range(count):
            new.append(session.virtual(f"{request.node.nodeid}-{len(made)}"))
            made.append(new[-1])
            _use(request.node, new[-1])
        for one in new:
            one.install_runtime()
        if wired:
            for a, b in zip(new[::2], new[1::2], strict=False):
                wires.append(Wire(a.uarts[1], b.uarts[1]).start())
        return new

    yield make
    for wire in wires:
        wire.close()
    for one in made:
        one.close()


# -- device test modules -------------------------------------------------------------------
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.File | None:
    if module_path.name.startswith("test_") and _is_device_module(module_path):
        return DeviceModule.from_parent(parent, path=module_path)
    return None


def _is_device_module(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as source:
        return source.readline().rstrip("\r\n") == MARKER




def module_pragmas(path: Path) -> dict[str, str]:
    """`key=value` words of a device module's leading `# ember: ...` comment lines."""
    pragmas: dict[str, str] = {}
    with path.open(encoding="utf-8", errors="replace") as source:
        for line in source:
            if not line.startswith("#"):
                break
            if line[1:].strip().startswith("ember:"):
                for word in line[1:].replace("ember:", " ").split():
                    key, _, value = word.partition("=")
                    if value:
                        pragmas[key] = value
    return pragmas


def module_heap(path: Path) -> int | None:
    """The heap a device module asks for in a leading `# ember: heapsize=32k` line."""
    value = module_pragmas(path).get("heapsize") or module_pragmas(path).get("heap")
    if not value:
        return None
    scale = {"k": 1024, "m": 1024 * 1024}.get(value[-1].lower(), 1)
    return int(value.rstrip("kKmM")) * scale


def module_package(path: Path) -> str | None:
    """`# ember: package=mpy`: the module tests the runtime as installed from .mpy files, on
    a virtual board whose firmware has no ember frozen in (stock firmware, as most users
    have); without it, device modules run against the firmware's frozen runtime."""
    return module_pragmas(path).get("package")


def module_extras(path: Path, root: Path) -> list[Path]:
    """Device files a module needs in /lib, from `# ember: push=firmware/x.py,...`."""
    value = module_pragmas(path).get("push", "")
    return [root / item for item in value.split(",") if item]


class DeviceModule(pytest.File):
    """A module whose tests run on the board: read with `ast`, never imported by CPython.

    A leading `# ember: heapsize=32k` line runs the module on a virtual board of its own
    with that heap (a real board's heap is what it is: there the line is ignored);
    `# ember: push=firmware/boot_guard.py` puts device files the module imports in /lib."""

    def collect(self) -> Iterator[DeviceTest]:
        tree = ast.parse(self.path.read_text(encoding="utf-8"), filename=str(self.path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield DeviceTest.from_parent(self, name=node.name, lineno=node.lineno)


class DeviceTestFailure(Exception):
    """A device test failed: what kind (failed, error, MemoryError, timeout) and its text."""

    def __init__(self, headline: str, details: str) -> None:
        super().__init__(headline)
        self.headline = headline
        self.details = details


class DeviceTest(pytest.Item):
    """One `test_*` function of a device module, called on the board."""

    # Other plugins read every item's fixtures (labgrid's, installed with ember[farm],
    # reads item.fixturenames in its setup hook): a device test uses none.
    fixturenames: tuple[str, ...] = ()

    def __init__(self, *, lineno: int, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.lineno = lineno
        self._board: Board | None = None

    def setup(self) -> None:
        session = self.config.stash[_SESSION]
        self._board = session.board_for(self.path)
        _use(self, self._board)
        self._board.ready()
        if session.remote and module_package(self.path) == "mpy" and session.frozen(self._board):
            pytest.skip("package=mpy tests the runtime installed as .mpy on stock firmware; "
                        "the given board's firmware has ember frozen in")
        self._board.install_runtime()
        self._module = session.module_name(self.path)
        for extra in module_extras(self.path, self.config.rootpath):
            self._board.push_once(extra, "/lib")
        self._board.push_module(self.path, TESTS_DEST, self._module)

    def runtest(self) -> None:
        assert self._board is not None
        session = self.config.stash[_SESSION]
        try:
            self._board.call(self._module, self.name, path=TESTS_DEST, timeout=session.timeout)
        except DeviceTimeout as error:
            how = "stopped with Ctrl-C" if error.stopped else (
                "Ctrl-C did not stop it: the board is reset before the next test")
            raise DeviceTestFailure(
                f"Timeout: {self.name} did not finish within {session.timeout:g} s "
                f"(--ember-timeout); {how}",
                f"device output before the timeout:\n{error.output}" if error.output else "",
            ) from None
        except DeviceError as error:
            paths = session.board_paths()
            traceback = map_traceback(error.traceback, paths, Path.cwd())
            headline = f"{error}"
            where = error.location
            if where is not None:
                local = paths.get(where[0])
                shown = _shown(local, Path.cwd()) if local else where[0]
                headline = f"{shown}:{where[1]}: {error}  [on the board: {where[0]}]"
            if error.kind == "MemoryError":
                heap = self._board.profile.heap_bytes
                headline += f" (heap {heap} bytes; soft reset before the next test)"
            raise DeviceTestFailure(headline, traceback) from None

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, DeviceTestFailure):
            failure = excinfo.value
            return f"{failure.headline}\n{failure.details}".rstrip()
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.lineno - 1, f"{self.name} [on the board]"


def map_traceback(text: str, board_paths: dict[str, Path], root: Path) -> str:
    """A device traceback with board files named by their local paths and source lines."""
    lines = []
    for line in text.rstrip().splitlines():
        frame = _FRAME.match(line)
        if frame is None:
            lines.append(line)
            continue
        indent, device_file, number, rest = frame.groups()
        if device_file == "<stdin>":
            continue  # the runner's own call
        local = board_paths.get(device_file)
        if local is None:
            lines.append(line)
            continue
        lines.append(f'{indent}File "{_shown(local, root)}", line {number}{rest}')
        source = local.read_text(encoding="utf-8", errors="replace").splitlines()
        if 0 < int(number) <= len(source):
            lines.append(f"{indent}  {source[int(number) - 1].strip()}")
    return "\n".join(lines)


def _shown(local: Path, root: Path) -> str:
    return os.path.relpath(local, root) if local.is_relative_to(root) else str(local)


# -- reports -------------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for used in item.stash.get(_USED, []):
            text = used.transcript.text()
            if len(text) > TRANSCRIPT_LIMIT:
                text = "...\n" + text[-TRANSCRIPT_LIMIT:]
            report.sections.append(
                (f"ember transcript {used.port} (full: {used.transcript.where()})", text)
            )
    return report
