#!/usr/bin/env bash
# The main job on a virtual board, as a user types it: start a board, install the runtime,
# run an app, stop. With a real board, skip `sim start`/`sim stop` and use its port.
set -euo pipefail
cd "$(dirname "$0")/.."
BOARD=${BOARD:-esp8266-generic}

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "ember sim start --board $BOARD"
port=$(ember sim start --board "$BOARD")
trap 'ember sim stop "$port"' EXIT
echo "$port"

step "ember boards"
ember boards

step "ember --port $port flash"
ember --port "$port" flash

step "ember --port $port exec \"import gc, ember; gc.collect(); print(gc.mem_free(), 'bytes free')\""
ember --port "$port" exec "import gc, ember; gc.collect(); print(gc.mem_free(), 'bytes free with ember imported')"

step "ember --port $port run examples/async_streams.py"
ember --port "$port" run examples/async_streams.py

step "ember sim stop $port"
