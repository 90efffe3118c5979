#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The host side of tests/integration/balloon.sh: drives the balloon-test
guest (firmware/balloon-test.c) over QMP, watches the VMM's VmRSS, and
records every reply and event so that a tern session can be compared with
a QEMU 7.2 session of the same guest.

    balloon-helper.py run SOCK CONSOLE PID RAM_MIB REGION_MIB OUT [FLAG...]
        flags: report (the guest reports free pages), poison (... which
        the host must then keep), period (polling is on from the start,
        --balloon stats-period=1), stopcont (a stop gives the stats
        request back), rss (assert the VmRSS drops; else only print them),
        hugetlb (huge page RAM: HugetlbPages must not move at all)
    balloon-helper.py compare QEMU.json TERN.json
    balloon-helper.py save SOCK CONSOLE STATE RAM_MIB REGION_MIB
    balloon-helper.py restore SOCK CONSOLE STATE OTHER RAM_MIB REGION_MIB

Each prints what it checked and exits 0, or the first failed expectation
and exits 1.
"""
import importlib.util
import json
import os
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "qmp_helper", os.path.join(os.path.dirname(__file__), "qmp-helper.py"))
qh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qh)
QMP, Fail, expect = qh.QMP, qh.Fail, qh.expect

MiB = 1 << 20
UNSET = (1 << 64) - 1
BALLOON = "/machine/peripheral/balloon0"
STAT_NAMES = ["stat-swap-in", "stat-swap-out", "stat-major-faults",
              "stat-minor-faults", "stat-free-memory", "stat-total-memory",
              "stat-available-memory", "stat-disk-caches",
              "stat-htlb-pgalloc", "stat-htlb-pgfail"]


def console_lines(path, prefix):
    with open(path, errors="replace") as f:
        return [l.strip() for l in f if l.startswith(prefix)]


def wait_line(path, prefix, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        got = console_lines(path, prefix)
        if got:
            return got[-1]
        fails = console_lines(path, "RESULT: FAIL")
        if fails:
            raise Fail(f"the guest failed: {fails[0]}")
        if time.monotonic() > deadline:
            raise Fail(f"no '{prefix}' line from the guest in {timeout} s")
        time.sleep(0.02)


def mem_kib(pid, key="VmRSS"):
    """VmRSS (or HugetlbPages: huge pages are not in VmRSS) in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise Fail(f"no {key} for process {pid}")


class Session:
    """A QMP connection that records each step's reply and events."""

    def __init__(self, sock, timeout=10.0):
        self.q = QMP(sock, timeout=timeout)
        self.q.negotiate()
        self.steps = []

    def cmd(self, step, name, args=None):
        r = self.q.cmd(name, args)
        self.steps.append({"step": step, "reply": r, "events": []})
        return r

    def ok(self, step, name, args=None):
        r = self.cmd(step, name, args)
        if "return" not in r:
            raise Fail(f"{step}: {name} {args or ''}: {r}")
        return r["return"]

    def wait_change(self, step, actual, timeout=30.0):
        """Every BALLOON_CHANGE until one says actual; kept with step."""
        deadline = time.monotonic() + timeout
        seen = []
        self.arrived = []  # when each came off the socket, as we wait
        while not seen or seen[-1]["data"]["actual"] != actual:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail(f"{step}: no BALLOON_CHANGE with actual {actual}"
                           f" in {timeout} s (saw {seen})")
            ev = self.q.wait_event("BALLOON_CHANGE", timeout=left)
            self.arrived.append(time.monotonic())
            qh.check_event(ev, "BALLOON_CHANGE")
            seen.append(ev)
        self.steps.append({"step": step, "reply": None, "events": seen})
        return seen


