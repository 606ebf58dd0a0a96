""".mpy targets, mpy-cross chosen by the board's own version, builds."""
