"""The virtual board: a real MicroPython interpreter behind a pseudo-terminal."""