# Bad requests, answered the same by QEMU and tern (error class and text).
BAD = [
    ("balloon 0", "balloon", {"value": 0}),
    ("balloon -1", "balloon", {"value": -1}),
    ("balloon 'x'", "balloon", {"value": "x"}),
    ("balloon 1.5", "balloon", {"value": 1.5}),
    ("balloon 2^64-1", "balloon", {"value": UNSET}),
    ("qom-get an unknown path", "qom-get",
     {"path": "/machine/peripheral/nothing", "property": "guest-stats"}),
    ("qom-get an unknown property", "qom-get",
     {"path": BALLOON, "property": "nope"}),
    ("qom-get an unknown property of the backend", "qom-get",
     {"path": BALLOON + "/virtio-backend", "property": "nope"}),
    ("qom-set guest-stats", "qom-set",
     {"path": BALLOON, "property": "guest-stats", "value": 1}),
    ("qom-set interval 'x'", "qom-set",
     {"path": BALLOON, "property": "guest-stats-polling-interval",
      "value": "x"}),
    ("qom-set interval -1", "qom-set",
     {"path": BALLOON, "property": "guest-stats-polling-interval",
      "value": -1}),
    ("qom-set interval 2^32", "qom-set",
     {"path": BALLOON, "property": "guest-stats-polling-interval",
      "value": 1 << 32}),
    ("qom-set interval null", "qom-set",
     {"path": BALLOON, "property": "guest-stats-polling-interval",
      "value": None}),
]


def check_stats(stats, ram, round_at_least, what):
    expect(set(stats) == {"stats", "last-update"} and
           set(stats["stats"]) == set(STAT_NAMES),
           f"{what}: guest-stats has QEMU's keys")
    s = stats["stats"]
    expect(stats["last-update"] > 1000000000,
           f"{what}: last-update {stats['last-update']} is wall clock time")
    expect(s["stat-swap-in"] >= round_at_least,
           f"{what}: the guest's round {s['stat-swap-in']}"
           f" (at least {round_at_least})")
    expect(ram - 2 * MiB <= s["stat-total-memory"] <= ram,
           f"{what}: stat-total-memory {s['stat-total-memory']}")
    expect(s["stat-available-memory"] == 12345 and
           s["stat-major-faults"] == UNSET,
           f"{what}: values as sent, the unsent ones unset (2^64-1)")


