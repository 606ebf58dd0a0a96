"""A local board farm on loopback (`ember farm up` / `down`): a labgrid coordinator, N
virtual boards, ser2net serving their ptys as RFC 2217, a labgrid exporter offering those
as NetworkSerialPort resources, and one place per board tagged `board=NAME`.

Each piece is labgrid's or ser2net's own program, started as a real lab runs them; what
is written here is only their configuration and the bookkeeping that stops them again.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from host_tools.boards.profiles import load_profile
from host_tools.farm import processes, ser2net, state
from host_tools.farm.coordinator import Coordinator, labgrid_installed
from host_tools.farm.errors import LABGRID_HINT, FarmError, LabgridMissing
from host_tools.farm.places import SERIAL_CLASS
from host_tools.farm.state import FarmBoard, FarmState
from host_tools.sim import launcher, registry

EXPORTER_NAME = "ember-farm"
DEFAULT_PREFIX = "farm"
LINK_BAUD = 115200  # what ser2net sets on the pty; a virtual board's pty ignores the rate


def labgrid_program(name: str) -> str:
    """labgrid-coordinator / labgrid-exporter of this Python's labgrid, else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None or not labgrid_installed():
        raise LabgridMissing(f"{name} not found: {LABGRID_HINT}")
    return found


def place_name(prefix: str, board: str, index: int) -> str:
    return f"{prefix}-{board}-{index}"


def exporter_config(farm: FarmState) -> str:
    """The exporter's YAML: one group per place, holding its NetworkSerialPort."""
    lines = []
    for one in farm.boards:
        lines += [f"{one.place}:", f"  {SERIAL_CLASS}:", f"    host: {processes.LOOPBACK}",
                  f"    port: {one.tcp_port}", f"    speed: {LINK_BAUD}"]
    return "\n".join(lines) + "\n"


def running(folder: Path) -> FarmState | None:
    """The farm recorded in `folder` if any of its processes still runs."""
    farm = state.load(folder)
    if farm is None or not any(processes.alive(pid) for pid in farm.pids()):
        return None
    return farm


def up(count: int, board: str, folder: Path, *, prefix: str = DEFAULT_PREFIX,
       say: Callable[[str], None] = lambda _: None) -> FarmState:
    """Starts the farm and returns its state; on any failure stops what it started."""
    if count < 1:
        raise FarmError(f"--boards {count}: a farm needs at least one board")
    load_profile(board)  # an unknown profile: its one-line error before anything starts
    existing = running(folder)
    if existing is not None:
        raise FarmError(f"a farm is already up ({folder}: coordinator {existing.coordinator}, "
                        f"{len(existing.boards)} place(s)): `ember farm down` first")
    ser2net_binary = ser2net.find()
    coordinator_binary = labgrid_program("labgrid-coordinator")
    exporter_binary = labgrid_program("labgrid-exporter")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / "coordinator", ignore_errors=True)  # no places of an old farm
    (folder / "coordinator").mkdir()
    farm = FarmState()
    try:
        _start_coordinator(farm, coordinator_binary, folder, say)
        _start_boards(farm, count, board, prefix, folder, say)
        _start_ser2net(farm, ser2net_binary, folder, say)
        _start_exporter(farm, exporter_binary, folder, say)
        _add_places(farm, board, say)
    except BaseException:
        down(folder)
        raise
    return farm


def _start_coordinator(farm: FarmState, binary: str, folder: Path,
                       say: Callable[[str], None]) -> None:
    port = processes.free_port()
    log = folder / "coordinator.log"
    process = processes.spawn([binary, "-l", f"{processes.LOOPBACK}:{port}"], log,
                              folder / "coordinator")
    farm.coordinator, farm.coordinator_pid = f"{processes.LOOPBACK}:{port}", process.pid
    state.save(folder, farm)
    processes.wait_until(lambda: processes.listening(port), process, "labgrid-coordinator", log)
    say(f"coordinator on {farm.coordinator}")


