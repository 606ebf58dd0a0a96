"""`ember bench push`: ember's push against `mpremote fs cp -r` on one throttled virtual board."""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools.boards.profiles import load_profile
from host_tools.errors import EmberError
from host_tools.link import device_code
from host_tools.link.session import Link
from host_tools.mpy.compiler import INDEX_NAME, Target, build
from host_tools.push.session import plan, push
from host_tools.sim.launcher import VirtualBoard
from host_tools.sim.throttle import BITS_PER_BYTE

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
PROJECT_FILES = 33
BENCH_BOARD = "rp2-pico"


def make_project(root: Path, seed: int = 1) -> int:
    """A fixed project as ember pushes it: compiled modules (.mpy), binary assets and a
    main.py; 34 files, about 120 KB. Returns its size in bytes."""
    rng = random.Random(seed)
    words = ["sensor", "value", "read", "write", "buffer", "loop", "timer", "pin", "uart"]
    sources = root.parent / "src"
    for index in range(PROJECT_FILES):
        folder = sources / ("lib" if index % 4 else "assets")
        folder.mkdir(parents=True, exist_ok=True)
        if index % 4:
            body = "".join(
                f"def {rng.choice(words)}_{n}(x, y={n}):\n"
                f"    return [x * y + {rng.randint(0, 999)}, {rng.random()!r}, 'k{n}']\n"
                for n in range(rng.randint(40, 60))
            )
            (folder / f"mod{index}.py").write_text(body)
        else:
            (folder / f"blob{index}.bin").write_bytes(rng.randbytes(rng.randint(3000, 7000)))
    (sources / "main.py").write_text("import lib.mod1\nprint('app up')\n")
    build(
        [sources], Target.for_profile(load_profile(BENCH_BOARD)), root, as_source=False
    )
    (root / INDEX_NAME).unlink(missing_ok=True)  # the build cache is not part of the app
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _mpremote_cp(port: str, project: Path, dest: str) -> float:
    started = time.monotonic()
    result = subprocess.run([MPREMOTE, "connect", port, "fs", "cp", "-r", f"{project}/.",
                             f":{dest}"], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise EmberError(f"mpremote fs cp failed: {result.stderr.strip()[-300:]}")
    return time.monotonic() - started


def _ember_push(port: str, project: Path, dest: str) -> tuple[float, int]:
    """Seconds taken, and bytes of file data on the wire (after compression)."""
    started = time.monotonic()
    with Link(port) as link:
        result = push(link, plan([project], dest), dest=dest)
    return time.monotonic() - started, result.wire_bytes


def _verify(port: str, project: Path, dests: list[str]) -> None:
    """Both copies must hold exactly the project's bytes."""
    files = plan([project], "/")
    with Link(port) as link:
        for dest in dests:
            for local in files:
                remote = dest.rstrip("/") + local.board_path
                digest = device_code.call(link, "host/fs.py", "sha256", remote)
                if digest != local.digest:
                    raise EmberError(f"{remote} differs from {local.source} after the push")


def run_push_bench(baud: int = 115200) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="ember-bench-") as tmp:
        project = Path(tmp) / "project"
        size = make_project(project)
        with VirtualBoard(BENCH_BOARD, baud=baud) as board:
            # The receiver is cached on the board by `ember flash` (or the first push); a
            # first push including that install is timed too, into a separate folder.
            first_s, _ = _ember_push(board.port, project, "/first")
            ember_s, wire_bytes = _ember_push(board.port, project, "/e")
            mpremote_s = _mpremote_cp(board.port, project, "/m")
            nochange_ember_s, _ = _ember_push(board.port, project, "/e")
            nochange_mpremote_s = _mpremote_cp(board.port, project, "/m")
            _verify(board.port, project, ["/e", "/m"])
    link_rate = baud / BITS_PER_BYTE
    return {
        "bytes": size,
        "files": PROJECT_FILES + 1,
        "baud": baud,
        "link_bytes_per_s": link_rate,
        "ember_s": round(ember_s, 3),
        "ember_first_push_s": round(first_s, 3),
        "mpremote_s": round(mpremote_s, 3),
        # Above 1 where compression sends fewer bytes than the project holds:
        "link_utilisation": round(size / link_rate / ember_s, 3),
        "wire_bytes": wire_bytes,
        "wire_utilisation": round(wire_bytes / link_rate / ember_s, 3),
        "speedup_vs_mpremote": round(mpremote_s / ember_s, 2),
        "nochange_ember_s": round(nochange_ember_s, 3),
        "nochange_mpremote_s": round(nochange_mpremote_s, 3),
        "nochange_speedup": round(nochange_mpremote_s / nochange_ember_s, 2),
    }
