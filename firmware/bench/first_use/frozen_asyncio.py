"""Prints 1 if asyncio is frozen into this firmware, else 0."""

# Runs ON ember's firmware (host_tools/bench/firmware.py) with sys.path '.frozen' alone
# (MICROPYPATH) and no filesystem: asyncio is found only if frozen. The ports whose boards
# freeze asyncio have it in their virtual firmware too; on the rest, asyncio's frozen
# figures come from the stock build.
try:
    import asyncio  # noqa: F401

    print(1)
except ImportError:
    print(0)