def scenario_run(sock, console, pid, ram_mib, region_mib, out, *flags):
    pid, ram, region = int(pid), int(ram_mib) * MiB, int(region_mib) * MiB
    region_mib = int(region_mib)
    flags = set(flags)
    assert_rss = "rss" in flags
    s = Session(sock)
    ret = s.ok("query-balloon at start", "query-balloon")
    expect(ret == {"actual": ram}, f"query-balloon: all {ram_mib} MiB")
    interval = s.ok("polling interval at start", "qom-get",
                    {"path": BALLOON,
                     "property": "guest-stats-polling-interval"})
    expect(interval == (1 if "period" in flags else 0),
           f"guest-stats-polling-interval {interval} at start")
    for step, name, args in BAD:
        r = s.cmd(step, name, args)
        expect("error" in r, f"{step}: {r.get('error', r)}")

    key = "HugetlbPages" if "hugetlb" in flags else "VmRSS"

    def measure(what, before, sign, mib, stays=False):
        """key now; with rss it moved by >= 90 % of mib the right way, or
        it stays within 10 % when nothing may be given back."""
        time.sleep(0.2)
        now = mem_kib(pid, key)
        moved = (before - now) if sign < 0 else (now - before)
        print(f"  {key} {what}: {before} -> {now} KiB"
              f" ({moved / 1024:+.1f} MiB {'down' if sign < 0 else 'up'},"
              f" {100.0 * moved * 1024 / (mib * MiB):.0f} % of {mib} MiB)")
        if stays or "hugetlb" in flags:
            expect(abs(now - before) * 1024 < 0.1 * mib * MiB,
                   f"{key} {what}: nothing given back")
        elif assert_rss:
            expect(moved * 1024 >= 0.9 * mib * MiB,
                   f"{key} {what}: moved by at least 90 % of {mib} MiB")
        return now

    wait_line(console, "balloon-test: touched")
    rss0 = mem_kib(pid, key)
    # 1: inflate the whole region.
    s.ok("balloon to RAM - region", "balloon", {"value": ram - region})
    s.wait_change("inflated", ram - region)
    wait_line(console, "balloon-test: inflated to")
    rss1 = measure("after inflating", rss0, -1, region_mib)
    ret = s.ok("query-balloon inflated", "query-balloon")
    expect(ret == {"actual": ram - region}, f"query-balloon: {ret}")
    # 2: deflate; the guest touches the pages again.
    s.ok("balloon to all of RAM", "balloon", {"value": ram})
    s.wait_change("deflated", ram)
    wait_line(console, "balloon-test: deflated")
    rss2 = measure("after deflating (the guest touched the pages)", rss1,
                   +1, region_mib)
    stats = s.ok("guest-stats after boot", "qom-get",
                 {"path": BALLOON, "property": "guest-stats"})
    check_stats(stats, ram, 1, "the first statistics")
    # 3: a statistics request starts the reporting phase.
    if "stopcont" in flags:
        s.ok("stop", "stop")
        s.ok("cont", "cont")
        line = wait_line(console, "balloon-test: stats round")
        expect(True, f"a stop gave the stats request back: '{line}'")
    if "period" not in flags:
        s.ok("polling every second", "qom-set",
             {"path": BALLOON, "property": "guest-stats-polling-interval",
              "value": 1})
    wait_line(console, "balloon-test: stats round")
    if "report" in flags:
        wait_line(console, "balloon-test: reported")
        measure("after free page reporting", rss2, -1, region_mib,
                stays="poison" in flags)
    # Polled until round 3 has come: one step, however many polls it took.
    deadline = time.monotonic() + 10
    while True:
        r = s.q.cmd("qom-get", {"path": BALLOON, "property": "guest-stats"})
        if "return" not in r:
            raise Fail(f"qom-get guest-stats: {r}")
        if r["return"]["stats"]["stat-swap-in"] >= 3 or \
                time.monotonic() > deadline:
            break
        time.sleep(0.2)
    s.steps.append({"step": "guest-stats polled", "reply": r, "events": []})
    check_stats(r["return"], ram, 3, "polled statistics")
    s.ok("polling off", "qom-set",
         {"path": BALLOON, "property": "guest-stats-polling-interval",
          "value": 0})
    # 4: the last target, then all back; the guest then ends (its last
    # BALLOON_CHANGE may not make it out before the VMM exits).
    # The guest sets `actual` twice in a row: the first event goes out at
    # once (the last was more than a period ago), the second waits out
    # the one-second period QEMU gives BALLOON_CHANGE.
    time.sleep(1.1)
    s.ok("balloon to RAM - 8 MiB", "balloon", {"value": ram - 8 * MiB})
    evs = s.wait_change("last inflate", ram - 8 * MiB)
    expect([e["data"]["actual"] for e in evs] == [ram - 4 * MiB, ram - 8 * MiB]
           and s.arrived[1] - s.arrived[0] >= 0.9,
           f"two changes at once: two events, {s.arrived[1] - s.arrived[0]:.2f}"
           " s apart")
    s.ok("balloon back to all of RAM", "balloon", {"value": ram})
    with open(out, "w") as f:
        json.dump(s.steps, f, indent=1)


# Compared exactly between QEMU and tern; the rest by keys and JSON types.
EXACT_STEPS = ("query-balloon", "inflated", "deflated", "last inflate",
               "polling interval")


