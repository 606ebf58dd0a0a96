"""ember host tools: the `ember` command, the virtual board and the pytest plugin."""
