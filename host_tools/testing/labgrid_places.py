"""`--ember-labgrid PLACE_PATTERN`: the suite on places of a labgrid farm, one per worker.

The controller (the pytest process xdist starts its workers from, or the only one)
acquires the places before any worker starts and releases them when it ends: at the end,
on Ctrl-C, on SIGTERM (turned into KeyboardInterrupt so pytest's cleanups run), and when
a worker dies (the controller, not the worker, holds them). Each worker is handed its
place (its rfc2217 URL and `board` tag) in its workerinput and watches that the place's
serial port stays on the coordinator: when its exporter goes, its tests fail naming the
place and the run stops.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import pytest

from host_tools.farm import places as farm_places
from host_tools.farm.coordinator import Coordinator, coordinator_address
from host_tools.farm.errors import FarmError, PlaceLost
from host_tools.farm.places import PlaceInfo
from host_tools.farm.watch import PlaceWatch

WORKER_PLACE = "ember_labgrid_place"
WORKER_COORDINATOR = "ember_labgrid_coordinator"


def add_options(group: Any) -> None:
    group.addoption("--ember-labgrid", default=None, metavar="PLACE_PATTERN",
                    help="run on free labgrid places matching the pattern (`lab-pico-*`), "
                         "one per xdist worker; the board profile is each place's board= tag")
    group.addoption("--ember-labgrid-coordinator", default=None, metavar="HOST:PORT",
                    help="the labgrid coordinator (default: $LG_COORDINATOR, else the local "
                         "farm of `ember farm up`, else 127.0.0.1:20408)")


def worker_count(config: pytest.Config) -> int:
    """How many places the run needs: one per xdist worker, else one."""
    try:
        workers = config.getoption("numprocesses")
    except ValueError:  # xdist not installed or disabled (-p no:xdist)
        return 1
    if not workers or config.getoption("dist", "load") == "no":
        return 1
    return int(workers)


class LabgridPlaces:
    """This process's part of --ember-labgrid: in the controller the places it holds, in
    each process the one place its board is on (and the watch on it)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.pattern: str = config.getoption("ember_labgrid")
        self.address, self.source = coordinator_address(
            config.getoption("ember_labgrid_coordinator"))
        self.held: list[PlaceInfo] = []  # the controller's acquisitions
        self.place: PlaceInfo | None = None  # this process's board's place
        self.watch: PlaceWatch | None = None
        self.lost_reason = ""
        self._previous_sigterm: Any = None

    # -- the controller ------------------------------------------------------------------
    def acquire(self) -> None:
        self._previous_sigterm = signal.signal(signal.SIGTERM, farm_places.sigterm_as_interrupt)
        count = worker_count(self.config)
        try:
            with Coordinator(self.address, source=self.source) as coordinator:
                self.held = farm_places.acquire_free(coordinator, self.pattern, count)
        except FarmError as error:
            self.restore_signal()
            raise pytest.UsageError(f"--ember-labgrid {self.pattern}: {error}") from None

    def release(self) -> None:
        """Releases what the controller holds (bounded; a one-line warning if it cannot)."""
        held, self.held = self.held, []
        try:
            if held:
                with Coordinator(self.address, source=self.source) as coordinator:
                    failed = farm_places.release(coordinator, [one.name for one in held])
                if failed:
                    _warn(f"places not released: {'; '.join(failed)}")
        except FarmError as error:
            _warn(f"places {', '.join(one.name for one in held)} not released: {error} "
                  "(labgrid-client -p PLACE release)")
        finally:
            self.restore_signal()

    def restore_signal(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def for_worker(self, worker: str) -> dict[str, str]:
        index = int(worker.lstrip("gw") or 0)
        return {WORKER_PLACE: self.held[index].to_json(), WORKER_COORDINATOR: self.address}

    # -- every process -------------------------------------------------------------------
    def take(self, workerinput: dict[str, Any] | None) -> None:
        """This process's place: the one handed to this worker, or the first held."""
        if workerinput is not None and WORKER_PLACE in workerinput:
            self.place = PlaceInfo.from_json(workerinput[WORKER_PLACE])
            self.address = workerinput[WORKER_COORDINATOR]
        elif self.held:
            self.place = self.held[0]

    def check(self, session: pytest.Session | None) -> PlaceInfo:
        """The place, if it can still be used; otherwise PlaceLost naming it (and the run
        told to stop after this test)."""
        assert self.place is not None
        if not self.lost_reason:
            if self.watch is None:
                self.watch = PlaceWatch(self.address, [self.place]).start()
            self.lost_reason = self.watch.lost(self.place.name)
        if self.lost_reason:
            message = f"labgrid place {self.place.name}: {self.lost_reason}; the run stops"
            if session is not None:
                session.shouldstop = message
            raise PlaceLost(message)
        return self.place

    def close(self) -> None:
        watch, self.watch = self.watch, None
        if watch is not None:
            watch.close()


def _warn(message: str) -> None:
    print(f"ember: warning: {message}", file=sys.stderr)