def scenario_compare(first, second):
    with open(first) as f:
        a = json.load(f)
    with open(second) as f:
        b = json.load(f)
    expect([x["step"] for x in a] == [x["step"] for x in b],
           f"both sessions took the same {len(a)} steps")
    for x, y in zip(a, b):
        diffs = []
        qh.compare(x["reply"], y["reply"], "", diffs)
        if x["reply"] and "error" in x["reply"] and x["reply"] != y["reply"]:
            diffs.append(f"{x['reply']} vs {y['reply']}")
        if x["step"].startswith(EXACT_STEPS) and x["reply"] != y["reply"]:
            diffs.append(f"{x['reply']} vs {y['reply']}")
        ea = [e.get("data") for e in x["events"]]
        eb = [e.get("data") for e in y["events"]]
        if ea != eb:
            diffs.append(f"BALLOON_CHANGE {ea} vs {eb}")
        for e, f in zip(x["events"], y["events"]):
            qh.compare(e, f, "", diffs)
        expect(not diffs, f"{x['step']}: {'; '.join(diffs) or 'same'}")


def scenario_save(sock, console, state, ram_mib, region_mib):
    """Inflated, then saved while stopped; the twin goes on from there."""
    ram, region = int(ram_mib) * MiB, int(region_mib) * MiB
    # A snapshot writes all of RAM to a file: give a busy host time.
    s = Session(sock, timeout=60.0)
    wait_line(console, "balloon-test: touched")
    s.ok("balloon", "balloon", {"value": ram - region})
    s.wait_change("inflated", ram - region)
    wait_line(console, "balloon-test: inflated to")
    s.ok("polling", "qom-set", {"path": BALLOON,
                                "property": "guest-stats-polling-interval",
                                "value": 1})
    # Polling is on; the first request went back, round 2 came in.
    deadline = time.monotonic() + 10
    while s.ok("stats", "qom-get", {"path": BALLOON,
                                    "property": "guest-stats"}
               )["stats"]["stat-swap-in"] < 2:
        if time.monotonic() > deadline:
            raise Fail("no second round of statistics")
        time.sleep(0.1)
    # Polling off again, a target set while stopped: both go in the state.
    s.ok("polling off", "qom-set",
         {"path": BALLOON, "property": "guest-stats-polling-interval",
          "value": 0})
    s.ok("stop", "stop")
    s.ok("balloon while stopped", "balloon", {"value": ram})
    s.ok("save", "x-tern-state-save", {"path": state})
    expect(True, "saved, inflated, with a target of all of RAM pending")
    s.q.cmd("quit")


def scenario_restore(sock, console, state, other, ram_mib, region_mib):
    ram, region = int(ram_mib) * MiB, int(region_mib) * MiB
    s = Session(sock, timeout=60.0)
    s.ok("load", "x-tern-state-load", {"path": state})
    s.ok("save again", "x-tern-state-save", {"path": other})
    n = 24 + int.from_bytes(open(state, "rb").read(24)[16:24], "little") + 4
    expect(open(state, "rb").read(n) == open(other, "rb").read(n),
           f"load then save: the {n}-byte state is identical")
    ret = s.ok("query-balloon", "query-balloon")
    expect(ret == {"actual": ram - region},
           f"the loaded balloon holds the region: {ret}")
    stats = s.ok("stats", "qom-get", {"path": BALLOON,
                                      "property": "guest-stats"})
    expect(stats["stats"]["stat-swap-in"] >= 2,
           f"the loaded statistics: round {stats['stats']['stat-swap-in']}")
    s.ok("cont", "cont")
    # The pending target reaches the guest now: it deflates.
    s.wait_change("deflated", ram)
    wait_line(console, "balloon-test: deflated")
    expect(True, "after cont the guest got the target and deflated")
    s.ok("polling", "qom-set", {"path": BALLOON,
                                "property": "guest-stats-polling-interval",
                                "value": 1})
    wait_line(console, "balloon-test: stats round")
    s.ok("balloon", "balloon", {"value": ram - 8 * MiB})
    s.wait_change("last inflate", ram - 8 * MiB)
    s.ok("balloon back", "balloon", {"value": ram})


def main(argv):
    scenarios = {"run": scenario_run, "compare": scenario_compare,
                 "save": scenario_save, "restore": scenario_restore}
    return qh.run_scenarios(argv, scenarios, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
