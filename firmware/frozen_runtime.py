# ember: runs ON the board, called by `ember flash` (host_tools/install/runtime.py) through
# host_tools/link/device_code.py before it installs the runtime into /lib.
"""Whether the ember runtime is frozen into this board's firmware.

A frozen package comes first on sys.path ('.frozen' before '/lib'), so a copy in /lib would
never be imported. A frozen module's __file__ is relative to '.frozen', not a path."""
import sys


def frozen():
    loaded = sys.modules.get("ember")
    if loaded is not None:
        return not loaded.__file__.startswith("/")
    path = sys.path[:]
    sys.path[:] = [".frozen"]
    try:
        import ember  # noqa: F401 - found only if frozen

        return True
    except ImportError:
        return False
    finally:
        sys.path[:] = path
        sys.modules.pop("ember", None)
