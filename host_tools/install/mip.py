"""`ember mip install`: micropython-lib packages and package.json packages, compiled for
the board and sent with ember's push (verified, atomic), with their dependencies.

Where a package comes from is mpremote's `mip` (its names, its `github:`/`gitlab:`/
`codeberg:` URLs, package.json's `urls`, `hashes` and `deps`, the index at
micropython.org/pi/v2), but the files are fetched on the host: the index's source (`py`)
form, compiled here by the mpy-cross that matches the board's own version, so a board
needs no network and no RAM for compiling. `--index DIR` takes a local micropython-lib
checkout instead, reading each package's manifest.py; that manifest reader (metadata,
require, module, package, include) is written by hand, since MicroPython's own
tools/manifestfile.py ships in no package.
What mip installed is recorded in /.ember/mip (board paths, one a line), so `push --delete`
leaves it alone unless asked.
"""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from host_tools.board_paths import MIP_RECORD
from host_tools.errors import CommandError
from host_tools.install import runtime as deploy
from host_tools.link import device_code
from host_tools.link.interface import BoardLink, Progress
from host_tools.push.session import PushResult

INDEX = "https://micropython.org/pi/v2"
HOSTS = {  # as mpremote's mip rewrites them: org, repo, branch, path
    "github:": "https://raw.githubusercontent.com/{org}/{repo}/{branch}/{path}",
    "gitlab:": "https://gitlab.com/{org}/{repo}/-/raw/{branch}/{path}",
    "codeberg:": "https://codeberg.org/api/v1/repos/{org}/{repo}/raw/{path}?ref={branch}",
}
URL_PREFIXES = ("http://", "https://", *HOSTS)
LIB_DIRS = ("micropython", "python-stdlib", "python-ecosys")  # where require() looks
FETCH_TIMEOUT_S = 30.0


@dataclass
class Fetched:
    """What the packages bring: board path (relative to the target) -> bytes."""

    files: dict[str, bytes] = field(default_factory=dict)
    packages: list[str] = field(default_factory=list)  # in the order they were taken


Fetch = Callable[[str], bytes]


def fetch_url(url: str) -> bytes:
    """An http(s) URL's body, or a local file's; CommandError saying which failed."""
    if url.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as error:
            raise CommandError(f"{url}: {'not found' if error.code == 404 else error}"
                               ) from None
        except (urllib.error.URLError, OSError) as error:
            raise CommandError(f"{url}: {getattr(error, 'reason', error)}") from None
    try:
        return Path(url).read_bytes()
    except OSError as error:
        raise CommandError(f"{url}: {error.strerror}") from None


def rewrite_url(url: str, branch: str | None) -> str:
    """github:org/repo/path (and gitlab:, codeberg:) as the https URL of a raw file."""
    for prefix, template in HOSTS.items():
        if url.startswith(prefix):
            parts = url[len(prefix):].split("/")
            if len(parts) < 2:
                raise CommandError(f"{url}: write it as {prefix}ORG/REPO[/PATH]")
            return template.format(org=parts[0], repo=parts[1], branch=branch or "HEAD",
                                   path="/".join(parts[2:]))
    return url


