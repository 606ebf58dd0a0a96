"""Which port a command talks to: --port, else $EMBER_PORT, else the single board found."""

from __future__ import annotations

from host_tools.boards import profiles as boards
from host_tools.errors import CommandError, LinkError
from host_tools.link import device_code
from host_tools.link.interface import BoardLink
from host_tools.sim import registry


def candidates() -> list[tuple[str, str]]:
    """(port, what it is) for every connected board and running virtual board."""
    found = [
        (port.device, ", ".join(port.boards) or f"unknown USB serial ({port.description})")
        for port in boards.detect_ports()
    ]
    found += [(sim.port, f"virtual {sim.board}") for sim in registry.running()]
    return found


def resolve_port(explicit: str | None) -> str:
    """The port to use; with none given, exactly one board must be present."""
    if explicit:
        return explicit
    found = candidates()
    if len(found) == 1:
        return found[0][0]
    if not found:
        raise LinkError(
            "no board found: plug one in, start one with `ember sim start --board NAME`, "
            "or give --port"
        )
    listing = "; ".join(f"{port} ({what})" for port, what in found)
    raise LinkError(f"{len(found)} boards found, choose one with --port: {listing}")


def profile_for_port(port: str) -> str | None:
    """The board profile a port is known to be (virtual boards and matched USB ids)."""
    sim = registry.find(port) if "://" not in port else None
    if sim is not None:
        return sim.board
    for detected in boards.detect_ports():
        if detected.device == port and len(detected.boards) == 1:
            return detected.boards[0]
    return None


def check_profile(link: BoardLink, board: str) -> None:
    """Refuses a --board profile that is not the board on the port (a wrong .mpy arch or
    heap budget would follow from it)."""
    profile = boards.load_profile(board)
    sim = registry.find(link.port) if "://" not in link.port else None
    if sim is not None:
        if sim.board != profile.name:
            raise CommandError(
                f"{link.port} is a virtual {sim.board}, not {profile.name}: "
                f"drop --board or use --board {sim.board}"
            )
        return
    platform = device_code.call(link, "host/probe.py", "sys_platform")
    expected = boards.sys_platform(profile)
    if platform != expected:
        raise CommandError(
            f"the board on {link.port} reports sys.platform {platform!r}, but {profile.name} "
            f"is a {expected!r} board: check --board"
        )
