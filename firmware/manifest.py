# MicroPython freeze manifest for the ember runtime. In a port build:
#   make BOARD=... FROZEN_MANIFEST=/path/to/ember/firmware/manifest.py
# or include("/path/to/ember/firmware/manifest.py") from a board manifest.
metadata(
    description="ember: a small select.poll event loop (handlers, timers, tasks, pipes)",
    version="0.1.0",
)

# opt=3: no line-number tables, as host_tools/paths.py RUNTIME_OPTIMISE for the .mpy.
package("ember", opt=3)
