"""Typed errors of the farm: each says in one line what is missing and how to get it."""

from __future__ import annotations

from host_tools.errors import EmberError


class FarmError(EmberError):
    """Something about the farm (labgrid, ser2net, a place, the local farm) is not as asked."""


class LabgridMissing(FarmError):
    """labgrid (the optional `farm` extra) is not installed in this Python."""


class NoCoordinator(FarmError):
    """No labgrid coordinator answered at the address."""


class NoPlace(FarmError):
    """No place on the coordinator matches the pattern (or none has a serial port)."""


class PlacesBusy(FarmError):
    """Places match, but fewer of them are free than the run needs."""


class PlaceLost(FarmError):
    """A place this run holds lost its serial port: its exporter (or the coordinator) is gone."""


class Ser2netMissing(FarmError):
    """The ser2net program (Debian package ser2net) is not installed."""


LABGRID_HINT = "pip install 'ember[farm]' (labgrid)"
