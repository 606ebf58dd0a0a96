"""Watches, from a thread, that the places a test process uses still have their serial port
on the coordinator: an exporter that dies takes its resources off the coordinator at once,
and the tests on its place then fail naming it instead of waiting on a silent port.

The thread runs labgrid's own ClientSession (it takes the coordinator's updates as they
come); the test thread only asks, bounded, after a sync round trip.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from host_tools.farm.coordinator import CALL_TIMEOUT_S, client_module, grpc_target
from host_tools.farm.places import SERIAL_CLASS, PlaceInfo

CHECK_TIMEOUT_S = 5.0


class PlaceWatch:
    """`watch = PlaceWatch(address, places).start()`; `watch.lost(place)` is why the place
    can no longer be used ('' while it can); `watch.close()` ends the thread."""

    def __init__(self, address: str, places: list[PlaceInfo]) -> None:
        self.address = address
        self.places = {place.name: place for place in places}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: Any = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error = ""
        self._thread = threading.Thread(target=self._run, name="ember-place-watch",
                                        daemon=True)

    def start(self) -> PlaceWatch:
        self._thread.start()
        self._ready.wait(CALL_TIMEOUT_S)
        return self

    def _run(self) -> None:
        client = client_module()
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main(client))
        finally:
            self._loop.close()

    async def _main(self, client: Any) -> None:
        self._stop = asyncio.Event()
        self._session = client.ClientSession(grpc_target(self.address),
                                            asyncio.get_running_loop())
        try:
            await asyncio.wait_for(self._session.start(), CALL_TIMEOUT_S)
        except (client.Error, TimeoutError) as error:
            self._error = f"the coordinator at {self.address} does not answer ({error})"
            self._session = None
            return
        finally:
            self._ready.set()
        stopping = asyncio.ensure_future(self._session.stopping.wait())
        stop = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait([stopping, stop], return_when=asyncio.FIRST_COMPLETED)
        for task in (stopping, stop):
            task.cancel()
        if self._session.stopping.is_set():
            self._error = f"the coordinator at {self.address} went away"
        for step in (self._session.stop, self._session.close):
            try:
                await asyncio.wait_for(step(), CALL_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - closing: the session is gone either way
                pass

    def lost(self, name: str) -> str:
        """'' if the place's serial port is on the coordinator now, else why not."""
        place = self.places[name]
        if self._error:
            return self._error
        if self._session is None or self._loop is None or not self._thread.is_alive():
            return f"the watch on the coordinator at {self.address} ended"
        sync = asyncio.run_coroutine_threadsafe(self._session.sync_with_coordinator(),
                                                self._loop)
        try:
            if not sync.result(CHECK_TIMEOUT_S):
                return self._error or f"the coordinator at {self.address} went away"
        except FutureTimeout:
            return f"the coordinator at {self.address} did not answer in {CHECK_TIMEOUT_S:g} s"
        exporter, group, _cls, resource = place.resource.split("/")
        entry = self._session.resources.get(exporter, {}).get(group, {}).get(resource)
        if entry is None or entry.data.get("cls") != SERIAL_CLASS or not entry.avail:
            return (f"its {SERIAL_CLASS} {place.resource} is gone from the coordinator "
                    f"(exporter {exporter} down?)")
        return ""

    def close(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass  # the loop has just ended
        self._thread.join(CALL_TIMEOUT_S)
