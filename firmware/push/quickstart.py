# ember push quick start: runs ON the board, sent through the raw REPL first at each push
# (host_tools/push/session.py, through host_tools/link/device_code.py's program()).
#
# The shortest way in when the receiver is already cached in /.ember: import and run it.
# An ImportError here means "not cached", and the host sends bootstrap.py.
import sys


def quick_start(tag, chunk):
    """Runs the cached receiver of version `tag` (its source's SHA-256, 12 hex digits)."""
    sys.path.insert(0, "/.ember")
    try:
        receiver = __import__("rx_" + tag)
    finally:
        sys.path.pop(0)
    receiver._ember_push(chunk)
