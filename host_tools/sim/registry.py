"""Records of running virtual boards, so `ember sim list/stop` and `ember boards` find them."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from host_tools.pids import alive


@dataclass
class SimRecord:
    """What a running virtual board's supervisor publishes about itself."""

    pid: int
    port: str
    board: str
    state_dir: str
    baud: int | None
    uarts: dict[str, str] = field(default_factory=dict)
    log: str = ""
    ephemeral: bool = False
    firmware: str = ""  # the board's firmware image; "" when the PyPI interpreter stands in
    warning: str = ""  # for `ember sim start` to print: why the fallback stands in

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SimRecord:
        return cls(**json.loads(text))


def runtime_dir() -> Path:
    """EMBER_RUNTIME_DIR, else $XDG_RUNTIME_DIR/ember, else <tmp>/ember-<uid>."""
    override = os.environ.get("EMBER_RUNTIME_DIR")
    if override:
        base = Path(override)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        base = Path(os.environ["XDG_RUNTIME_DIR"]) / "ember"
    else:
        base = Path(tempfile.gettempdir()) / f"ember-{os.getuid()}"
    path = base / "sims"
    path.mkdir(parents=True, exist_ok=True)
    return path


def record_path(pid: int) -> Path:
    return runtime_dir() / f"{pid}.json"


def publish(record: SimRecord) -> None:
    target = record_path(record.pid)
    temp = target.with_suffix(".tmp")
    temp.write_text(record.to_json())
    temp.replace(target)


def withdraw(pid: int) -> None:
    record_path(pid).unlink(missing_ok=True)


def running() -> list[SimRecord]:
    """Records of live supervisors; records left by dead ones are removed."""
    records = []
    for path in sorted(runtime_dir().glob("*.json")):
        try:
            record = SimRecord.from_json(path.read_text())
        except (OSError, ValueError, TypeError):
            continue
        if alive(record.pid):
            records.append(record)
        else:
            path.unlink(missing_ok=True)
    return records


def find(port: str) -> SimRecord | None:
    """The running virtual board whose console or UART is `port` (a path, resolved)."""
    wanted = os.path.realpath(port)
    for record in running():
        ends = [record.port, *record.uarts.values()]
        if wanted in (os.path.realpath(end) for end in ends):
            return record
    return None
