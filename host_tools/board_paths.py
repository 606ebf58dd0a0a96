"""Where ember keeps its own files on a board, and which board paths a delete must spare.

The runtime (`/lib/ember`) and ember's cache (`/.ember`: the push receiver, manifests,
the boot guard's count) are ember's, not the user's project: `ember fs rm` and
`ember push --delete` refuse to remove them unless told to with `--force`.
"""

from __future__ import annotations

import posixpath

RUNTIME_DEST = "/lib/ember"  # the runtime package, as `ember flash` installs it
CACHE_DIR = "/.ember"  # the push receiver's cache and manifests; never project files
MIP_RECORD = "/.ember/mip"  # the board paths `ember mip install` wrote, one a line
PROTECTED = {
    RUNTIME_DEST: "the ember runtime (`ember flash` installs it)",
    CACHE_DIR: "ember's cache (push receiver, manifests, boot count)",
}


def protected_by(path: str) -> str | None:
    """What a delete of board `path` would remove of ember's own files, or None: the path
    is, holds, or lies inside a protected folder."""
    path = posixpath.normpath("/" + path.lstrip("/")) if path else "/"
    for folder, what in PROTECTED.items():
        if path == folder or folder.startswith(path.rstrip("/") + "/") \
                or path.startswith(folder + "/"):
            return what
    return None
