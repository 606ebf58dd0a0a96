# ember: runs ON the board, called by host_tools/files/board_files.py through
# host_tools/link/device_code.py (kept on the board while a verb works).
"""The board's side of `ember fs`: each verb one call, its answer a literal for the host.

Errors are the board's own OSErrors (their errno tells the host what went wrong); paths
are absolute board paths, as the host sends them.
"""
import os

DIR = 0x4000


def _join(folder, name):
    return (folder if folder != "/" else "") + "/" + name


def stat(path):
    """(is_dir, size) of a path; OSError ENOENT if there is none."""
    st = os.stat(path)
    return (st[0] & DIR) != 0, st[6]


def ls(path):
    """[(name, is_dir, size)] of a folder, sorted; a file lists itself."""
    is_dir, size = stat(path)
    if not is_dir:
        return [(path.rsplit("/", 1)[-1], False, size)]
    found = []
    for entry in os.ilistdir(path):
        kind = entry[1] & DIR != 0
        size = 0 if kind else (entry[3] if len(entry) > 3 else stat(_join(path, entry[0]))[1])
        found.append((entry[0], kind, size))
    found.sort()
    return found


def tree(path):
    """[(path relative to `path`, is_dir, size)] of everything under a folder, depth first."""
    found = []
    _walk(path, "", found)
    return found


def _walk(folder, prefix, found):
    for name, is_dir, size in ls(folder):
        rel = prefix + name
        found.append((rel, is_dir, size))
        if is_dir:
            _walk(_join(folder, name), rel + "/", found)


def read(path, offset, size):
    """`size` bytes of a file from `offset`, as base64 (b"" at its end)."""
    from binascii import b2a_base64

    with open(path, "rb") as f:
        f.seek(offset)
        return b2a_base64(f.read(size)).strip()


def remove(path, recursive):
    """Removes a file, or a folder (with what it holds if `recursive`); how many entries
    went."""
    is_dir, _ = stat(path)
    if not is_dir:
        os.remove(path)
        return 1
    count = 0
    if recursive:
        for name, _, _ in ls(path):
            count += remove(_join(path, name), True)
    os.rmdir(path)
    return count + 1


def mkdir(path, parents):
    """Makes a folder (and its missing parents if `parents`); False if it was there."""
    if parents:
        made = False
        at = ""
        for part in path.strip("/").split("/"):
            at += "/" + part
            try:
                os.mkdir(at)
                made = True
            except OSError as error:
                if error.errno != 17 or not stat(at)[0]:  # EEXIST as a folder is fine
                    raise
        return made
    os.mkdir(path)
    return True


def rmdir(path):
    os.rmdir(path)


def touch(path):
    """Creates an empty file, or leaves one that exists as it is."""
    try:
        stat(path)
    except OSError:
        open(path, "wb").close()


def df(path):
    """(block size, blocks, blocks free) of the filesystem holding `path`."""
    st = os.statvfs(path)
    return st[0], st[2], max(st[3], 0)  # a full littlefs reports -2 blocks free


def sha256(path):
    """The SHA-256 of a file, as hex."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(512)
            if not block:
                break
            digest.update(block)
    return "".join("%02x" % b for b in digest.digest())


def prune(folders, stop):
    """Removes each folder that is empty now, and its parents that it leaves empty, up to
    (not including) `stop`; the folders removed."""
    removed = []
    for folder in sorted(folders, key=len, reverse=True):
        while folder not in (stop, "/", "") and folder.startswith(stop):
            try:
                if any(True for _ in os.ilistdir(folder)):
                    break
                os.rmdir(folder)
            except OSError:
                break
            removed.append(folder)
            folder = folder.rsplit("/", 1)[0] or "/"
    return removed


def lines(path):
    """The lines of a text file, [] if there is none."""
    try:
        with open(path) as f:
            return [line.rstrip("\n") for line in f if line.strip()]
    except OSError:
        return []


def add_lines(path, new):
    """Adds lines not already there to a text file (a temporary file renamed over it)."""
    held = lines(path)
    wanted = held + [line for line in new if line not in held]
    folder = path.rsplit("/", 1)[0]
    if folder:
        try:
            os.mkdir(folder)
        except OSError:
            pass
    with open(path + ".tmp", "w") as f:
        for line in wanted:
            f.write(line + "\n")
    os.rename(path + ".tmp", path)
    return len(wanted) - len(held)
