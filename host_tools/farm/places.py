"""Places a run uses: matched by pattern, acquired while free, read as an rfc2217 URL and a
board profile (the place's `board=NAME` tag), released at the end."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import asdict, dataclass
from typing import Any

from host_tools.farm.coordinator import Coordinator, Refused
from host_tools.farm.errors import FarmError, NoPlace, PlacesBusy

SERIAL_CLASS = "NetworkSerialPort"
BOARD_TAG = "board"
# pyserial's RFC 2217 client waits for the server to confirm each setting it sends; ser2net
# does not confirm SET_CONTROL (flow control) on a port that cannot do it, so its answer is
# not waited for: labgrid's own SerialDriver opens its ports the same way. `timeout` bounds
# the option negotiation when the port is opened.
URL_OPTIONS = "ign_set_control&timeout=5"


@dataclass(frozen=True)
class PlaceInfo:
    """One acquired place: its name, where its serial port is served, its board profile
    and the labgrid path of that resource (exporter/group/cls/name)."""

    name: str
    host: str
    port: int
    board: str | None
    resource: str

    @property
    def url(self) -> str:
        return f"rfc2217://{self.host}:{self.port}?{URL_OPTIONS}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PlaceInfo:
        return cls(**json.loads(text))


def matching(names: list[str], pattern: str) -> list[str]:
    """Place names matching a shell-style pattern (`lab-pico-*`); a pattern without
    wildcards names one place."""
    return sorted(name for name in names if fnmatch.fnmatchcase(name, pattern))


def serial_port(coordinator: Coordinator, place: Any) -> tuple[str, Any] | None:
    """The place's NetworkSerialPort on the coordinator now, as (path, resource), or None
    when no exporter offers it (the exporter is down, or the place matches nothing)."""
    for exporter, groups in sorted(coordinator.resources().items()):
        for group_name, group in sorted(groups.items()):
            for resource_name, resource in sorted(group.items()):
                path = (exporter, group_name, SERIAL_CLASS, resource_name)
                if (resource.data.get("cls") == SERIAL_CLASS and resource.avail
                        and place.hasmatch(path)):
                    return "/".join(path), resource
    return None


def info(coordinator: Coordinator, place: Any) -> PlaceInfo:
    found = serial_port(coordinator, place)
    if found is None:
        raise NoPlace(f"place {place.name}: no exporter offers its {SERIAL_CLASS} "
                      "(exporter down, or the place's match names no resource)")
    path, resource = found
    params = resource.args
    return PlaceInfo(name=place.name, host=str(params["host"]), port=int(params["port"]),
                     board=place.tags.get(BOARD_TAG), resource=path)


def acquire_free(coordinator: Coordinator, pattern: str, count: int) -> list[PlaceInfo]:
    """Acquires `count` free places matching `pattern` (in name order) and returns them. A
    place another client holds is never taken; if fewer than `count` can be had, those
    acquired here are released again and PlacesBusy says which are busy."""
    places = coordinator.places()
    names = matching(list(places), pattern)
    if not names:
        known = ", ".join(sorted(places)) or "none"
        raise NoPlace(f"no place on the coordinator at {coordinator.address} matches "
                      f"{pattern!r} (places: {known})")
    taken: list[PlaceInfo] = []
    busy: list[str] = []
    try:
        for name in names:
            if len(taken) == count:
                break
            place = places[name]
            if place.acquired:
                busy.append(f"{name} (held by {place.acquired})")
                continue
            if serial_port(coordinator, place) is None:
                busy.append(f"{name} (no exporter offers its serial port)")
                continue
            try:
                coordinator.acquire(name)
            except Refused as refusal:  # another client was quicker
                busy.append(f"{name} ({refusal})")
                continue
            taken.append(info(coordinator, coordinator.places()[name]))
    except BaseException:
        release(coordinator, [one.name for one in taken])
        raise
    if len(taken) < count:
        release(coordinator, [one.name for one in taken])
        raise PlacesBusy(f"{len(taken)} of {count} place(s) matching {pattern!r} free on "
                         f"{coordinator.address}; busy: {'; '.join(busy)}")
    return taken


def release(coordinator: Coordinator, names: list[str]) -> list[str]:
    """Releases the places this user holds among `names`; returns what could not be."""
    failed = []
    for name in names:
        place = coordinator.places().get(name)
        if place is None or place.acquired != coordinator.user:
            continue
        try:
            coordinator.release(name)
        except (Refused, FarmError) as error:
            failed.append(f"{name} ({error})")
    return failed


def hold_one(pattern: str, address: str | None = None) -> tuple[PlaceInfo, str]:
    """`ember --labgrid PLACE`: acquires the first free place matching `pattern`; returns
    it and the coordinator's address (for `let_go`)."""
    from host_tools.farm.coordinator import coordinator_address

    where, source = coordinator_address(address)
    with Coordinator(where, source=source) as coordinator:
        return acquire_free(coordinator, pattern, 1)[0], where


def let_go(place: PlaceInfo, address: str) -> list[str]:
    """Releases a place `hold_one` acquired; returns what could not be released."""
    with Coordinator(address) as coordinator:
        return release(coordinator, [place.name])


def sigterm_as_interrupt(signum: int, frame: object) -> None:
    """A SIGTERM handler for a process that holds places: KeyboardInterrupt, so the cleanups
    that release them run as on Ctrl-C."""
    raise KeyboardInterrupt(f"signal {signum}")
