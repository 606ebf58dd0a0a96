"""Tests of board profiles: shipped profiles, validation messages, USB matching, detection."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import serial.tools.list_ports
from serial.tools.list_ports_common import ListPortInfo

from host_tools.boards import profiles as boards
from host_tools.boards.profiles import (
    BoardProfile,
    BoardProfileError,
    DetectedPort,
    UnknownBoardError,
    UsbId,
    all_profiles,
    boards_dir,
    detect_ports,
    load_profile,
    match_usb,
)

SHIPPED = (
    "esp32-generic",
    "esp8266-generic",
    "rp2-pico",
    "rp2-pico-w",
    "samd21-generic",
    "stm32-pybv11",
)
# Profiles of virtual boards only (no USB, no real board carries their firmware).
VIRTUAL_ONLY = ("qemu-mps2-an385",)
REPO_BOARDS = Path(__file__).resolve().parents[2] / "boards"

VALID: dict[str, Any] = {
    "name": "demo",
    "description": "A board for tests",
    "port": "rp2",
    "mpy_arch": "armv6m",
    "heap_bytes": 192064,
    "fs_bytes": 1441792,
    "block_size": 4096,
    "link": {"kind": "usb-cdc", "baud": 115200, "usb_ids": ["2E8A:0005"]},
    "flash": {"flasher": "uf2", "chip": "rp2040"},
    "hil": {"uart": 1, "tx_pin": 4, "rx_pin": 5},
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _toml(data: dict[str, Any]) -> str:
    """Enough of a TOML writer for profiles: scalars, lists, and one level of tables."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, table in data.items():
        if isinstance(table, dict):
            lines.append(f"\n[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


@pytest.fixture
def board_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(boards.BOARDS_DIR_ENV, str(tmp_path))
    return tmp_path


def _write(directory: Path, data: dict[str, Any], stem: str | None = None) -> Path:
    path = directory / f"{stem or data['name']}.toml"
    path.write_text(_toml(data))
    return path


# --- shipped profiles -----------------------------------------------------------------------


def test_boards_dir_defaults_to_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(boards.BOARDS_DIR_ENV, raising=False)
    assert boards_dir() == REPO_BOARDS


def test_boards_dir_override(board_dir: Path) -> None:
    assert boards_dir() == board_dir


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_loads(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(boards.BOARDS_DIR_ENV, raising=False)
    profile = load_profile(name)
    assert profile.name == name
    assert profile.path == REPO_BOARDS / f"{name}.toml"
    assert profile.fs_blocks * profile.block_size == profile.fs_bytes
    assert profile.link.usb_ids, "every shipped board is reachable over USB"
    if profile.link.kind == "uart":
        assert profile.link.baud == 115200


def test_all_profiles_is_exactly_the_shipped_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(boards.BOARDS_DIR_ENV, raising=False)
    assert [p.name for p in all_profiles()] == sorted(SHIPPED + VIRTUAL_ONLY)


def test_the_qemu_profile_is_the_bare_metal_virtual_board(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.delenv(boards.BOARDS_DIR_ENV, raising=False)
    profile = load_profile("qemu-mps2-an385")
    assert (profile.port, profile.mpy_arch, profile.link.kind) == ("qemu", "armv7m", "uart")
    assert profile.link.baud == 115200 and profile.link.usb_ids == ()
    assert profile.flash.flasher == "qemu"
    assert profile.fs_blocks * profile.block_size == profile.fs_bytes


def test_shipped_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(boards.BOARDS_DIR_ENV, raising=False)
    by_name = {p.name: p for p in all_profiles()}
    assert by_name["esp8266-generic"].mpy_arch == "xtensa"
    assert by_name["esp32-generic"].mpy_arch == "xtensawin"
    assert by_name["stm32-pybv11"].mpy_arch == "armv7emsp"
    assert {by_name[n].mpy_arch for n in ("rp2-pico", "rp2-pico-w", "samd21-generic")} == {
        "armv6m"
    }
    assert by_name["rp2-pico"].fs_bytes == 1408 * 1024
    assert by_name["rp2-pico-w"].fs_bytes == 848 * 1024
    assert by_name["esp32-generic"].fs_bytes == 2 * 1024 * 1024
    assert by_name["esp8266-generic"].heap_bytes == 37952
    assert by_name["esp8266-generic"].link.kind == "uart"
    assert by_name["esp32-generic"].flash.chip == "esp32"
    assert by_name["samd21-generic"].heap_bytes < 32 * 1024


def test_load_by_path(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID)
    profile = load_profile(path)
    assert profile.name == "demo"
    assert profile.link.usb_ids == (UsbId(0x2E8A, 0x0005),)
    assert str(profile.link.usb_ids[0]) == "2E8A:0005"
    assert load_profile(str(path)) == profile


def test_profiles_are_frozen_plain_data(board_dir: Path) -> None:
    _write(board_dir, VALID)
    profile = load_profile("demo")
    with pytest.raises(AttributeError):
        profile.heap_bytes = 1  # type: ignore[misc]
    assert isinstance(profile, BoardProfile)
    assert hash(profile) == hash(load_profile("demo"))


def test_unknown_name_lists_known_boards(board_dir: Path) -> None:
    _write(board_dir, VALID)
    _write(board_dir, {**VALID, "name": "other"})
    with pytest.raises(UnknownBoardError) as info:
        load_profile("demi")
    message = str(info.value)
    assert "unknown board 'demi'" in message
    assert "did you mean 'demo'?" in message
    assert "demo, other" in message
    assert isinstance(info.value, ValueError)


def test_missing_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(BoardProfileError, match="nope.toml: no such board profile"):
        load_profile(tmp_path / "nope.toml")


# --- validation -------------------------------------------------------------------------------


def _mutate(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    target = data
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


class _Deleted:
    """Marks a key to remove; its repr keeps test ids stable across pytest-xdist workers."""

    def __repr__(self) -> str:
        return "<deleted>"


_DELETE = _Deleted()

INVALID = [
    # (what to change, new value, key named in the message, words in the message)
    (("heap_bytes",), "abc", "heap_bytes", "must be a positive integer, got 'abc'"),
    (("heap_bytes",), 0, "heap_bytes", "must be a positive integer, got 0"),
    (("fs_bytes",), -4096, "fs_bytes", "must be a positive integer"),
    (("block_size",), True, "block_size", "must be a positive integer, got True"),
    (("heap_bytes",), 1.5, "heap_bytes", "must be a positive integer"),
    (("fs_bytes",), 4096 * 3 + 1, "fs_bytes", "whole number of 4096-byte blocks"),
    (("fs_bytes",), 4096, "fs_bytes", "at least 2 blocks"),
    (("name",), "Demo", "name", "lower-case"),
    (("description",), "", "description", "non-empty string"),
    (("port",), 7, "port", "must be a non-empty string"),
    (("port",), "RP 2", "port", "MicroPython port name"),
    (("mpy_arch",), "armv8", "mpy_arch", "must be one of"),
    (("heap",), 1, "heap", "is not a known key (did you mean 'heap_bytes'?)"),
    (("heap_bytes",), _DELETE, "heap_bytes", "is missing"),
    (("link",), _DELETE, "link", "is missing"),
    (("link",), "usb-cdc", "link", "must be a table"),
    (("link", "kind"), "usb", "link.kind", "must be one of usb-cdc, uart; got 'usb'"),
    (("link", "baud"), "fast", "link.baud", "must be a positive integer"),
    (("link", "speed"), 9600, "link.speed", "is not a known key"),
    (("link", "bauds"), 9600, "link.bauds", "(did you mean 'link.baud'?)"),
    (("link", "usb_ids"), "2E8A:0005", "link.usb_ids", "must be a list"),
    (("link", "usb_ids"), ["2e8a:0005"], "link.usb_ids[0]", "upper-case hex VID:PID"),
    (("link", "usb_ids"), ["2E8A-0005"], "link.usb_ids[0]", "upper-case hex VID:PID"),
    (("link", "usb_ids"), ["2E8A:0005", "12345:1"], "link.usb_ids[1]", "upper-case hex"),
    (("link", "usb_ids"), [0x2E8A], "link.usb_ids[0]", "must be a string"),
    (("link", "usb_ids"), ["2E8A:0005", "2E8A:0005"], "link.usb_ids[1]", "repeats"),
    (("link", "usb_ids"), _DELETE, "link.usb_ids", "is missing"),
    (("flash", "flasher"), "openocd", "flash.flasher", "esptool, uf2, dfu-util, bossac"),
    (("flash", "chip"), _DELETE, "flash.chip", "is missing"),
    (("hil", "uart"), -1, "hil.uart", "non-negative integer"),
    (("hil", "tx_pin"), "GP4", "hil.tx_pin", "non-negative integer, got 'GP4'"),
    (("hil", "rx_pin"), 4, "hil.rx_pin", "must differ from hil.tx_pin"),
    (("hil", "cts_pin"), 6, "hil.cts_pin", "is not a known key"),
]


@pytest.mark.parametrize(
    ("path", "value", "key", "words"),
    INVALID,
    ids=[f"{'.'.join(case[0])}={case[1]!r}" for case in INVALID],
)
def test_validation_error_names_file_and_key(
    board_dir: Path, path: tuple[str, ...], value: Any, key: str, words: str
) -> None:
    _write(board_dir, _mutate(path, value), stem="demo")
    with pytest.raises(BoardProfileError) as info:
        load_profile("demo")
    message = str(info.value)
    assert "demo.toml: " in message
    assert f"key {key!r} " in message
    assert words in message
    assert info.value.key == key
    assert info.value.path == board_dir / "demo.toml"


def test_error_message_format_matches_the_contract(
    board_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run from the boards directory's parent, as a user in the repository would.
    directory = board_dir / "boards"
    directory.mkdir()
    monkeypatch.setenv(boards.BOARDS_DIR_ENV, str(directory))
    monkeypatch.chdir(board_dir)
    _write(directory, {**VALID, "name": "x", "heap_bytes": "abc"})
    with pytest.raises(BoardProfileError) as info:
        load_profile("x")
    assert str(info.value) == (
        "boards/x.toml: key 'heap_bytes' must be a positive integer, got 'abc'"
    )


def test_name_must_equal_file_stem(board_dir: Path) -> None:
    _write(board_dir, VALID, stem="renamed")
    with pytest.raises(BoardProfileError) as info:
        load_profile("renamed")
    assert "renamed.toml: key 'name' must equal the file name 'renamed', got 'demo'" in str(
        info.value
    )


def test_invalid_toml_names_the_file(board_dir: Path) -> None:
    (board_dir / "demo.toml").write_text('name = "demo"\nheap_bytes = = 3\n')
    with pytest.raises(BoardProfileError, match=r"demo\.toml: not valid TOML: .*line 2"):
        load_profile("demo")


def test_all_profiles_stops_at_an_invalid_file(board_dir: Path) -> None:
    _write(board_dir, VALID)
    _write(board_dir, {**VALID, "name": "zz", "block_size": 0})
    with pytest.raises(BoardProfileError, match=r"zz\.toml: key 'block_size'"):
        all_profiles()


def test_all_profiles_ignores_other_files(board_dir: Path) -> None:
    _write(board_dir, VALID)
    (board_dir / "virtual").mkdir()
    (board_dir / "notes.md").write_text("not a profile")
    assert [p.name for p in all_profiles()] == ["demo"]


# --- USB matching ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vid", "pid", "expected"),
    [
        (0x2E8A, 0x0005, ["rp2-pico", "rp2-pico-w"]),
        (0x10C4, 0xEA60, ["esp32-generic", "esp8266-generic"]),
        (0x1A86, 0x7523, ["esp32-generic", "esp8266-generic"]),
        (0x0403, 0x6001, ["esp32-generic", "esp8266-generic"]),
        (0x1A86, 0x55D4, ["esp32-generic"]),
        (0xF055, 0x9800, ["stm32-pybv11"]),
        (0xF055, 0x9802, ["samd21-generic", "stm32-pybv11"]),
        (0x239A, 0x000F, ["samd21-generic"]),
        (0x1234, 0x5678, []),
    ],
)
def test_match_usb(
    vid: int, pid: int, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(boards.BOARDS_DIR_ENV, raising=False)
    assert [p.name for p in match_usb(vid, pid)] == expected


def test_match_usb_with_given_profiles(board_dir: Path) -> None:
    _write(board_dir, VALID)
    demo = load_profile("demo")
    assert match_usb(0x2E8A, 0x0005, [demo]) == [demo]
    assert match_usb(0x2E8A, 0x0003, [demo]) == []


# --- port detection -------------------------------------------------------------------------


def _port(
    device: str,
    vid: int | None = None,
    pid: int | None = None,
    serial_number: str | None = None,
    description: str = "n/a",
) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid = vid
    info.pid = pid
    info.serial_number = serial_number
    info.description = description
    info.location = "1-1:1.0" if vid is not None else None
    return info


def test_detect_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(boards.BOARDS_DIR_ENV, raising=False)
    fake = [
        _port("/dev/ttyUSB0", 0x10C4, 0xEA60, "0001", "CP2102 USB to UART Bridge Controller"),
        _port("/dev/ttyACM0", 0x2E8A, 0x0005, "E66038B7133A6A2D", "Board in FS mode"),
        _port("/dev/ttyS0"),  # a built-in UART: no USB ids, left out
        _port("/dev/ttyACM1", 0x1234, 0x5678, None, "Some other gadget"),
    ]
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda *a, **k: fake)
    found = detect_ports()
    assert [p.device for p in found] == ["/dev/ttyACM0", "/dev/ttyACM1", "/dev/ttyUSB0"]
    pico, other, esp = found
    assert pico == DetectedPort(
        device="/dev/ttyACM0",
        description="Board in FS mode",
        serial_number="E66038B7133A6A2D",
        vid=0x2E8A,
        pid=0x0005,
        location="1-1:1.0",
        boards=("rp2-pico", "rp2-pico-w"),
    )
    assert str(pico.usb_id) == "2E8A:0005"
    assert other.boards == () and other.serial_number is None
    assert esp.boards == ("esp32-generic", "esp8266-generic")
    assert esp.description == "CP2102 USB to UART Bridge Controller"


def test_detect_ports_none_connected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda *a, **k: [])
    assert detect_ports([]) == []


def test_detect_ports_uses_given_profiles(
    board_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(board_dir, VALID)
    fake = [_port("/dev/ttyACM0", 0x2E8A, 0x0005)]
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda *a, **k: fake)
    assert detect_ports()[0].boards == ("demo",)
    assert detect_ports([])[0].boards == ()
