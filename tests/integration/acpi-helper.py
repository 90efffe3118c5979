#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ACPI scenarios for tests/integration/acpi.sh, over QMP.

Reuses qmp-helper.py's QMP client. Each scenario prints what it checked and
exits 0, or prints the first failed expectation and exits 1.

    acpi-helper.py press SOCK CONSOLE        system_powerdown -> S5
    acpi-helper.py stopped SOCK CONSOLE      pressed while stopped, heard at cont
    acpi-helper.py save SOCK CONSOLE SNAP    pressed while stopped, then saved
    acpi-helper.py restore SOCK SNAP         loaded into a --paused twin, cont
    acpi-helper.py ignored SOCK              a guest without ACPI keeps running
    acpi-helper.py dump SNAP DIR             the tables in a snapshot's RAM
"""
import importlib.util
import os
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "qmp_helper", os.path.join(os.path.dirname(__file__), "qmp-helper.py"))
qh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qh)
QMP, Fail, expect = qh.QMP, qh.Fail, qh.expect

WAITING = "acpi-test: waiting for the power button"
PRESSED = "acpi-test: GED event"


def lines(path, prefix):
    with open(path, errors="replace") as f:
        return [l for l in f.read().splitlines() if l.startswith(prefix)]


def wait_line(path, prefix, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not lines(path, prefix):
        if time.monotonic() > deadline:
            raise Fail(f"no '{prefix}' line within {timeout} s")
        time.sleep(0.02)


def ok_cmd(q, name, args=None):
    r = q.cmd(name, args)
    if r != {"return": {}}:
        raise Fail(f"{name}: {r}")


def press(q):
    """system_powerdown: POWERDOWN before the reply, as QEMU 7.2 sends it."""
    q.send_raw(b'{"execute": "system_powerdown"}\n')
    first = q.recv()
    expect(first is not None and first.get("event") == "POWERDOWN"
           and "data" not in first and "timestamp" in first,
           "system_powerdown: POWERDOWN (no data) comes first")
    expect(q.reply() == {"return": {}}, "system_powerdown returns {}")


def expect_guest_shutdown(q):
    ev = q.wait_event("SHUTDOWN", timeout=10)
    expect(ev.get("data") == {"guest": True, "reason": "guest-shutdown"},
           f"SHUTDOWN {ev.get('data')}, as QEMU reports an ACPI power-off")


def scenario_press(sock, console):
    q = QMP(sock)
    q.negotiate()
    wait_line(console, WAITING)
    # Bad input first: an error, and the VM keeps running.
    r = q.cmd("system_powerdown", {"force": True})
    expect(r.get("error", {}).get("class") == "GenericError",
           "system_powerdown with an argument: GenericError")
    r = q.cmd("query-status")
    expect(r["return"]["status"] == "running", "the VM still runs")
    expect(not lines(console, PRESSED), "and the guest heard nothing")
    t = time.monotonic()
    press(q)
    expect_guest_shutdown(q)
    wait_line(console, PRESSED)
    expect(True, f"press to SHUTDOWN in {(time.monotonic() - t) * 1000:.0f} ms")


def scenario_stopped(sock, console):
    q = QMP(sock)
    q.negotiate()
    wait_line(console, WAITING)
    ok_cmd(q, "stop")
    press(q)
    time.sleep(0.5)
    expect(not lines(console, PRESSED) and
           q.cmd("query-status")["return"]["status"] == "paused",
           "pressed while stopped: nothing reaches the guest")
    ok_cmd(q, "cont")
    expect_guest_shutdown(q)
    wait_line(console, PRESSED, timeout=5)
    expect(len(lines(console, PRESSED)) == 1,
           "at cont the guest got one interrupt and the button event")


def scenario_save(sock, console, path):
    q = QMP(sock)
    q.negotiate()
    wait_line(console, WAITING)
    ok_cmd(q, "stop")
    press(q)
    ok_cmd(q, "x-tern-state-save", {"path": path})
    expect(not lines(console, PRESSED), "saved with the press pending")
    q.cmd("quit")


def scenario_restore(sock, path):
    q = QMP(sock)
    q.negotiate()
    ok_cmd(q, "x-tern-state-load", {"path": path})
    ok_cmd(q, "cont")
    expect_guest_shutdown(q)


def scenario_ignored(sock):
    q = QMP(sock)
    q.negotiate()
    press(q)
    time.sleep(0.5)
    r = q.cmd("query-status")
    expect(r["return"]["status"] == "running",
           "a guest that ignores the button keeps running")
    press(q)
    q.cmd("quit")


def state_len(snap):
    with open(snap, "rb") as f:
        hdr = f.read(24)
    return 24 + int.from_bytes(hdr[16:24], "little") + 4


def scenario_dump(snap, out):
    """Write each table as SIG.dat, found as a guest finds them: the RSDP
    by its signature in 0xe0000-0xfffff, then XSDT -> tables, FADT -> DSDT.
    The snapshot's RAM starts at guest physical 0."""
    with open(snap, "rb") as f:
        data = f.read()
    ram = data[state_len(snap):]

    def rd(a, n):
        return int.from_bytes(ram[a:a + n], "little")

    def save(sig, a, n):
        with open(os.path.join(out, sig + ".dat"), "wb") as f:
            f.write(ram[a:a + n])
        print(f"  {sig} at {a:#x}, {n} bytes")

    rsdp = next((a for a in range(0xe0000, 0x100000, 16)
                 if ram[a:a + 8] == b"RSD PTR "), None)
    expect(rsdp is not None, "an RSDP in the BIOS area of the saved RAM")
    # Not a table with a header, so iasl has nothing to say about it.
    expect(sum(ram[rsdp:rsdp + 20]) % 256 == 0 and
           sum(ram[rsdp:rsdp + 36]) % 256 == 0,
           f"the RSDP at {rsdp:#x}: both checksums good")
    xsdt = rd(rsdp + 24, 8)
    save("XSDT", xsdt, rd(xsdt + 4, 4))
    for i in range((rd(xsdt + 4, 4) - 36) // 8):
        t = rd(xsdt + 36 + 8 * i, 8)
        sig = ram[t:t + 4].decode()
        save(sig, t, rd(t + 4, 4))
        if sig == "FACP":
            d = rd(t + 140, 8)
            save("DSDT", d, rd(d + 4, 4))


def main(argv):
    scenarios = {"press": scenario_press, "stopped": scenario_stopped,
                 "save": scenario_save, "restore": scenario_restore,
                 "ignored": scenario_ignored, "dump": scenario_dump}
    return qh.run_scenarios(argv, scenarios, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
