# ember: runs ON the board, called by host_tools/link/session.py (through device_code) right
# after each soft reset the host itself makes from the raw REPL.
"""Take back the boot that firmware/boot_guard.py just counted for a host's soft reset.

A raw-REPL soft reset runs boot.py (the guard counts a boot) but not main.py, so it is
not a crash of main.py; boot.py cannot tell it from a real boot (nothing portable
survives a soft reset but the filesystem). Without this, three `ember run` calls in a
row would set main.py aside. Written to the same temporary file the guard uses and
renamed over the count, in one step as the guard does. No count: nothing to do."""


def uncount(path="/.ember/boots"):
    try:
        with open(path) as f:
            n = int(f.read()) - 1
    except (OSError, ValueError):
        return  # no guard counting here, or a count that is not ours to touch
    import os

    if n > 0:
        with open(path + ".tmp", "w") as f:
            f.write(str(n))
        os.rename(path + ".tmp", path)
    else:
        os.remove(path)

