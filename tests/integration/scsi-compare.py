#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compare scsi-test's answers under tern and QEMU, field by field.

Usage: scsi-compare.py TERN_LOG QEMU_LOG RW_LUN RO_LUN

Both logs come from firmware/scsi-test with dump=1 on the same two disks
(the same sizes and serials). Only the fields SPC-4 and SBC-3 fix are
compared, or that follow from the disk itself; what the standards leave to
the implementation (vendor strings, version claims, block limits, the
designators a LUN is named by, LBPRZ, ...) is checked for form only.
Prints every comparison; exit 0 when all agree, 1 otherwise.
"""
import re
import sys

FAILS = []


def load(path):
    pages = {}
    with open(path, errors="replace") as f:
        for m in re.finditer(r"^scsi-test: dump lun (\d+) (\S+) \+(\d+) ([0-9a-f]*)$",
                             f.read(), re.M):
            lun, what, off, hexs = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
            buf = pages.setdefault((lun, what), bytearray())
            if len(buf) != off:
                raise SystemExit(f"{path}: lun {lun} {what}: offset {off} after {len(buf)} bytes")
            buf += bytes.fromhex(hexs)
    return pages


def same(name, a, b):
    ok = a == b
    print(f"{'same' if ok else 'DIFFERENT'}: {name}: tern {a}, QEMU {b}")
    if not ok:
        FAILS.append(name)


def holds(name, ta, qa):
    """A property both answers must have (the standard's form)."""
    ok = ta and qa
    print(f"{'both' if ok else 'NOT BOTH'}: {name}: tern {ta}, QEMU {qa}")
    if not ok:
        FAILS.append(name)


def be(b, off, n):
    return int.from_bytes(b[off:off + n], "big")


def designators_ok(p):
    """VPD 83h: designators that add up to the page, one of the LU."""
    end, at, lu = 4 + be(p, 2, 2), 4, False
    if end > len(p):
        return False
    while at < end:
        if at + 4 > end or at + 4 + p[at + 3] > end:
            return False
        lu |= (p[at + 1] >> 4) & 3 == 0
        at += 4 + p[at + 3]
    return lu


def caching_page(b, start, end):
    at = start
    while at + 2 <= end:
        if b[at] & 0x3f == 0x08:
            return b[at:at + 2 + b[at + 1]]
        at += 2 + b[at + 1]
    return None


def compare(t, q, lun, ro):
    def both(what):
        if (lun, what) not in t or (lun, what) not in q:
            FAILS.append(f"lun {lun} {what} missing")
            print(f"MISSING: lun {lun} {what}: tern {(lun, what) in t}, QEMU {(lun, what) in q}")
            return None, None
        return t[(lun, what)], q[(lun, what)]

    ti, qi = both("inquiry")
    if ti:
        same(f"lun {lun} INQUIRY peripheral qualifier and type", ti[0], qi[0])
        same(f"lun {lun} INQUIRY RMB", ti[1] >> 7, qi[1] >> 7)
        same(f"lun {lun} INQUIRY response data format", ti[3] & 0x0f, qi[3] & 0x0f)
        same(f"lun {lun} INQUIRY PROTECT", ti[5] & 1, qi[5] & 1)
        holds(f"lun {lun} INQUIRY additional length >= 31, n - 5",
              ti[4] >= 31 and ti[4] + 5 >= len(ti), qi[4] >= 31 and qi[4] + 5 >= len(qi))
        holds(f"lun {lun} INQUIRY vendor, product, revision in printable ASCII",
              all(0x20 <= c < 0x7f for c in ti[8:36]), all(0x20 <= c < 0x7f for c in qi[8:36]))
    t0, q0 = both("vpd-00")
    if t0:
        same(f"lun {lun} VPD 00 peripheral, page code", t0[:2].hex(), q0[:2].hex())
        same(f"lun {lun} VPD 00 pages listed", t0[4:4 + be(t0, 2, 2)].hex(),
             q0[4:4 + be(q0, 2, 2)].hex())
    if (lun, "vpd-80") in t or (lun, "vpd-80") in q:
        t80, q80 = both("vpd-80")
        if t80:
            same(f"lun {lun} VPD 80 unit serial number", bytes(t80[4:4 + be(t80, 2, 2)]),
                 bytes(q80[4:4 + be(q80, 2, 2)]))
    t83, q83 = both("vpd-83")
    if t83:
        same(f"lun {lun} VPD 83 page code", t83[1], q83[1])
        holds(f"lun {lun} VPD 83 designators well formed, one of the LU",
              designators_ok(t83), designators_ok(q83))
    for page, length in (("b0", 0x3c), ("b1", 0x3c), ("b2", 4)):
        tp, qp = both("vpd-" + page)
        if tp:
            same(f"lun {lun} VPD {page} page code and length", (tp[1], be(tp, 2, 2)),
                 (qp[1], be(qp, 2, 2)))
            holds(f"lun {lun} VPD {page} page length {length:#x}",
                  be(tp, 2, 2) == length, be(qp, 2, 2) == length)
    tp, qp = both("vpd-b2")
    if tp and not ro:
        same(f"lun {lun} VPD b2 LBPU (UNMAP works)", tp[5] >> 7, qp[5] >> 7)
    tc, qc = both("capacity-10")
    if tc:
        same(f"lun {lun} READ CAPACITY(10) last LBA, block length", tc[:8].hex(), qc[:8].hex())
    tc, qc = both("capacity-16")
    if tc:
        same(f"lun {lun} READ CAPACITY(16) last LBA, block length", tc[:12].hex(), qc[:12].hex())
        same(f"lun {lun} READ CAPACITY(16) protection, exponents", tc[12:14].hex(),
             qc[12:14].hex())
        if not ro:
            same(f"lun {lun} READ CAPACITY(16) LBPME", tc[14] >> 7, qc[14] >> 7)
    tm, qm = both("mode-sense-6")
    if tm:
        same(f"lun {lun} MODE SENSE(6) medium type", tm[1], qm[1])
        same(f"lun {lun} MODE SENSE(6) WP", tm[2] >> 7, qm[2] >> 7)
        same(f"lun {lun} MODE SENSE(6) block descriptor length", tm[3], qm[3])
        same(f"lun {lun} MODE SENSE(6) block descriptor: blocks, block length",
             (be(tm, 4, 4), be(tm, 9, 3)), (be(qm, 4, 4), be(qm, 9, 3)))
        tp, qp = caching_page(tm, 4 + tm[3], tm[0] + 1), caching_page(qm, 4 + qm[3], qm[0] + 1)
        holds(f"lun {lun} MODE SENSE(6) caching page present", tp is not None, qp is not None)
        if tp and qp:
            same(f"lun {lun} caching page length", tp[1], qp[1])
            same(f"lun {lun} caching page WCE, RCD", (tp[2] >> 2 & 1, tp[2] & 1),
                 (qp[2] >> 2 & 1, qp[2] & 1))
    tm, qm = both("mode-sense-10")
    if tm:
        same(f"lun {lun} MODE SENSE(10) medium type", tm[2], qm[2])
        same(f"lun {lun} MODE SENSE(10) WP", tm[3] >> 7, qm[3] >> 7)
        same(f"lun {lun} MODE SENSE(10) block descriptor length (DBD)", be(tm, 6, 2),
             be(qm, 6, 2))
        tp = caching_page(tm, 8, be(tm, 0, 2) + 2)
        qp = caching_page(qm, 8, be(qm, 0, 2) + 2)
        holds(f"lun {lun} MODE SENSE(10) all pages hold the caching page",
              tp is not None, qp is not None)
        if tp and qp:
            same(f"lun {lun} all pages: caching page WCE", tp[2] >> 2 & 1, qp[2] >> 2 & 1)


def main():
    t, q = load(sys.argv[1]), load(sys.argv[2])
    rw, ro = int(sys.argv[3]), int(sys.argv[4])
    compare(t, q, rw, False)
    compare(t, q, ro, True)
    if FAILS:
        print(f"scsi-compare: {len(FAILS)} difference(s): {'; '.join(FAILS)}")
        return 1
    print("scsi-compare: every standard field agrees")
    return 0


if __name__ == "__main__":
    sys.exit(main())