class Resolver:
    """Collects the files of packages and of their dependencies, each package once."""

    def __init__(self, *, index: str = INDEX, local_index: Path | None = None,
                 fetch: Fetch = fetch_url) -> None:
        self.index = index.rstrip("/")
        self.local_index = local_index
        self.fetch = fetch
        self.out = Fetched()
        self._seen: set[str] = set()

    def add(self, spec: str) -> None:
        name, _, version = spec.partition("@")
        if name in self._seen:
            return
        self._seen.add(name)
        self.out.packages.append(name)
        if name.startswith(URL_PREFIXES) or name.endswith(".json"):
            self._from_url(name, version or None)
        elif self.local_index is not None:
            self._from_manifest(name)
        else:
            self._from_index(name, version or "latest")

    # -- package.json (a URL, github:..., or a local file) --------------------------------
    def _from_url(self, url: str, version: str | None) -> None:
        if url.endswith((".py", ".mpy")):  # a single module, as mpremote's mip allows
            self.out.files[url.rsplit("/", 1)[-1]] = self.fetch(rewrite_url(url, version))
            return
        if not url.endswith(".json"):
            url = url.rstrip("/") + "/package.json"
        self._package_json(rewrite_url(url, version), url.rpartition("/")[0], version)

    def _package_json(self, where: str, base: str, version: str | None) -> None:
        try:
            package = json.loads(self.fetch(where))
        except (ValueError, UnicodeDecodeError):
            raise CommandError(f"{where}: not a package.json (JSON)") from None
        for target, short_hash in package.get("hashes", ()):
            self.out.files[target] = self.fetch(
                f"{self.index}/file/{short_hash[:2]}/{short_hash}")
        for target, url in package.get("urls", ()):
            if base and not url.startswith(URL_PREFIXES):
                url = f"{base}/{url}"  # relative to the package.json
            self.out.files[target] = self.fetch(rewrite_url(url, version))
        for dep, dep_version in package.get("deps", ()):
            self.add(f"{dep}@{dep_version}" if dep_version else dep)

    # -- the index (micropython.org/pi/v2 or one like it) ----------------------------------
    def _from_index(self, name: str, version: str) -> None:
        # The source ("py") form: compiled here for the board's own .mpy version.
        self._package_json(f"{self.index}/package/py/{name}/{version}.json", "", None)

    # -- a local micropython-lib checkout ---------------------------------------------------
    def _from_manifest(self, name: str) -> None:
        assert self.local_index is not None
        for lib in LIB_DIRS:  # packages sit at any depth (micropython/bluetooth/aioble)
            found = sorted((self.local_index / lib).rglob(f"{name}/manifest.py"))
            if found:
                self._run_manifest(found[0])
                return
        raise CommandError(f"{name}: no such package in {self.local_index} (looked in "
                           f"{', '.join(LIB_DIRS)})")

    def _run_manifest(self, manifest: Path) -> None:
        here = manifest.parent

        def module(file: str, base_path: str = ".", opt: object = None) -> None:
            path = here / base_path / file
            self.out.files[file] = _read(path)

        def package(name: str, files: list[str] | None = None, base_path: str = ".",
                    opt: object = None) -> None:
            root = here / base_path / name
            chosen = ([root / f for f in files] if files is not None
                      else sorted(root.rglob("*.py")))
            for path in chosen:
                self.out.files[f"{name}/{path.relative_to(root).as_posix()}"] = _read(path)

        def require(name: str, unix_ffi: bool = False, pypi: object = None,
                    opt: object = None, **_: object) -> None:
            self.add(name)

        def include(path: str, **_: object) -> None:
            self._run_manifest((here / path / "manifest.py") if (here / path).is_dir()
                               else here / path)

        def metadata(**_: object) -> None:
            pass

        code = compile(manifest.read_text(encoding="utf-8"), str(manifest), "exec")
        exec(code, {"module": module, "package": package, "require": require,  # noqa: S102
                    "include": include, "metadata": metadata, "options": _Options()})


class _Options:
    def defaults(self, **_: object) -> None:
        pass

    def __getattr__(self, name: str) -> object:
        return None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CommandError(f"{path}: {error.strerror}") from None


def install(link: BoardLink, packages: list[str], *, board: str | None = None,
            target: str = "/lib", index: str = INDEX, local_index: Path | None = None,
            build_dir: Path | None = None, progress: Progress | None = None,
            fetch: Fetch = fetch_url) -> tuple[Fetched, PushResult]:
    """Installs packages (and their dependencies) into `target` on the board, compiled
    for its .mpy version; what was installed is recorded for `push --delete`."""
    resolver = Resolver(index=index, local_index=local_index, fetch=fetch)
    for spec in packages:
        resolver.add(spec)
    fetched = resolver.out
    with tempfile.TemporaryDirectory(prefix="ember-mip-") as staging:
        root = (Path(staging) / "packages").resolve()
        for relative, data in fetched.files.items():
            path = (root / relative).resolve()
            if relative.startswith("/") or not path.is_relative_to(root):
                # a package's file name comes from its package.json: it names a file under
                # the target, never one elsewhere (on the host first of all)
                raise CommandError(f"{relative}: a package file outside its target folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        _, result = deploy.push_project(link, [root], board=board, dest=target,
                                        progress=progress, build_dir=build_dir)
    device_code.call(link, "host/fs.py", "add_lines", MIP_RECORD,
                     sorted(result.sent + result.unchanged))
    return fetched, result
