# A virtual board firmware without the ember runtime frozen in: the board's boot alone. For
# tests and benchmarks of the runtime as a user installs it on stock firmware (/lib, .mpy).
module("_boot.py", base_path="frozen")
