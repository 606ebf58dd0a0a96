"""The local farm's state folder: farm.json (what runs, its pids and ports), the configs
and logs of its processes, the coordinator's own files."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from host_tools.sim import registry

STATE_ENV = "EMBER_FARM_DIR"
STATE_FILE = "farm.json"


@dataclass
class FarmBoard:
    """One board of the farm: its place, the virtual board (pid, pty) and its TCP port."""

    place: str
    board: str
    sim_pid: int
    pty: str
    tcp_port: int


@dataclass
class FarmState:
    """What `ember farm up` started, so `ember farm down` stops exactly that."""

    coordinator: str = ""
    coordinator_pid: int = 0
    ser2net_pid: int = 0
    exporter_pid: int = 0
    exporter_name: str = ""
    boards: list[FarmBoard] = field(default_factory=list)

    def pids(self) -> list[int]:
        """Every process of the farm, in the order to stop them (the users first)."""
        return [pid for pid in (self.exporter_pid, self.ser2net_pid,
                                *(one.sim_pid for one in self.boards),
                                self.coordinator_pid) if pid]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FarmState:
        data = json.loads(text)
        data["boards"] = [FarmBoard(**one) for one in data.get("boards", [])]
        return cls(**data)


def default_dir() -> Path:
    """$EMBER_FARM_DIR, else `farm` beside the virtual boards' records."""
    override = os.environ.get(STATE_ENV)
    return Path(override) if override else registry.runtime_dir().parent / "farm"


def load(folder: Path) -> FarmState | None:
    try:
        return FarmState.from_json((folder / STATE_FILE).read_text())
    except (OSError, ValueError, TypeError):
        return None


def save(folder: Path, farm: FarmState) -> None:
    """Written whole or not at all, after each process starts (a failed `up` leaves what
    it started listed, for `down`)."""
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / (STATE_FILE + ".tmp")
    temp.write_text(farm.to_json())
    temp.replace(folder / STATE_FILE)


def clear(folder: Path) -> None:
    (folder / STATE_FILE).unlink(missing_ok=True)
