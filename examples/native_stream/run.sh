#!/usr/bin/env bash
# The native-stream example on a virtual board, as a user types it: push the folder (ember
# builds irqring's C for the board's architecture), run the program, stop the board.
set -euo pipefail
cd "$(dirname "$0")"
BOARD=${BOARD:-rp2-pico}

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "ember sim start --board $BOARD"
port=$(ember sim start --board "$BOARD")
trap 'ember sim stop "$port"' EXIT
echo "$port"

step "ember --port $port --board $BOARD push app"
ember --port "$port" --board "$BOARD" push app

step "ember --port $port exec \"import ring_demo\""
ember --port "$port" exec "import ring_demo"
