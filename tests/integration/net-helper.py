#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The host side of firmware/net-test.elf, for tests/integration/net.sh and
net-qemu.sh. Runs inside the test's network namespace, where tap0 (the
guest's, 10.0.0.1/24) and tap1 (this helper's, 10.0.1.1/24, a forwarding
hop towards 10.0.1.2) live. Reuses qmp-helper.py's QMP client.

    net-helper.py run CONSOLE QMPSOCK [--max-udp N] [--flows N] [--nic NAME]
    net-helper.py save CONSOLE QMPSOCK --path FILE
    net-helper.py restore CONSOLE QMPSOCK --path FILE
    net-helper.py fd TERN ARGS...     (an argument fd=FD[,...] gets a tap0 fd)

run checks, each printed as it passes: query-pci lists the NIC; query-rx-filter
shows its address; ping; UDP echo of every payload size 1..max-udp, byte
for byte; with --queues, many flows; a TSO super-frame from the guest
arrives on tap1 cut into checksummed segments; a UDP datagram with a
partial checksum arrives on tap1 completed; a receive filter change gives
NIC_RX_FILTER_CHANGED and query-rx-filter shows it; set_link down/up is
seen by the guest and stops/restarts traffic. Ends with "quit". Exit 0,
or 1 with the first failed expectation.
"""
import argparse
import fcntl
import importlib.util
import os
import random
import re
import select
import socket
import struct
import subprocess
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "qmp_helper", os.path.join(os.path.dirname(__file__), "qmp-helper.py"))
qh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qh)
QMP, Fail, expect = qh.QMP, qh.Fail, qh.expect

GUEST = "10.0.0.2"
PEER = "10.0.1.2"
ECHO, CTL = 7, 9
TUNSETIFF = 0x400454ca
TUNSETOFFLOAD = 0x400454d0
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000


def console_has(path, text):
    with open(path, errors="replace") as f:
        return any(l.startswith(text) for l in f.read().splitlines())


def wait_console(path, text, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not console_has(path, text):
        if time.monotonic() > deadline:
            raise Fail(f"no console line '{text}' within {timeout} s")
        time.sleep(0.02)


def pattern(n):
    return bytes((i * 7 + 3) & 0xff for i in range(n))


def csum(data):
    if len(data) & 1:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


class Tap1:
    """The forwarding hop's far end: frames the host routes to 10.0.1.2.
    Offloads off, so the kernel segments and checksums before handing
    them over, as it would for a NIC without TSO or checksum offload."""

    def __init__(self, name):
        self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(self.fd, TUNSETIFF,
                    struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
        fcntl.ioctl(self.fd, TUNSETOFFLOAD, 0)

    def ipv4(self, proto, dport, timeout=3.0):
        """IPv4 frames of proto to dport that arrive within timeout."""
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if not r:
                if out:
                    break
                continue
            f = os.read(self.fd, 65536)
            if len(f) < 34 or f[12:14] != b"\x08\x00":
                continue
            ip = f[14:]
            ihl = (ip[0] & 15) * 4
            if ip[9] == proto and struct.unpack("!H", ip[ihl + 2:ihl + 4])[0] == dport:
                out.append(ip[:struct.unpack("!H", ip[2:4])[0]])
        return out


def l4_ok(ip):
    ihl = (ip[0] & 15) * 4
    pseudo = ip[12:20] + struct.pack("!BBH", 0, ip[9], len(ip) - ihl)
    return csum(ip[:ihl]) == 0xffff and csum(pseudo + ip[ihl:]) == 0xffff


class Guest:
    def __init__(self, console):
        self.console = console
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("10.0.0.1", 0))

    def echo(self, payload, sock=None, tries=3, timeout=2.0):
        """The echo of payload, or None. A reply of another length is a late
        answer to an earlier retry and is skipped; one of the same length is
        returned whatever it holds, for the caller to compare."""
        s = sock or self.sock
        for _ in range(tries):
            s.sendto(payload, (GUEST, ECHO))
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                r, _, _ = select.select([s], [], [], max(left, 0))
                if not r:
                    break
                data, src = s.recvfrom(65536)
                if src == (GUEST, ECHO) and len(data) == len(payload):
                    return data
        return None

    def command(self, text, timeout=5.0):
        self.sock.sendto(text.encode(), (GUEST, CTL))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.sock], [], [], 0.2)
            if r:
                data, src = self.sock.recvfrom(65536)
                if src == (GUEST, CTL):
                    return data.decode(errors="replace")
        raise Fail(f"no answer to '{text}' within {timeout} s")


# QEMU 7.2's shapes (qapi/net.json, qapi/pci.json); net-qemu.sh runs the same
# checks against QEMU itself.
RX_FILTER_KEYS = {"name", "promiscuous", "multicast", "unicast", "vlan",
                  "broadcast-allowed", "multicast-overflow", "unicast-overflow",
                  "main-mac", "vlan-table", "unicast-table", "multicast-table"}
PCI_DEVICE_KEYS = {"bus", "slot", "function", "class_info", "id", "irq",
                   "irq_pin", "qdev_id", "regions"}
PCI_REGION_KEYS = {"bar", "type", "address", "size", "prefetch", "mem_type_64"}


def check_pci(q):
    r = q.cmd("query-pci")
    devs = r["return"][0]["devices"]
    nics = [d for d in devs if d["class_info"]["class"] == 0x0200]
    expect(len(nics) == 1, "query-pci lists one Ethernet controller")
    d = nics[0]
    expect(d["id"]["vendor"] == 0x1af4 and d["id"]["device"] == 0x1041,
           "the NIC is a modern virtio-net function (1af4:1041)")
    expect(d["class_info"].get("desc") == "Ethernet controller",
           "class_info desc is 'Ethernet controller'")
    expect(set(d) == PCI_DEVICE_KEYS and set(d["id"]) ==
           {"device", "vendor", "subsystem", "subsystem-vendor"} and
           all(set(b) == PCI_REGION_KEYS for b in d["regions"] if b["type"] == "memory"),
           "its PciDeviceInfo has QEMU's members")
    bars = {b["bar"]: b for b in d["regions"]}
    expect(4 in bars and bars[4]["size"] == 16384 and bars[4]["mem_type_64"],
           "BAR 4 is a 16 KiB 64-bit memory BAR")


def check_tso(g, tap1):
    expect(g.command(f"tso {PEER} 5001 8000 1400") == "ok tso", "guest sent a TSO frame")
    segs = tap1.ipv4(6, 5001)
    expect(len(segs) >= 6, f"the host cut it into {len(segs)} segments (8000 bytes, MSS 1400)")
    data = {}
    for ip in segs:
        ihl = (ip[0] & 15) * 4
        tcp = ip[ihl:]
        payload = tcp[(tcp[12] >> 4) * 4:]
        if not l4_ok(ip):
            raise Fail(f"a segment's checksum is wrong: {ip[:60].hex()}")
        if len(payload) > 1400:
            raise Fail(f"a segment carries {len(payload)} bytes, above the MSS")
        data[struct.unpack("!I", tcp[4:8])[0]] = payload
    stream = b"".join(data[s] for s in sorted(data))
    expect(min(data) == 1000 and stream == pattern(8000),
           "each segment's IP and TCP checksums correct, contiguous from seq 1000, "
           "the 8000 bytes intact")


def check_csum(g, tap1):
    expect(g.command(f"csum {PEER} 5002 1000") == "ok csum",
           "guest sent a UDP datagram with a partial checksum")
    got = tap1.ipv4(17, 5002)
    expect(len(got) == 1, "it arrived on the host")
    ip = got[0]
    ihl = (ip[0] & 15) * 4
    expect(struct.unpack("!H", ip[ihl + 6:ihl + 8])[0] != 0 and l4_ok(ip),
           "its UDP checksum was completed and is correct")
    expect(ip[ihl + 8:] == pattern(1000), "its 1000 bytes are intact")


def check_echo(g, max_udp):
    rnd = random.Random(1)
    for n in range(1, max_udp + 1):
        payload = bytes(rnd.getrandbits(8) for _ in range(n))
        back = g.echo(payload)
        if back != payload:
            raise Fail(f"UDP echo of {n} bytes: got "
                       f"{'nothing' if back is None else f'{len(back)} bytes that differ'}")
    expect(True, f"UDP echo of every size 1..{max_udp}, byte for byte")


def check_flows(g, n):
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("10.0.0.1", 0))
        socks.append(s)
    for rep in range(4):
        for i, s in enumerate(socks):
            p = struct.pack("!HH", i, rep) * 8
            if g.echo(p, sock=s) != p:
                raise Fail(f"flow {i} round {rep}: no echo")
    for s in socks:
        s.close()
    expect(True, f"{n} flows (source ports) echoed 4 times each")


def check_filter(q, g, nic):
    q.events = [e for e in q.events if e["event"] != "NIC_RX_FILTER_CHANGED"]
    expect(g.command("filter") == "ok filter", "guest set a MAC table and promiscuous off")
    ev = q.wait_event("NIC_RX_FILTER_CHANGED", timeout=5.0)
    expect(set(ev["data"]) == {"name", "path"} and ev["data"]["name"] == nic and
           ev["data"]["path"].startswith("/machine/"),
           f"NIC_RX_FILTER_CHANGED for {nic}")
    f = q.cmd("query-rx-filter", {"name": nic})["return"][0]
    expect(f["promiscuous"] is False, "query-rx-filter: promiscuous false")
    expect(f["unicast-table"] == ["52:54:00:aa:bb:cc"] and
           f["multicast-table"] == ["01:00:5e:00:00:fb"],
           "query-rx-filter: the guest's unicast and multicast tables")
    expect(g.echo(b"after filter") == b"after filter", "own address still gets through")


def check_link(q, g, nic):
    r = q.cmd("set_link", {"name": "no-such-nic", "up": False})
    expect(qh.error_class(r) == "DeviceNotFound", "set_link on an unknown name: DeviceNotFound")
    expect(q.cmd("set_link", {"name": nic, "up": False}) == {"return": {}}, "set_link down")
    wait_console(g.console, "net-test: link down", 5.0)
    expect(True, "the guest saw the link go down")
    expect(g.echo(b"while down", tries=1) is None, "no echo while the link is down")
    expect(q.cmd("set_link", {"name": nic, "up": True}) == {"return": {}}, "set_link up")
    wait_console(g.console, "net-test: link up", 5.0)
    expect(True, "the guest saw the link come back")
    expect(g.echo(b"up again") == b"up again", "echo works again")


def start(a):
    tap1 = Tap1(a.tap1)
    wait_console(a.console, "net-test: ready")
    q = QMP(a.sock)
    q.negotiate()
    return tap1, q, Guest(a.console)


def scenario_run(a):
    tap1, q, g = start(a)
    check_pci(q)
    f = q.cmd("query-rx-filter", {"name": a.nic})["return"]
    expect(len(f) == 1 and f[0]["name"] == a.nic and f[0]["promiscuous"] is True,
           f"query-rx-filter {a.nic}: promiscuous after reset")
    expect(set(f[0]) == RX_FILTER_KEYS, "its RxFilterInfo has QEMU's members")
    r = q.cmd("query-rx-filter", {"name": "nope"})
    expect(qh.error_class(r) == "GenericError", "query-rx-filter of an unknown name: GenericError")
    p = subprocess.run(["ping", "-c", "3", "-W", "2", GUEST],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    expect(p.returncode == 0, "ping answered (ARP and ICMP echo)")
    check_echo(g, a.max_udp)
    if a.flows:
        check_flows(g, a.flows)
    check_tso(g, tap1)
    check_csum(g, tap1)
    check_filter(q, g, a.nic)
    check_link(q, g, a.nic)
    expect(g.command("quit") == "ok quit", "guest quits")


def scenario_save(a):
    _, q, g = start(a)
    expect(g.command("filter") == "ok filter", "guest set its receive filter")
    expect(g.echo(b"before") == b"before", "echo before the save")
    expect(q.cmd("stop") == {"return": {}}, "stop")
    expect(q.cmd("x-tern-state-save", {"path": a.path}) == {"return": {}}, "state saved")
    q.cmd("quit")


def scenario_restore(a):
    tap1 = Tap1(a.tap1)
    q = QMP(a.sock)
    q.negotiate()
    expect(q.cmd("query-status")["return"]["status"] == "prelaunch", "the twin waits in prelaunch")
    expect(q.cmd("x-tern-state-load", {"path": a.path}) == {"return": {}}, "state loaded")
    again = a.path + ".again"
    expect(q.cmd("x-tern-state-save", {"path": again}) == {"return": {}}, "saved again")
    first, second = open(a.path, "rb").read(), open(again, "rb").read()
    n = 24 + struct.unpack("<Q", first[16:24])[0] + 4
    expect(first[:n] == second[:n], f"load then save: the {n}-byte state is identical")
    f = q.cmd("query-rx-filter", {"name": a.nic})["return"][0]
    expect(f["promiscuous"] is False and f["unicast-table"] == ["52:54:00:aa:bb:cc"] and
           f["multicast-table"] == ["01:00:5e:00:00:fb"],
           "the guest's receive filter came back with the state")
    expect(q.cmd("cont") == {"return": {}}, "cont")
    g = Guest(a.console)
    check_echo(g, 300)
    check_csum(g, tap1)
    expect(g.command("quit") == "ok quit", "the restored guest quits")


def scenario_fd(args):
    """Open tap0 as a launcher would and hand tern the fd (--net fd=N)."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"tap0",
                                           IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
    # Only the --net value names the fd: a path may hold "FD" too (a
    # mktemp name did once, and its console file went missing).
    p = subprocess.Popen([re.sub(r"^fd=FD(?=,|$)", f"fd={fd}", x) for x in args],
                         pass_fds=[fd])
    os.close(fd)
    return p.wait()


def main(argv):
    if argv and argv[0] == "fd":
        return scenario_fd(argv[1:])
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["run", "save", "restore"])
    ap.add_argument("console")
    ap.add_argument("sock")
    ap.add_argument("--path")
    ap.add_argument("--max-udp", type=int, default=1472)
    ap.add_argument("--flows", type=int, default=0)
    ap.add_argument("--nic", default="net0")
    ap.add_argument("--tap1", default="tap1")
    a = ap.parse_args(argv)
    try:
        {"run": scenario_run, "save": scenario_save,
         "restore": scenario_restore}[a.scenario](a)
    except (Fail, OSError, KeyError, IndexError, TypeError) as e:
        print(f"FAIL: {e!r}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
