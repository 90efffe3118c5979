#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the writable LUN's image after firmware/scsi-test wrote its pattern.

Usage: scsi-check.py IMAGE CONSOLE_LOG LUN

Every 8-byte little-endian word w (0..63) of 512-byte sector s must hold
seed << 48 | w << 40 | s, with the seed the guest printed ("scsi-test: lun
L pattern seed S"), except the ranges it reports (in blocks of the size
it printed, "scsi-test: lun L capacity N blocks of B bytes"):
  "scsi-test: lun L zeroed blocks X+N"     -> zeroes (WRITE SAME)
  "scsi-test: lun L unmapped blocks X+N"   -> not checked (UNMAP is a hint)
and the file must still be the capacity the guest saw. Prints one line;
exit 0 when the image matches, 1 when it does not.
"""
import re
import sys

SECTOR = 512
WORDS = SECTOR // 8


def main():
    image, log, lun = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(image, "rb") as f:
        data = f.read()
    with open(log, "r", errors="replace") as f:
        console = f.read()
    cap = re.search(rf"scsi-test: lun {lun} capacity (\d+) blocks of (\d+) bytes", console)
    seed = re.search(rf"scsi-test: lun {lun} pattern seed (\d+)", console)
    if not cap or not seed:
        print(f"scsi-check: the log lacks lun {lun}'s capacity or seed line")
        return 1
    nblocks, bs, seed = int(cap.group(1)), int(cap.group(2)), int(seed.group(1))
    if len(data) != nblocks * bs:
        print(f"scsi-check: {image} is {len(data)} bytes, the guest saw {nblocks} x {bs}")
        return 1
    per = bs // SECTOR

    def ranges(what):
        return [(int(a) * per, int(n) * per) for a, n in
                re.findall(rf"scsi-test: lun {lun} {what} blocks (\d+)\+(\d+)", console)]

    zero, skip = ranges("zeroed"), ranges("unmapped")

    def inside(s, rs):
        return any(a <= s < a + n for a, n in rs)

    # One big-integer operation per sector: the tag repeated in every
    # word, XORed with the word numbers.
    rep = sum(1 << (64 * w) for w in range(WORDS))
    words = sum((w << 40) << (64 * w) for w in range(WORDS))
    sectors = len(data) // SECTOR

    def expected(s):
        if inside(s, zero):
            return bytes(SECTOR)
        return (words ^ (((seed << 48) | s) * rep)).to_bytes(SECTOR, "little")

    bad = [s for s in range(sectors)
           if not inside(s, skip) and data[s * SECTOR:(s + 1) * SECTOR] != expected(s)]
    if bad:
        s = bad[0]
        want = expected(s)
        off = next(i for i in range(SECTOR) if data[s * SECTOR + i] != want[i])
        print(f"scsi-check: {len(bad)} of {sectors} sectors differ; first: sector {s}, "
              f"byte {off}: {data[s * SECTOR + off]:#04x}, expected {want[off]:#04x}")
        return 1
    print(f"scsi-check: {sectors} sectors match (seed {seed}, {len(zero)} zeroed "
          f"range(s), {len(skip)} unmapped range(s) skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
