"""`ember bench firmware`: a board's firmware size and heap, ember's build against stock.

All on the profile's 32-bit virtual target (host_tools/virtual_firmware.py), one run, one
JSON object. Three builds of one MicroPython source take part:

- ember's firmware: the board's variant with the profile's cuts and ember frozen in;
- the same firmware built without ember ("bare"): a user of stock firmware puts ember in
  /lib as .mpy, and asyncio too where the firmware does not freeze it (the SAMD21's);
- the unix port's standard variant ("stock"), 32-bit, with asyncio frozen in.

Each runs with `-X heapsize=N` such that its GC heap is the profile's `heap_bytes`, and
each program it runs is a workload file of firmware/bench/first_use/ passed whole with `-c`
(ember's builds have no host filesystem). First use is the heap a program keeps after its
first use of the library (firmware/bench/first_use/*_first_use.py): frozen, its code
stays in the image; as .mpy, loaded from the board's flash, it is copied into the heap.

- ember frozen: on ember's firmware. asyncio frozen: on ember's firmware where the port
  freezes asyncio (rp2, esp32, stm32), else on the stock build (`asyncio_frozen_in`).
- Both as .mpy: on the bare firmware, from /lib on its littlefs flash, as a user of stock
  firmware installs them. Names a firmware has frozen are in ROM and cost an .mpy no heap,
  so where the port freezes asyncio its .mpy figure comes out lower than on a port without
  it (ember's shares fewer names with asyncio and gains less).

`firmware_bytes` counts MicroPython's own code and data, not the host's C library; see
FLASH_SECTIONS.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path

from host_tools.bench.heap import interpreter_target
from host_tools.boards.profiles import BoardProfile, load_profile
from host_tools.errors import CommandError, DeviceError, EmberError
from host_tools.install import micropython_source, virtual_firmware
from host_tools.install.runtime import ember_build_dir
from host_tools.install.virtual_firmware import FirmwareBuild
from host_tools.mpy import compiler
from host_tools.mpy.compiler import Target
from host_tools.paths import FIRMWARE_DIR, RUNTIME_DIR, RUNTIME_OPTIMISE
from host_tools.sim.launcher import gc_arena_bytes

DEFAULT_BOARD = "esp8266-generic"
WORKLOADS_DIR = FIRMWARE_DIR / "bench" / "first_use"
RUN_TIMEOUT_S = 20.0  # one workload: well under a second when it works
INSTALL_TIMEOUT_S = 120.0  # install_lib.py reads its input a byte at a time
STREAM_INPUT = b"x"  # the byte asyncio_first_use.py's stream reads from stdin
# What `firmware_bytes` counts: code, constants and initialised data (what a board's flash
# holds) of MicroPython's own objects, the frozen code among them, from the link map. Left
# out: the host's C library (ember's builds link it statically, the stock one dynamically),
# unwind tables, dynamic-link tables and .bss.
FLASH_SECTIONS = frozenset({".text", ".rodata", ".data", ".data.rel.ro"})
_MAP_INPUT_RE = re.compile(r"^ (\S+)?\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S.*?)\s*$")
_MAP_OUTPUT_RE = re.compile(r"^(\.\S+)")


def firmware_bytes(build: FirmwareBuild) -> int:
    """Bytes of MicroPython's own code and data in the build's image (FLASH_SECTIONS)."""
    image_dir = Path(build.image).parent
    objects = Path(build.objects) if build.objects else image_dir / "obj"
    link_map = image_dir / virtual_firmware.LINK_MAP_NAME
    try:
        lines = link_map.read_text(errors="replace").splitlines()
    except OSError as error:
        raise CommandError(f"{link_map}: no link map of the {build.target} firmware "
                           f"({error.strerror}); delete {image_dir} to rebuild it") from None
    own = str(objects) + os.sep
    total = 0
    section = ""
    in_memory_map = False
    for line in lines:
        if not in_memory_map:
            in_memory_map = line.startswith("Linker script and memory map")
            continue
        output = _MAP_OUTPUT_RE.match(line)
        if output:
            section = output.group(1)
            continue
        entry = _MAP_INPUT_RE.match(line)  # an input section: name (or wrapped), size, file
        if entry and section in FLASH_SECTIONS and entry.group(3).startswith(own):
            total += int(entry.group(2), 16)
    if total == 0:
        raise CommandError(f"{link_map}: no code of the {build.target} firmware found in it")
    return total


def _workload_code(*names: str) -> str:
    return "\n".join((WORKLOADS_DIR / f"{name}.py").read_text(encoding="utf-8")
                     for name in names)


def run_workload(image: Path, profile: BoardProfile, *names: str, stdin: bytes = b"",
                 flash: Path | None = None, timeout: float = RUN_TIMEOUT_S) -> str | None:
    """Runs the workload files `names`, one `-c` program, on the firmware with the profile's
    heap; its last line of output, or None when it ran out of heap. With `flash`, the image
    file is the board's flash (_vboard.Flash), as a virtual board's supervisor passes it."""
    argv = [str(image), "-X", f"heapsize={gc_arena_bytes(profile.heap_bytes)}",
            "-c", _workload_code(*names)]
    env = dict(os.environ, MICROPYPATH=".frozen")
    what = f"{' + '.join(names)} on the {image.parent.name} firmware"
    with ExitStack() as stack:
        fds: tuple[int, ...] = ()
        if flash is not None:
            fds = (stack.enter_context(open(flash, "r+b")).fileno(),)
            env.update(EMBER_SIM_FLASH_FD=str(fds[0]),
                       EMBER_SIM_BLOCK_SIZE=str(profile.block_size))
        try:
            out = subprocess.run(argv, input=stdin, capture_output=True, env=env,
                                 timeout=timeout, pass_fds=fds, check=False)
        except subprocess.TimeoutExpired:
            raise EmberError(f"bench firmware: {what} did not finish in {timeout:.0f} s") \
                from None
        except OSError as error:
            raise EmberError(f"bench firmware: cannot run {image} ({error.strerror})") \
                from None
    text = (out.stdout + out.stderr).decode(errors="replace")
    if any(DeviceError.from_traceback(part.decode(errors="replace")).kind == "MemoryError"
           for part in (out.stderr, out.stdout)):
        return None
    lines = out.stdout.decode(errors="replace").strip().splitlines()
    if out.returncode != 0 or not lines:
        last = text.strip().splitlines()[-1:] or [f"exit {out.returncode}, no output"]
        raise EmberError(f"bench firmware: {what} failed: {last[0]}")
    return lines[-1].strip()


def _integer(image: Path, profile: BoardProfile, *names: str, stdin: bytes = b"",
             flash: Path | None = None) -> int | None:
    out = run_workload(image, profile, *names, stdin=stdin, flash=flash)
    if out is None:
        return None
    if not out.isdigit():
        raise EmberError(f"bench firmware: {names[-1]} printed {out!r}, not a byte count")
    return int(out)


def mpy_target(image: Path) -> Target:
    """The .mpy target the firmware loads, as it reports it."""
    try:
        return interpreter_target(image)
    except (subprocess.SubprocessError, OSError, ValueError) as error:
        raise EmberError(f"bench firmware: {image} did not report its .mpy version "
                         f"({type(error).__name__})") from None


def _compiled(sources: list[Path], root: Path, target: Target, name: str,
              optimise: int = 0) -> dict[str, Path]:
    """{path under /lib: .mpy file} of the sources compiled for the target, as pushed."""
    out = ember_build_dir() / target.build_label / f"bench-first-use-{name}"
    built = compiler.build(sources, target, out, root=root, optimise=optimise)
    return {f.output.relative_to(built.out_dir).as_posix(): f.output for f in built.files}


def lib_files(source: micropython_source.Source, target: Target) -> dict[str, Path]:
    """ember (firmware/ember) and the source's asyncio (extmod/asyncio: its frozen package's
    files, and task.py, which firmware without the _asyncio C module imports) as .mpy."""
    asyncio_dir = source.root / "extmod" / "asyncio"
    asyncio = [p for p in sorted(asyncio_dir.glob("*.py"))
               if p.name not in ("manifest.py", "uasyncio.py")]
    if not asyncio:
        raise CommandError(f"{asyncio_dir}: no asyncio package in the MicroPython source")
    return {**_compiled([RUNTIME_DIR], RUNTIME_DIR.parent, target, "ember", RUNTIME_OPTIMISE),
            **_compiled(asyncio, asyncio_dir.parent, target, "asyncio")}


def install_lib(image: Path, profile: BoardProfile, files: dict[str, Path], flash: Path) -> None:
    """A fresh flash image holding `files` under /lib, written by the firmware itself."""
    with open(flash, "wb") as chip:
        chip.truncate(profile.fs_bytes)
    archive = b"".join(f"{rel} {path.stat().st_size}\n".encode() + path.read_bytes()
                       for rel, path in files.items()) + b"\n"
    out = run_workload(image, profile, "install_lib", stdin=archive, flash=flash,
                       timeout=INSTALL_TIMEOUT_S)
    if out != "ok":
        raise EmberError(f"bench firmware: install_lib did not write /lib on the "
                         f"{profile.name} flash ({'out of heap' if out is None else out!r})")


def _steps(image: Path, profile: BoardProfile, *names: str,
           flash: Path | None = None) -> dict[str, int] | None:
    """The by-module workload's {step: bytes}, or None when it ran out of heap."""
    out = run_workload(image, profile, *names, flash=flash)
    if out is None:
        return None
    try:
        steps = ast.literal_eval(out)
        return {str(name): int(size) for name, size in steps}
    except (ValueError, TypeError, SyntaxError):
        raise EmberError(f"bench firmware: {names[-1]} printed {out!r}, not its steps") \
            from None


