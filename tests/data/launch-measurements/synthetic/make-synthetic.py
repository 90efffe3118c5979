#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build the synthetic 4 KiB firmware images tern's measurement tests use.

The upstream OVMF fixtures are built software and are not shipped with the
vectors (see ../README.md). The SNP vectors that start their PAGE_INFO chain
from a known firmware digest (an "OVMF hash") hash no firmware page: they
need only the firmware's GUIDed footer table (AP reset EIP, SEV hashes table
GPA) and its SEV metadata sections. This script writes images that carry
exactly those, taken from ../vectors.json (inputs[...].parsed for the
sev-snp-measure suffixes, params.metadata_sections for the
sev-snp-measure-go descriptions). Everything else in the images is zero, so
they must never be used where firmware pages are hashed.

Run from this directory: python3 make-synthetic.py
"""
import json
import os
import struct
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 4096
FOOTER = "96b582de-1fb2-45f7-baea-a366c55a082d"
RESET = "00f771de-1a7e-4fcb-890e-68c77e2fb44e"
SECRET = "4c2eb361-7d9b-4cc3-8081-127c90d3d294"
HASHES = "7255371f-3a3b-4b04-927b-1da6efa8d454"
SEVMETA = "dc886566-984a-4798-a75e-5585a7bf67cc"
KEEP = (RESET, SECRET, HASHES, SEVMETA)  # no TDVF: the suffixes lack it


def image(entries, meta_off, sections):
    img = bytearray(SIZE)
    end = SIZE - 32 - 18
    table = b""
    for guid, data in entries:
        table = data + struct.pack("<H", len(data) + 18) + \
            uuid.UUID(guid).bytes_le + table
    total = len(table) + 18
    img[end - len(table):end] = table
    img[end:end + 18] = struct.pack("<H", total) + uuid.UUID(FOOTER).bytes_le
    meta = b"ASEV" + struct.pack("<III", 16 + 12 * len(sections), 1,
                                 len(sections))
    for gpa, size, typ in sections:
        meta += struct.pack("<III", gpa, size, typ)
    at = SIZE - meta_off
    assert at + len(meta) <= end - len(table), "metadata overlaps the table"
    img[at:at + len(meta)] = meta
    return bytes(img)


def main():
    with open(os.path.join(HERE, "..", "vectors.json")) as f:
        v = json.load(f)
    out = {}
    for path, inp in v["inputs"].items():
        p = inp.get("parsed")
        if not p or "svsm" in path or "gce-tcb" in path:
            continue
        entries = [(e["guid"], bytes.fromhex(e["data"]))
                   for e in p["footer_table"] if e["guid"] in KEEP]
        off = next(struct.unpack("<I", d)[0] for g, d in entries
                   if g == SEVMETA)
        secs = [(int(s["gpa"], 16), int(s["size"], 16), s["type"])
                for s in p["sev_metadata_sections"]]
        out[path.replace("inputs/", "")] = image(entries, off, secs)
    for vec in v["vectors"]:
        desc = vec["params"].get("firmware_description")
        if not desc:
            continue
        p = vec["params"]
        entries = [(RESET, struct.pack("<I", int(p["ap_reset_eip"], 16))),
                   (SEVMETA, struct.pack("<I", 0x554))]
        secs = [(int(g, 16), int(s, 16), t)
                for g, s, t in p["metadata_sections"]]
        out[desc.replace("inputs/", "").replace(".json", ".bin")] = \
            image(entries, 0x554, secs)
    for name, data in sorted(out.items()):
        dst = os.path.join(HERE, name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as f:
            f.write(data)
        print(name)


if __name__ == "__main__":
    main()
