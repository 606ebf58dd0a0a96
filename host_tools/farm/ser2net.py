"""ser2net serving serial ports as RFC 2217 on TCP: finding the program, writing its
YAML configuration (ser2net 4's format)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from host_tools.farm.errors import Ser2netMissing

DEB_PACKAGE = "ser2net"


def find() -> str:
    """The ser2net program; Ser2netMissing naming the Debian package otherwise."""
    found = shutil.which("ser2net") or next(
        (path for path in ("/usr/sbin/ser2net", "/usr/local/sbin/ser2net")
         if os.access(path, os.X_OK)), None)
    if found is None:
        raise Ser2netMissing(f"ser2net is not installed: sudo apt-get install {DEB_PACKAGE} "
                             "(it serves the boards' ports as RFC 2217)")
    return found


def config(ports: list[tuple[str, str, int, int]]) -> str:
    """A ser2net.yaml serving each (name, device, tcp port, baud) as RFC 2217 on loopback.

    `telnet(rfc2217)`: the client sets the line (baud, ...) over the connection;
    `nouucplock`: no lock file in /var/lock (a pty is ours alone); `local`: modem lines
    ignored; one client per port at a time (`max-connections: 1`), as a board's USB port."""
    lines = ["%YAML 1.1", "---"]
    for name, device, tcp_port, baud in ports:
        lines += [
            f"connection: &{name}",
            f"  accepter: telnet(rfc2217,mode=server),tcp,127.0.0.1,{tcp_port}",
            f"  connector: serialdev(nouucplock=true),{device},{baud}n81,local",
            "  options:",
            "    max-connections: 1",
            "",
        ]
    return "\n".join(lines)


def command(binary: str, config_path: Path, pid_path: Path) -> list[str]:
    """ser2net in the foreground (`-n`, so its parent can stop it), on that config only."""
    return [binary, "-n", "-c", str(config_path), "-P", str(pid_path)]
