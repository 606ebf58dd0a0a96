"""`ember mip install` from micropython-lib (the checkout inside MicroPython's source), from
an index served over http, and from a package.json; compiled for the board, sent with
push, followed by dependencies, and spared by push --delete."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.files.board_files import BoardFiles
from host_tools.install import micropython_source
from host_tools.link.session import Link
from host_tools.sim.launcher import VirtualBoard
from tests.hil.test_cli import ember, one_line_error


@pytest.fixture(scope="module")
def micropython_lib() -> Path:
    try:
        source = micropython_source.resolve(None)
    except Exception as error:  # noqa: BLE001 - said in the skip
        pytest.skip(f"no MicroPython source: {error}")
    return source.root / "lib" / "micropython-lib"


def test_a_package_and_its_dependencies_from_a_local_micropython_lib(
    sim: VirtualBoard, micropython_lib: Path, tmp_path: Path,
) -> None:
    port = ["--port", sim.port]
    # collections-defaultdict requires collections: both come, compiled for the board
    ember(*port, "mip", "install", "collections-defaultdict", "datetime",
          "--index", str(micropython_lib))
    with Link(sim.port) as link:
        names = {e.name for e in BoardFiles(link).tree("/lib")}
    assert {"datetime.mpy", "collections/__init__.mpy", "collections/defaultdict.mpy"} <= names
    out = ember(*port, "exec", "import datetime\nfrom collections import defaultdict\n"
                "d = defaultdict(int); d['x'] += 2\n"
                "print(datetime.date(2026, 12, 3).isoformat(), d['x'])").stdout
    assert out.strip() == "2026-12-03 2"
    # a project pushed with --delete leaves the libraries alone
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text("print('app')\n")
    result = json.loads(ember(*port, "push", str(app), "--source", "--delete",
                              "--json").stdout)
    assert not any(p.startswith("/lib/") for p in result["deleted_paths"])
    assert "/lib/datetime.mpy" in result["kept_paths"]
    with_libs = json.loads(ember(*port, "push", str(app), "--source", "--delete",
                                 "--delete-libs", "--dry-run", "--json").stdout)
    assert "/lib/datetime.mpy" in with_libs["deleted_paths"]  # when asked


def test_a_nested_package_is_found_as_mpremote_finds_it(micropython_lib: Path) -> None:
    from host_tools.install.mip import Resolver

    resolver = Resolver(local_index=micropython_lib)
    resolver.add("aioble")  # micropython/bluetooth/aioble
    assert any(name.startswith("aioble/") for name in resolver.out.files)


def test_an_unknown_package_is_a_one_line_error(sim: VirtualBoard,
                                                micropython_lib: Path) -> None:
    error = one_line_error(ember("--port", sim.port, "mip", "install", "no-such-pkg",
                                 "--index", str(micropython_lib), check=False))
    assert "no-such-pkg: no such package" in error


@pytest.fixture
def index_server(tmp_path: Path) -> Iterator[str]:
    """A package index like micropython.org/pi/v2 for one package, over http://."""
    root = tmp_path / "index"
    source = b"def hello():\n    return 'hi from the index'\n"
    short = hashlib.sha256(source).hexdigest()[:8]
    (root / "file" / short[:2]).mkdir(parents=True)
    (root / "file" / short[:2] / short).write_bytes(source)
    (root / "package" / "py" / "greet").mkdir(parents=True)
    (root / "package" / "py" / "greet" / "latest.json").write_text(json.dumps(
        {"hashes": [["greet.py", short]], "deps": [], "version": "1.0"}))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_package_from_an_index_over_http_and_a_package_json(
    sim: VirtualBoard, index_server: str, tmp_path: Path,
) -> None:
    port = ["--port", sim.port]
    ember(*port, "mip", "install", "greet", "--index", index_server)
    assert ember(*port, "exec", "import greet; print(greet.hello())").stdout.strip() == \
        "hi from the index"
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "util.py").write_text("X = 7\n")
    (pkg / "package.json").write_text(json.dumps(
        {"urls": [["mypkg/util.py", "util.py"]], "deps": [["greet", "latest"]]}))
    ember(*port, "mip", "install", str(pkg / "package.json"), "--target", "/lib2",
          "--index", index_server)
    assert ember(*port, "exec", "import sys; sys.path.append('/lib2')\n"
                 "from mypkg import util; print(util.X)").stdout.strip() == "7"
