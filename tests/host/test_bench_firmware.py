"""`ember bench firmware --json`: a board's firmware size and heap, ember's build and stock.

The bench builds three 32-bit unix-port firmwares from MICROPY_DIR (cached under the build
folder: ember's, the same without ember, and the standard variant) and runs its workloads
(firmware/bench/first_use/) on them; the first run builds what `make virtual-firmware` has
not, about 20 s a build.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.bench import firmware
from host_tools.errors import CommandError
from host_tools.install.virtual_firmware import FirmwareBuild

ROOT = Path(__file__).resolve().parents[2]
BENCH_TIMEOUT_S = 600  # three builds of 20-40 s each when nothing is cached, then ~1 s
needs_source = pytest.mark.skipif(
    not os.environ.get("MICROPY_DIR"),
    reason="MICROPY_DIR is unset: the bench builds firmware from a MicroPython source "
           "(e.g. ../shared/micropython/micropython-1.28.0.tar.gz)")
HEAP_KEYS = ("heap_free_after_boot", "stock_heap_free_after_boot",
             "ember_first_use_frozen_bytes", "ember_first_use_mpy_bytes",
             "asyncio_first_use_frozen_bytes", "asyncio_first_use_mpy_bytes")


def bench(board: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "host_tools", "bench", "firmware", "--json",
                          "--board", board], capture_output=True, text=True,
                         timeout=BENCH_TIMEOUT_S, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout  # one JSON object, nothing else on stdout
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    return result


@needs_source
@pytest.mark.parametrize(("board", "heap_bytes"), [("esp8266-generic", 37952),
                                                   ("samd21-generic", 20480)])
def test_bench_firmware_json(board: str, heap_bytes: int) -> None:
    result = bench(board)
    assert result["board"] == board
    assert result["micropython"] == "1.28.0"
    assert result["word_bits"] == 32  # the 32-bit virtual target, as on the board
    assert result["heap_bytes"] == heap_bytes
    assert result["out_of_heap"] == []  # every workload fits the board's heap
    heaps = {key: result[key] for key in HEAP_KEYS}
    assert all(isinstance(v, int) and 0 < v <= heap_bytes for v in heaps.values()), heaps
    # Frozen, ember's runtime costs no heap until imported: the interpreter's own start
    # takes about the same on ember's firmware as on stock.
    assert result["heap_free_after_boot"] > heap_bytes - 2048
    assert result["stock_heap_free_after_boot"] > heap_bytes - 2048
    # As .mpy, the code is copied into the heap; frozen, it stays in the image.
    assert heaps["ember_first_use_frozen_bytes"] < heaps["ember_first_use_mpy_bytes"]
    assert heaps["asyncio_first_use_frozen_bytes"] < heaps["asyncio_first_use_mpy_bytes"]
    assert result["first_use_ratio_vs_asyncio_frozen"] == round(
        heaps["ember_first_use_frozen_bytes"] / heaps["asyncio_first_use_frozen_bytes"], 3)
    assert result["first_use_ratio_vs_asyncio_mpy"] == round(
        heaps["ember_first_use_mpy_bytes"] / heaps["asyncio_first_use_mpy_bytes"], 3)
    assert result["asyncio_frozen_in"] in ("virtual", "stock")
    # Step by step, the same first use: the steps add up to about the whole (the whole runs
    # as one program, the steps with their own bookkeeping: a list of figures).
    for kind in ("frozen", "mpy"):
        steps = result[f"ember_first_use_by_module_{kind}"]
        assert list(steps)[:3] == ["import", "core", "stream + a Pipe"], steps
        assert all(isinstance(v, int) and v >= 0 for v in steps.values()), steps
        whole = heaps[f"ember_first_use_{kind}_bytes"]
        assert abs(sum(steps.values()) - whole) <= whole // 4, (steps, whole)
    # Firmware: MicroPython's own code and data, a few hundred KB; ember's share a few KB.
    sizes = result["firmware_bytes"], result["stock_firmware_bytes"], result["ember_frozen_bytes"]
    assert all(isinstance(v, int) for v in sizes), sizes
    assert 100_000 < result["firmware_bytes"] < 1_000_000
    assert 100_000 < result["stock_firmware_bytes"] < 1_000_000
    assert 2_000 < result["ember_frozen_bytes"] < 32_000


MAP = """\
Discarded input sections

 .text.unused   0x00000000       0x40 {obj}/py/gc.o

Linker script and memory map

.text           0x08049000     0x1000
 .text          0x08049000       0x2c /usr/lib32/crt1.o
 .text.gc_alloc
                0x0804902c      0x100 {obj}/py/gc.o
                0x0804902c                gc_alloc
 *fill*         0x0804912c        0x4
 .text          0x08049130      0x200 /usr/lib32/libc.a(printf.o)
.rodata         0x0804a000      0x100
 .rodata.str1.1 0x0804a000       0x30 {obj}/frozen_content.o
.eh_frame       0x0804b000      0x100
 .eh_frame      0x0804b000       0x80 {obj}/py/gc.o
.data.rel.ro    0x0804c000       0x20
 .data.rel.ro.local
                0x0804c000       0x20 {obj}/py/objtype.o
.bss            0x0804d000      0x400
 .bss           0x0804d000      0x400 {obj}/py/gc.o
"""


def test_firmware_bytes_counts_micropythons_own_code_and_data(tmp_path: Path) -> None:
    objects = tmp_path / "objects-virtual-0"  # shared with other builds: the map is copied
    link_map = tmp_path / "virtual-0" / "link.map"
    link_map.parent.mkdir()
    link_map.write_text(MAP.format(obj=objects))
    build = FirmwareBuild(board="b", port="unix", target="virtual",
                          image=str(link_map.parent / "micropython"), text=0, data=0, bss=0,
                          seconds=0.0, cached=True, objects=str(objects))
    # gc_alloc's .text, the frozen .rodata and the .data.rel.ro: no C library, no unwind
    # tables, no .bss, nothing discarded.
    assert firmware.firmware_bytes(build) == 0x100 + 0x30 + 0x20
    link_map.unlink()
    with pytest.raises(CommandError, match="no link map"):
        firmware.firmware_bytes(build)


@needs_source
def test_a_workload_out_of_heap_is_told_apart_from_a_broken_one() -> None:
    from dataclasses import replace

    from host_tools.boards.profiles import load_profile
    from host_tools.errors import EmberError
    from host_tools.install import micropython_source, virtual_firmware

    profile = load_profile("samd21-generic")
    source = micropython_source.resolve(None)
    ember = Path(virtual_firmware.build(profile, source).image)
    stock = Path(virtual_firmware.build_stock(source).image)
    assert firmware.run_workload(ember, replace(profile, heap_bytes=4096),
                                 "ember_first_use") is None  # MemoryError: a null figure
    with pytest.raises(EmberError, match="no module named 'ember'"):
        firmware.run_workload(stock, profile, "ember_first_use")  # not for memory: an error
