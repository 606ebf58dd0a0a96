"""Where the project's non-Python parts live: device code, board profiles, build output."""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
FIRMWARE_DIR = PROJECT_DIR / "firmware"
RUNTIME_DIR = FIRMWARE_DIR / "ember"
