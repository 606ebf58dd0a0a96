"""One raw-REPL session per board, the sender of device code, typed device errors."""
