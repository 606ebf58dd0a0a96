"""Native modules: C built into a `.mpy` for one architecture, the way MicroPython does it.

A native module's folder holds its C files and a Makefile that includes MicroPython's
`py/dynruntime.mk` (examples/native_stream is one). MicroPython's natmod build compiles the
C for the architecture (ARCH) and links it with `tools/mpy_ld.py` (which needs pyelftools)
into one `.mpy` whose header names that architecture and the source's `.mpy` version. This
module only runs that build, out of the tree: the folder is copied into ember's build
folder and made there, keyed by the source, the architecture and the folder's files, so a
user's folder and MicroPython's source are never written to.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

from host_tools.errors import CommandError
from host_tools.install import virtual_firmware
from host_tools.install.micropython_source import Source

# The compiler each architecture's natmod build calls (py/dynruntime.mk's CROSS + gcc).
ARCH_COMPILERS: dict[str, str] = {
    "x86": "gcc",
    "x64": "gcc",
    "armv6m": "arm-none-eabi-gcc",
    "armv7m": "arm-none-eabi-gcc",
    "armv7emsp": "arm-none-eabi-gcc",
    "armv7emdp": "arm-none-eabi-gcc",
    "xtensa": "xtensa-lx106-elf-gcc",
    "xtensawin": "xtensa-esp32-elf-gcc",
    "rv32imc": "riscv64-unknown-elf-gcc",
}
# Boards that report an architecture dynruntime.mk has no build for run an older one's
# code (MicroPython's loader takes older Thumb variants): the qemu port's Cortex-M3 build
# says armv7em.
BUILD_ARCH: dict[str, str] = {"armv7em": "armv7m"}
_MOD_RE = re.compile(r"^\s*MOD\s*[:?]?=\s*(\S+)", re.MULTILINE)


class NativeBuildError(CommandError):
    """A native module could not be built (no compiler, no pyelftools, a C error)."""


def is_native_module(folder: Path) -> bool:
    """A folder is a native module when its Makefile includes MicroPython's dynruntime.mk."""
    makefile = folder / "Makefile"
    try:
        return folder.is_dir() and "dynruntime.mk" in makefile.read_text(errors="replace")
    except OSError:
        return False


def module_name(folder: Path) -> str:
    """The module's name: its Makefile's MOD (what `import` takes)."""
    found = _MOD_RE.search((folder / "Makefile").read_text(errors="replace"))
    if found is None:
        raise NativeBuildError(f"{folder}/Makefile: no `MOD = name` line")
    return found.group(1)


def check_toolchain(arch: str) -> None:
    """The architecture's compiler and pyelftools must be at hand."""
    compiler = ARCH_COMPILERS.get(arch)
    if compiler is None:
        known = ", ".join(ARCH_COMPILERS)
        raise NativeBuildError(f"native modules cannot be built for {arch!r}; known: {known}")
    if shutil.which(compiler) is None:
        raise NativeBuildError(f"building a native module for {arch} needs {compiler}, "
                               "which is not on PATH")
    if importlib.util.find_spec("elftools") is None:
        raise NativeBuildError("building a native module needs pyelftools "
                               "(pip install pyelftools) for MicroPython's mpy_ld.py")


def folder_digest(folder: Path) -> str:
    """What the module's build depends on in its folder: every file's path and bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".mpy"
                       and "build" not in p.relative_to(folder).parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build(folder: Path, arch: str, source: Source, jobs: int | None = None) -> Path:
    """The native module in `folder` built for `arch` against `source`: its .mpy, made now or
    taken from the cache."""
    folder = folder.resolve()
    arch = BUILD_ARCH.get(arch, arch)
    name = module_name(folder)
    key = hashlib.sha256(f"{source.identity}\0{arch}\0{folder_digest(folder)}".encode())
    out = virtual_firmware.build_root() / f"natmod-{name}-{arch}-{key.hexdigest()[:16]}"
    result = out / f"{name}.mpy"
    with virtual_firmware.locked(out.with_suffix(".lock")):
        if result.is_file():
            return result
        check_toolchain(arch)
        work = out / "src"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(folder, work, ignore=shutil.ignore_patterns("build", "*.mpy"))
        # The venv's python runs mpy_ld.py (pyelftools is installed there, not system-wide).
        bin_dir = str(Path(sys.executable).parent)
        env_path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        jobs = jobs or os.cpu_count() or 1
        virtual_firmware.run_make(
            ["env", f"PATH={env_path}", "make", "-C", str(work), f"-j{jobs}",
             f"MPY_DIR={source.root}", f"ARCH={arch}", f"PYTHON={sys.executable}"],
            out / "build.log", f"building native module {name} for {arch}")
        built = work / f"{name}.mpy"
        if not built.is_file():
            raise NativeBuildError(f"building native module {name} for {arch} left no "
                                   f"{name}.mpy (log {out / 'build.log'})")
        partial = result.with_suffix(".partial")
        shutil.copy2(built, partial)
        partial.replace(result)
        return result
