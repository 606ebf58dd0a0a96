"""Runs a virtual board's firmware in a folder of its own, in an empty root where allowed.

The firmware is built without a host filesystem (no VfsPosix), so no call inside it names a
host path. This is the second wall: the interpreter starts in its state's `root` folder,
which holds only its firmware image, and where the machine allows it (root, or an
unprivileged user namespace) that folder becomes its whole filesystem with chroot. Written
by hand: subprocess runs `confine` between fork and exec.

The walls are Linux's (prctl, user namespaces, /proc/self/uid_map), as is the firmware, a
static 32-bit x86 Linux program: `RUNS_FIRMWARE` says whether this system can run it, and
the launcher falls back to the PyPI interpreter, and says why, where it cannot. On another
system `confine` would still start a session and enter the root folder, without the rest.
"""

from __future__ import annotations

import ctypes
import os
import platform
import signal
import sys
from pathlib import Path

FIRMWARE_NAME = "firmware"  # the board's firmware image inside its root folder
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
LINUX = sys.platform.startswith("linux")
# A 32-bit x86 ELF program runs on Linux on x86 (an x86-64 kernel runs it natively).
RUNS_FIRMWARE = LINUX and platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def root_dir(state_dir: Path) -> Path:
    return state_dir / "root"


def firmware_path(state_dir: Path) -> Path:
    return root_dir(state_dir) / FIRMWARE_NAME


def _unshare_as_root() -> None:
    """A user and mount namespace in which this process is root (so it may chroot)."""
    uid, gid = os.getuid(), os.getgid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                       ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def confine_process() -> None:
    """Between fork and exec: a new session; on Linux the program dies with its supervisor
    (even a SIGKILLed one) and can never gain privileges by exec. (QEMU, a dynamically
    linked program, gets this much: its guest has no call that reaches a host file.)"""
    os.setsid()
    if not LINUX:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def confine(root: str) -> None:
    """Between fork and exec: confine_process, then the root folder as cwd (and as / if we
    may). The command is run as ./firmware, which names the image either way."""
    confine_process()
    if not LINUX:
        os.chdir(root)
        return
    try:
        if os.geteuid() != 0:
            _unshare_as_root()
        os.chroot(root)
        os.chdir("/")
    except OSError:
        os.chdir(root)
