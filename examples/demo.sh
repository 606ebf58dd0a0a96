#!/usr/bin/env bash
# The mission end to end on a virtual board, as a user types it: build the cut-down
# firmware with ember frozen in, flash it onto a virtual board, run an app on it, and
# compare its free heap with a stock build's. With a real board, skip `sim start`/`sim stop`,
# build without --virtual and flash the image to the board's port.
set -euo pipefail
cd "$(dirname "$0")/.."
BOARD=${BOARD:-esp8266-generic}

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "ember firmware build --virtual --board $BOARD"
image=$(ember firmware build --virtual --board "$BOARD")
echo "$image"

step "ember sim start --board $BOARD"
port=$(ember sim start --board "$BOARD")
trap 'ember sim stop "$port"' EXIT
echo "$port"

step "ember boards"
ember boards

step "ember --port $port flash --firmware $image"
ember --port "$port" flash --firmware "$image"

step "ember --port $port exec \"import gc, sys, ember; gc.collect(); print(...)\""
ember --port "$port" exec "import gc, sys, ember; gc.collect(); print(sys.platform, '32-bit' if sys.maxsize == 2**31 - 1 else 'not 32-bit', '| ember from', ember.__file__, '| free heap:', gc.mem_free(), 'of', gc.mem_free() + gc.mem_alloc())"

step "ember --port $port run examples/async_streams.py"
ember --port "$port" run examples/async_streams.py

step "ember --port $port cp examples/async_streams.py :/main.py   (then ls, df, reset)"
ember --port "$port" cp examples/async_streams.py :/main.py
ember --port "$port" ls
ember --port "$port" df
ember --port "$port" reset

step "ember bench firmware --board $BOARD   (ember's build beside a stock 32-bit build)"
ember bench firmware --board "$BOARD" | grep -E '^(word_bits|firmware_bytes|stock_firmware_bytes|heap_free_after_boot|stock_heap_free_after_boot|ember_first_use_(frozen|mpy)_bytes|asyncio_first_use_(frozen|mpy)_bytes) '

step "ember sim stop $port"
