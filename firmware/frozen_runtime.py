"""Prints 1 if the ember runtime is frozen into this board's firmware, else 0.

Sent by `ember flash` (host_tools/deploy.py) before it installs the runtime into /lib: a
frozen package comes first on sys.path ('.frozen' before '/lib'), so a copy in /lib would
never be imported. A frozen module's __file__ is relative to '.frozen', not a path."""
import sys


def _ember_frozen():
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


print(int(_ember_frozen()))
del _ember_frozen