def _start_boards(farm: FarmState, count: int, board: str, prefix: str, folder: Path,
                  say: Callable[[str], None]) -> None:
    for index in range(count):
        record = launcher.start(board)
        if record.warning:
            say(record.warning)
        farm.boards.append(FarmBoard(place=place_name(prefix, board, index), board=board,
                                     sim_pid=record.pid, pty=record.port,
                                     tcp_port=processes.free_port()))
        state.save(folder, farm)
        say(f"virtual {board} on {record.port}")


def _start_ser2net(farm: FarmState, binary: str, folder: Path,
                   say: Callable[[str], None]) -> None:
    config = folder / "ser2net.yaml"
    config.write_text(ser2net.config(
        [(one.place.replace("-", "_"), one.pty, one.tcp_port, LINK_BAUD)
         for one in farm.boards]))
    log = folder / "ser2net.log"
    process = processes.spawn(ser2net.command(binary, config, folder / "ser2net.pid"), log,
                              folder)
    farm.ser2net_pid = process.pid
    state.save(folder, farm)
    processes.wait_until(
        lambda: all(processes.listening(one.tcp_port) for one in farm.boards),
        process, "ser2net", log)
    say("ser2net serving " + ", ".join(f"{one.pty} on rfc2217 port {one.tcp_port}"
                                       for one in farm.boards))


def _start_exporter(farm: FarmState, binary: str, folder: Path,
                    say: Callable[[str], None]) -> None:
    config = folder / "exporter.yaml"
    config.write_text(exporter_config(farm))
    log = folder / "exporter.log"
    farm.exporter_name = EXPORTER_NAME
    process = processes.spawn([binary, "-c", farm.coordinator, "-n", farm.exporter_name,
                               "--hostname", processes.LOOPBACK, str(config)], log, folder)
    farm.exporter_pid = process.pid
    state.save(folder, farm)
    wanted = {one.place for one in farm.boards}
    with Coordinator(farm.coordinator, source="the local farm") as coordinator:
        def exported() -> bool:
            coordinator.sync()
            groups = coordinator.resources().get(farm.exporter_name, {})
            return wanted <= {name for name, group in groups.items()
                              if any(entry.data.get("cls") for entry in group.values())}
        processes.wait_until(exported, process, "labgrid-exporter", log)
    say(f"exporter {farm.exporter_name}: {len(wanted)} {SERIAL_CLASS} resource(s)")


def _add_places(farm: FarmState, board: str, say: Callable[[str], None]) -> None:
    with Coordinator(farm.coordinator, source="the local farm") as coordinator:
        for one in farm.boards:
            coordinator.add_place(one.place, {"board": board},
                                  [f"{farm.exporter_name}/{one.place}/{SERIAL_CLASS}"])
            say(f"place {one.place}: board={board}")


def down(folder: Path) -> FarmState | None:
    """Stops every process of the farm in `folder` (bounded) and forgets it; None if no
    farm was recorded there. A FarmError names any process that would not stop."""
    farm = state.load(folder)
    if farm is None:
        return None
    stuck = [pid for pid in farm.pids() if not processes.stop(pid)]
    for one in farm.boards:
        registry.withdraw(one.sim_pid)
    shutil.rmtree(folder / "coordinator", ignore_errors=True)
    state.clear(folder)
    if stuck:
        raise FarmError(f"farm processes would not stop: {', '.join(map(str, stuck))}")
    return farm


def wait_place_gone(coordinator: Coordinator, place: str, timeout: float) -> bool:
    """Whether the place's serial port has left the coordinator within `timeout`."""
    from host_tools.farm.places import serial_port

    deadline = time.monotonic() + timeout
    while True:
        coordinator.sync()
        found = coordinator.places().get(place)
        if found is None or serial_port(coordinator, found) is None:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(processes.POLL_S)