def _ratio(part: int | None, whole: int | None) -> float | None:
    return round(part / whole, 3) if part is not None and whole else None


def ember_first_use(board: str, micropython: str | None = None) -> dict[str, int | None]:
    """The heap ember's first use keeps (a timer, a Pipe and a task) on the board's 32-bit
    virtual firmware: frozen in, and as .mpy from /lib on the same firmware without it.
    For `ember bench loop`, whose own board may be another."""
    profile = load_profile(board)
    source = micropython_source.resolve(micropython)
    ember = Path(virtual_firmware.build(profile, source).image)
    bare = Path(virtual_firmware.build(profile, source, runtime=False).image)
    result = {"first_use_bytes_frozen": _integer(ember, profile, "ember_first_use")}
    with tempfile.TemporaryDirectory(prefix="ember-bench-first-use-") as tmp:
        flash = Path(tmp) / "flash.img"
        install_lib(bare, profile, lib_files(source, mpy_target(bare)), flash)
        result["first_use_bytes_mpy"] = _integer(bare, profile, "mount_lib", "ember_first_use",
                                                 flash=flash)
    return result


def run_firmware_bench(board: str = DEFAULT_BOARD,
                       micropython: str | None = None) -> dict[str, object]:
    """The board's figures (see the module docstring); a figure whose workload ran out of
    the profile's heap is null, and `out_of_heap` names it."""
    profile = load_profile(board)
    source = micropython_source.resolve(micropython)
    ember_build = virtual_firmware.build(profile, source)
    bare_build = virtual_firmware.build(profile, source, runtime=False)
    stock_build = virtual_firmware.build_stock(source)
    ember, bare, stock = (Path(b.image) for b in (ember_build, bare_build, stock_build))

    word_bits = _integer(ember, profile, "word_bits")
    # asyncio frozen: in the board's own firmware where its port freezes it, else stock's.
    asyncio_host = ember if _integer(ember, profile, "frozen_asyncio") else stock
    heaps: dict[str, int | None] = {
        "heap_free_after_boot": _integer(ember, profile, "heap_after_boot"),
        "stock_heap_free_after_boot": _integer(stock, profile, "heap_after_boot"),
        "ember_first_use_frozen_bytes": _integer(ember, profile, "ember_first_use"),
        "asyncio_first_use_frozen_bytes": _integer(asyncio_host, profile,
                                                   "asyncio_first_use", stdin=STREAM_INPUT),
    }
    target = mpy_target(bare)
    with tempfile.TemporaryDirectory(prefix="ember-bench-firmware-") as tmp:
        flash = Path(tmp) / "flash.img"
        install_lib(bare, profile, lib_files(source, target), flash)
        heaps["ember_first_use_mpy_bytes"] = _integer(
            bare, profile, "mount_lib", "ember_first_use", flash=flash)
        heaps["asyncio_first_use_mpy_bytes"] = _integer(
            bare, profile, "mount_lib", "asyncio_first_use", flash=flash, stdin=STREAM_INPUT)
        by_module_mpy = _steps(bare, profile, "mount_lib", "ember_first_use_by_module",
                               flash=flash)
    by_module_frozen = _steps(ember, profile, "ember_first_use_by_module")

    size = firmware_bytes(ember_build)
    return {
        "board": profile.name,
        "micropython": source.version,
        "word_bits": word_bits,
        "firmware_bytes": size,
        "stock_firmware_bytes": firmware_bytes(stock_build),
        # The flash ember's frozen runtime takes: its firmware less the same one without it.
        "ember_frozen_bytes": size - firmware_bytes(bare_build),
        "heap_bytes": profile.heap_bytes,
        **heaps,
        "asyncio_frozen_in": "virtual" if asyncio_host == ember else "stock",
        "first_use_ratio_vs_asyncio_frozen": _ratio(heaps["ember_first_use_frozen_bytes"],
                                                    heaps["asyncio_first_use_frozen_bytes"]),
        "first_use_ratio_vs_asyncio_mpy": _ratio(heaps["ember_first_use_mpy_bytes"],
                                                 heaps["asyncio_first_use_mpy_bytes"]),
        # ember_first_use_*_bytes step by step: what each module and object adds.
        "ember_first_use_by_module_frozen": by_module_frozen,
        "ember_first_use_by_module_mpy": by_module_mpy,
        "out_of_heap": [key for key, value in heaps.items() if value is None],
    }
