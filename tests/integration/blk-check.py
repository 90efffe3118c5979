#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check a disk image after firmware/blk-test wrote its pattern.

Usage: blk-check.py IMAGE CONSOLE_LOG
       blk-check.py --make IMAGE MIB   (write the pattern: blk-bench verify=1)

Every 8-byte little-endian word w (0..63) of sector s must hold
seed << 48 | w << 40 | s with seed 1, except the ranges the guest reports
on its console:
  "blk-test: write-zeroes sectors S+N read back as zeros"  -> zeros
  "blk-test: discard sectors S+N OK"                       -> not checked
Prints one line; exit 0 when the image matches, 1 when it does not.
"""
import re
import sys

SECTOR = 512
WORDS = SECTOR // 8
SEED = 1


def pattern_constants():
    # One big-integer operation per sector: the tag (seed and sector)
    # repeated in every word, XORed with the word numbers.
    rep = sum(1 << (64 * w) for w in range(WORDS))
    words = sum((w << 40) << (64 * w) for w in range(WORDS))
    return rep, words


def make(image, mib):
    rep, words = pattern_constants()
    per_mib = (1 << 20) // SECTOR
    with open(image, "wb") as f:
        for m in range(mib):
            f.write(b"".join((words ^ (((SEED << 48) | s) * rep)).to_bytes(SECTOR, "little")
                             for s in range(m * per_mib, (m + 1) * per_mib)))
    return 0


def main():
    if sys.argv[1] == "--make":
        return make(sys.argv[2], int(sys.argv[3]))
    image, log = sys.argv[1], sys.argv[2]
    with open(image, "rb") as f:
        data = f.read()
    with open(log, "r", errors="replace") as f:
        console = f.read()
    if len(data) % SECTOR:
        print(f"blk-check: {image}: size {len(data)} is not whole sectors")
        return 1
    sectors = len(data) // SECTOR

    zero = [tuple(map(int, m)) for m in
            re.findall(r"blk-test: write-zeroes sectors (\d+)\+(\d+) read back", console)]
    skip = [tuple(map(int, m)) for m in
            re.findall(r"blk-test: discard sectors (\d+)\+(\d+) OK", console)]

    def inside(s, ranges):
        return any(a <= s < a + n for a, n in ranges)

    rep, words = pattern_constants()

    def expected(s):
        if inside(s, zero):
            return bytes(SECTOR)
        return (words ^ (((SEED << 48) | s) * rep)).to_bytes(SECTOR, "little")

    bad = []
    for s in range(sectors):
        if not inside(s, skip) and data[s * SECTOR:(s + 1) * SECTOR] != expected(s):
            bad.append(s)
    if bad:
        s = bad[0]
        want = expected(s)
        off = next(i for i in range(SECTOR) if data[s * SECTOR + i] != want[i])
        print(f"blk-check: {len(bad)} of {sectors} sectors differ; first: sector {s}, "
              f"byte {off}: {data[s * SECTOR + off]:#04x}, expected {want[off]:#04x}")
        return 1
    print(f"blk-check: {sectors} sectors match "
          f"({len(zero)} zeroed range(s), {len(skip)} discarded range(s) skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
