"""Prints the interpreter's machine word width in bits (32 on every board ember serves)."""

# Runs ON the interpreter (host_tools/bench/firmware.py). sys.maxsize is the largest
# machine-word int, 2**(bits - 1) - 1; counted by shifts, as not every build has bit_length.
import sys

n = sys.maxsize
bits = 1
while n:
    n >>= 1
    bits += 1
print(bits)
