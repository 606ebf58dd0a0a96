"""A short-lived, bounded session with a labgrid coordinator, over labgrid's own client.

labgrid's `ClientSession` (labgrid.remote.client) speaks the coordinator's gRPC protocol
and keeps the places and resources it is sent; `labgrid-client` is built on it. Its
command methods read their arguments from an argparse namespace and print, so this module
calls the coordinator's stub (`AddPlace`, `AcquirePlace`, ...) with labgrid's generated
request messages instead, and bounds every call in time: written by hand is only that
thin synchronous wrapper, not any of the protocol.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

from host_tools.farm.errors import LABGRID_HINT, LabgridMissing, NoCoordinator

COORDINATOR_ENV = "LG_COORDINATOR"
DEFAULT_COORDINATOR = "127.0.0.1:20408"  # labgrid's own default
CALL_TIMEOUT_S = 10.0


def _not_from_labgrid_client(record: logging.LogRecord) -> bool:
    """labgrid's client logs a refused connection on the root logger before it raises;
    ember says it once, as NoCoordinator."""
    return "labgrid" not in record.pathname or record.levelno >= logging.CRITICAL


logging.getLogger().addFilter(_not_from_labgrid_client)


def labgrid_installed() -> bool:
    try:
        import labgrid.remote.client  # noqa: F401
    except ImportError:
        return False
    return True


def client_module() -> Any:
    try:
        from labgrid.remote import client
    except ImportError:
        raise LabgridMissing(f"labgrid is not installed: {LABGRID_HINT}") from None
    return client


def coordinator_address(explicit: str | None = None) -> tuple[str, str]:
    """The coordinator to use and where that came from: the option, $LG_COORDINATOR, the
    local farm (`ember farm up`) when one is up, else labgrid's default."""
    if explicit:
        return explicit, "given"
    if os.environ.get(COORDINATOR_ENV):
        return os.environ[COORDINATOR_ENV], f"${COORDINATOR_ENV}"
    from host_tools.farm import state

    farm = state.load(state.default_dir())
    if farm is not None and farm.coordinator:
        return farm.coordinator, "the local farm"
    return DEFAULT_COORDINATOR, f"labgrid's default; set ${COORDINATOR_ENV}"


def grpc_target(address: str) -> str:
    """HOST[:PORT] as gRPC wants it, the port defaulting to labgrid's (as labgrid-client)."""
    from labgrid.util.proxy import proxymanager

    return str(proxymanager.get_grpc_address(address, default_port=20408))


class Coordinator:
    """`with Coordinator(address) as coordinator:` a connected session with the places and
    resources the coordinator knows; closed at the end. Constructing it does no I/O."""

    def __init__(self, address: str, *, source: str = "given",
                 timeout: float = CALL_TIMEOUT_S) -> None:
        self.address = address
        self.source = source
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: Any = None

    # -- connection ----------------------------------------------------------------------
    def __enter__(self) -> Coordinator:
        client = client_module()
        self._loop = asyncio.new_event_loop()
        target = grpc_target(self.address)
        # gRPC's aio channel belongs to the loop running when it is made: made inside ours
        self._session = self._loop.run_until_complete(_make_session(client, target))
        try:
            self._run(self._session.start())
        except (client.Error, TimeoutError):
            self.close()
            raise NoCoordinator(
                f"no labgrid coordinator answers at {self.address} ({self.source}): start "
                "one (`labgrid-coordinator`, or `ember farm up`) or set "
                f"{COORDINATOR_ENV}") from None
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        session, self._session = self._session, None
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if session is not None:
            for step in (session.stop, session.close):
                try:
                    loop.run_until_complete(asyncio.wait_for(step(), self.timeout))
                except Exception:  # noqa: BLE001 - closing: the session is gone either way
                    pass
        loop.close()

    def _run(self, step: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None, "Coordinator used outside `with`"
        return self._loop.run_until_complete(asyncio.wait_for(step, self.timeout))

    def _call(self, method: str, request: Any) -> None:
        """One coordinator request, then a sync so the session has seen its effect. A
        refusal (place taken, unknown place) is a `Refused` carrying the coordinator's
        words."""
        import grpc

        try:
            self._run(getattr(self._session.stub, method)(request))
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                raise NoCoordinator(f"the labgrid coordinator at {self.address} went away "
                                    f"({error.details()})") from None
            raise Refused(error.details() or str(error.code())) from None
        self.sync()

    def sync(self) -> None:
        """Waits until every update the coordinator sent before now has been taken in."""
        if not self._run(self._session.sync_with_coordinator()):
            raise NoCoordinator(f"the labgrid coordinator at {self.address} went away")

    # -- what it knows -------------------------------------------------------------------
    @property
    def user(self) -> str:
        """Who acquires as this session: labgrid's `host/user` (LG_HOSTNAME, LG_USERNAME)."""
        return f"{self._session.gethostname()}/{self._session.getuser()}"

    def places(self) -> dict[str, Any]:
        """Place name -> labgrid `Place` (name, tags, matches, acquired, ...)."""
        return dict(self._session.places)

    def resources(self) -> dict[str, Any]:
        """exporter -> group -> resource name -> labgrid `ResourceEntry`."""
        return self._session.resources

    # -- changes -------------------------------------------------------------------------
    def add_place(self, name: str, tags: dict[str, str], matches: list[str]) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        if name not in self._session.places:
            self._call("AddPlace", pb2.AddPlaceRequest(name=name))
        self._call("SetPlaceTags", pb2.SetPlaceTagsRequest(placename=name, tags=tags))
        place = self._session.places[name]
        for pattern in matches:
            if not place.hasmatch(pattern.split("/")):
                self._call("AddPlaceMatch",
                           pb2.AddPlaceMatchRequest(placename=name, pattern=pattern))

    def delete_place(self, name: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        self._call("DeletePlace", pb2.DeletePlaceRequest(name=name))

    def acquire(self, name: str) -> None:
        """Acquires a place for this user; `Refused` when another client has it (the
        coordinator decides, so two runs racing for one place never both get it)."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        self._call("AcquirePlace", pb2.AcquirePlaceRequest(placename=name))

    def release(self, name: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        self._call("ReleasePlace", pb2.ReleasePlaceRequest(placename=name))


async def _make_session(client: Any, target: str) -> Any:
    return client.ClientSession(target, asyncio.get_running_loop())


class Refused(Exception):
    """The coordinator refused a request (its own words in the message)."""
