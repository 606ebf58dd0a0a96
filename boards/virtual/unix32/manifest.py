# Frozen into ember's virtual board firmware: the board's boot module and the ember runtime.
# Frozen bytecode runs from the image, so neither costs heap for its code, as on a board
# built with ember's firmware (`ember firmware build`). Paths are relative to this file.
module("_boot.py", base_path="frozen")
include("../../../firmware/manifest.py")
