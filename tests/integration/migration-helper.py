#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Live migration scenarios for tests/integration/migration.sh.

Each scenario starts its VMs (the real tern binary), drives them over QMP
with QEMU's migration commands, and checks the guests' own verdicts. It
prints what it checked and exits 0, or prints the first failed
expectation and exits 1, or 77 when the host lacks something it needs.

    migration-helper.py SCENARIO TERN FW TMP [ARGS...]
"""
import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

_spec = importlib.util.spec_from_file_location(
    "qmp_helper", os.path.join(os.path.dirname(__file__), "qmp-helper.py"))
qh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qh)
QMP, Fail, expect = qh.QMP, qh.Fail, qh.expect


class Skip(Exception):
    pass


# mig-test: 32 MiB dirtied at 20000 pages/s, a pass every ~0.4 s.
MIGTEST = ["--memory", "128M", "--cmdline", "mem=32 rate=20000"]
# Slower (a pass every 4 s): pages dirtied early in a pass stay untouched
# long enough for a stale copy of them on the destination to be seen.
MIGTEST_SLOW = ["--memory", "128M", "--cmdline", "mem=64 rate=4000"]


class VM:
    """One tern, console in a file, QMP negotiated; killed at the end."""

    all = []

    def __init__(self, env, name, args, netns=None, wait_qmp=True):
        self.name = name
        self.sock = os.path.join(env.tmp, name + ".sock")
        self.console = os.path.join(env.tmp, name + ".log")
        self.errpath = os.path.join(env.tmp, name + ".err")
        cmd = [env.tern, "run", "--console", "file=" + self.console,
               "--qmp", "unix:" + self.sock] + args
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        with open(self.errpath, "w") as err:
            self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=err)
        VM.all.append(self)
        self.q = None
        if wait_qmp:
            self.connect()

    def connect(self):
        deadline = time.monotonic() + 20
        while not os.path.exists(self.sock):
            if self.p.poll() is not None:
                raise Fail(f"{self.name} exited {self.p.returncode}: {self.err()}")
            if time.monotonic() > deadline:
                raise Fail(f"{self.name}: no QMP socket")
            time.sleep(0.02)
        self.q = QMP(self.sock, timeout=20)
        self.q.negotiate()

    def err(self):
        with open(self.errpath, errors="replace") as f:
            return f.read().strip()

    def lines(self, prefix):
        """Complete lines only: the console may be in the middle of one."""
        try:
            with open(self.console, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        return [l for l in text[:text.rfind("\n") + 1].splitlines()
                if l.startswith(prefix)]

    def wait_lines(self, prefix, n, timeout=30):
        deadline = time.monotonic() + timeout
        while len(self.lines(prefix)) < n:
            if self.p.poll() is not None:
                raise Fail(f"{self.name} exited {self.p.returncode} waiting for '{prefix}': {self.err()}")
            if time.monotonic() > deadline:
                raise Fail(f"{self.name}: {len(self.lines(prefix))} '{prefix}' lines, wanted {n}")
            time.sleep(0.02)

    def cmd(self, name, args=None):
        return self.q.cmd(name, args)

    def ok(self, name, args=None):
        r = self.cmd(name, args)
        if r != {"return": {}}:
            raise Fail(f"{self.name}: {name} {args or ''}: {r}")

    def wait_exit(self, timeout=30):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Fail(f"{self.name} did not exit within {timeout} s")

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


class Env:
    def __init__(self, tern, fw, tmp):
        self.tern, self.fw, self.tmp = tern, fw, tmp
        self.port = 20000 + os.getpid() % 20000

    def next_port(self):
        self.port += 1
        return self.port

    def kernel(self, name):
        return ["--kernel", os.path.join(self.fw, name + ".elf")]


def caps(vm, *names):
    vm.ok("migrate-set-capabilities",
          {"capabilities": [{"capability": c, "state": True} for c in names]})


def status(vm):
    return vm.cmd("query-migrate")["return"].get("status")


def wait_status(vm, want, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        info = vm.cmd("query-migrate")["return"]
        if info.get("status") in want:
            return info
        if time.monotonic() > deadline:
            why = f" (error-desc: {info['error-desc']})" if "error-desc" in info else ""
            raise Fail(f"{vm.name}: status {info.get('status')}{why}, waited for {want}")
        time.sleep(0.02)


def passes(vm):
    return [int(l.split()[2]) for l in vm.lines("mig-test: pass ")]


def expect_verifying(vm, more=2, timeout=60):
    """mig-test checked every page `more` times over since now, no FAIL."""
    seen = len(passes(vm))
    vm.wait_lines("mig-test: pass ", seen + more, timeout)
    got = passes(vm)
    expect(not vm.lines("RESULT: FAIL"),
           f"{vm.name}: {len(got) - seen} more passes verified every page "
           f"(generations {got[seen]}..{got[-1]}), no page from a wrong pass")


def expect_no_fail(vm):
    bad = vm.lines("RESULT: FAIL")
    if bad:
        raise Fail(f"{vm.name}: {bad[0]}")


class Proxy:
    """A TCP relay we can cut (kill) or make flip one byte after N bytes."""

    def __init__(self, listen_port, target_port, corrupt_at=None):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", listen_port))
        self.ls.listen(4)
        self.target, self.corrupt_at = target_port, corrupt_at
        self.conns, self.forwarded, self.dead = [], 0, False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.dead:
            try:
                a, _ = self.ls.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [a, b]
            threading.Thread(target=self.pump, args=(a, b, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(b, a, False), daemon=True).start()

    def pump(self, src, dst, forward):
        try:
            while not self.dead:
                data = src.recv(65536)
                if not data:
                    break
                if forward and self.corrupt_at is not None and \
                        self.forwarded <= self.corrupt_at < self.forwarded + len(data):
                    i = self.corrupt_at - self.forwarded
                    data = data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1:]
                if forward:
                    self.forwarded += len(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def kill(self):
        """The link breaks: both ends see it at once (RST)."""
        self.dead = True
        for s in self.conns + [self.ls]:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                # shutdown() wakes the pump blocked in recv(); close() alone does not.
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class Netns:
    """Two network namespaces ("hosts") joined by a veth pair."""

    def __init__(self):
        tag = str(os.getpid())[-5:]
        self.a, self.b = f"tern-mig-a{tag}", f"tern-mig-b{tag}"
        self.va, self.vb = f"tmiga{tag}", f"tmigb{tag}"
        self.ip_b = "10.213.7.2"
        cmds = [["ip", "netns", "add", self.a], ["ip", "netns", "add", self.b],
                ["ip", "link", "add", self.va, "type", "veth", "peer", "name", self.vb],
                ["ip", "link", "set", self.va, "netns", self.a],
                ["ip", "link", "set", self.vb, "netns", self.b],
                ["ip", "-n", self.a, "addr", "add", "10.213.7.1/24", "dev", self.va],
                ["ip", "-n", self.b, "addr", "add", self.ip_b + "/24", "dev", self.vb],
                ["ip", "-n", self.a, "link", "set", self.va, "up"],
                ["ip", "-n", self.b, "link", "set", self.vb, "up"],
                ["ip", "-n", self.a, "link", "set", "lo", "up"],
                ["ip", "-n", self.b, "link", "set", "lo", "up"]]
        for c in cmds:
            r = subprocess.run(c, capture_output=True, text=True)
            if r.returncode:
                self.close()
                raise Skip(f"cannot build two network namespaces: {' '.join(c)}: {r.stderr.strip()}")

    def link(self, up):
        subprocess.run(["ip", "-n", self.b, "link", "set", self.vb,
                        "up" if up else "down"], check=True)

    def close(self):
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def migrate_and_wait(src, uri, postcopy=False, params=None, late=False):
    """late: switch to post-copy only after the first pass (QEMU's advice),
    while pages of the second are in flight."""
    if params:
        src.ok("migrate-set-parameters", params)
    src.ok("migrate", {"uri": uri})
    if postcopy and late:
        deadline = time.monotonic() + 60
        while src.cmd("query-migrate")["return"].get("ram", {}).get("dirty-sync-count", 0) < 2:
            if time.monotonic() > deadline:
                raise Fail("the first pass did not end")
            time.sleep(0.002)
    if postcopy:
        src.ok("migrate-start-postcopy")
    info = wait_status(src, {"completed", "failed", "cancelled"}, 120)
    if info["status"] != "completed":
        raise Fail(f"the migration ended {info}")
    return info


def scenario_basic(env, transport="unix", mode="precopy"):
    """counter: states, events, the count goes on (unix:, or between netns)."""
    ns = Netns() if transport == "netns" else None
    path = os.path.join(env.tmp, "mig.sock")
    uri = f"tcp:{ns.ip_b}:{env.next_port()}" if ns else "unix:" + path
    src = VM(env, "src", env.kernel("counter"), ns and ns.a)
    dst = VM(env, "dst", env.kernel("counter") + ["--incoming", uri], ns and ns.b)
    try:
        basic_run(env, src, dst, uri, mode)
    finally:
        for vm in VM.all:
            vm.kill()
        if ns:
            ns.close()


def mig_threads(vm):
    """The migration threads of a tern: (name, seccomp mode) each."""
    out = []
    for t in os.listdir(f"/proc/{vm.p.pid}/task"):
        with open(f"/proc/{vm.p.pid}/task/{t}/comm") as f:
            name = f.read().strip()
        with open(f"/proc/{vm.p.pid}/task/{t}/status") as f:
            mode = [l.split()[1] for l in f if l.startswith("Seccomp:")][0]
        if name.startswith("tern-mig"):
            out.append((name, mode))
    return sorted(out)


def basic_run(env, src, dst, uri, mode):
    expect(dst.cmd("query-status")["return"]["status"] == "inmigrate",
           "the destination waits in inmigrate")
    r = dst.cmd("query-migrate")["return"]
    want = ({"type": "unix", "path": uri[5:]} if uri.startswith("unix:") else
            {"type": "inet", "host": uri.split(":")[1], "port": uri.split(":")[2]})
    expect(r.get("socket-address") == [want],
           f"query-migrate on the destination shows where it listens: {want}")
    for vm in (src, dst):
        caps(vm, "events")
    src.wait_lines("counter: ", 3)
    if mode == "postcopy":
        caps(src, "postcopy-ram")
    info = migrate_and_wait(src, uri, mode == "postcopy")
    expect("downtime" in info and "ram" in info and info["ram"]["remaining"] == 0,
           f"completed: {info['total-time']} ms in all, downtime {info['downtime']} ms, "
           f"{info['ram']['transferred']} bytes")
    # Made before the sandbox sealed, each under the migration filter.
    for vm in (src, dst):
        th = mig_threads(vm)
        expect(len(th) == 4 and all(m == "2" for _, m in th),
               f"{vm.name}: four migration threads, each filtered: {th}")
    expect(src.cmd("query-status")["return"]["status"] == "postmigrate",
           "the source stays stopped in postmigrate")
    expect(dst.cmd("query-status")["return"]["status"] == "running",
           "the destination runs")
    src.q.drain(0.3)
    dst.q.drain(0.3)
    migs = [e["data"]["status"] for e in src.q.events if e["event"] == "MIGRATION"]
    names = [e["event"] for e in src.q.events]
    want = ["setup", "active"] + (["postcopy-active"] if mode == "postcopy" else [])
    expect(migs == want + ["completed"] and "STOP" in names and
           "MIGRATION_PASS" in names,
           f"source events: MIGRATION {migs}, STOP, MIGRATION_PASS")
    migs = [e["data"]["status"] for e in dst.q.events if e["event"] == "MIGRATION"]
    expect(migs[-2:] == [want[-1], "completed"] and
           "RESUME" in [e["event"] for e in dst.q.events],
           f"destination events: MIGRATION {migs}, RESUME")
    dst.wait_lines("counter: ", 3)
    # A line may start there and end here (the guest stopped in the middle
    # of printing it): the two consoles together must count without a gap.
    with open(src.console) as a, open(dst.console) as b:
        both = (a.read() + b.read()).splitlines()
    nums = [int(l.split()[1]) for l in both
            if l.startswith("counter: ") and l.split()[1].isdigit()]
    here = len([l for l in dst.lines("counter: ")])
    expect(nums == list(range(nums[0], nums[0] + len(nums))) and here >= 3,
           f"the destination counts on, no line lost or twice: {nums[0]}..{nums[-1]}, "
           f"the last {here} here")
    r = src.cmd("migrate", {"uri": uri})
    expect(r.get("error", {}).get("desc") ==
           "Can't migrate the vm that was paused due to previous migration",
           "a second migrate from postmigrate is refused, as QEMU does")


def scenario_migtest(env, mode, transport):
    """mig-test pre-copy or post-copy over unix:, tcp: or between netns.
    mode: precopy, postcopy (from the start), postcopy-late (after a pass)."""
    ns = Netns() if transport == "netns" else None
    try:
        port = env.next_port()
        if transport == "unix":
            uri = "unix:" + os.path.join(env.tmp, "mig.sock")
        else:
            uri = f"tcp:{ns.ip_b if ns else '127.0.0.1'}:{port}"
        guest = MIGTEST_SLOW if mode == "postcopy-late" else MIGTEST
        src = VM(env, "src", env.kernel("mig-test") + guest, ns and ns.a)
        dst = VM(env, "dst", env.kernel("mig-test") + guest + ["--incoming", uri],
                 ns and ns.b)
        src.wait_lines("mig-test: pass ", 2)
        post = mode.startswith("postcopy")
        caps(src, "events", *(["postcopy-ram"] if post else []))
        # Late: the second pass must last long enough (tens of ms, at
        # 128 MiB/s) for migrate-start-postcopy to land in it, or pre-copy
        # may converge before the command arrives.
        late = mode == "postcopy-late"
        info = migrate_and_wait(src, uri, post,
                                {"max-bandwidth": (128 << 20) if late else (8 << 30)},
                                late=late)
        expect(True, f"{mode} over {transport} completed: {info['total-time']} ms, "
               f"downtime {info['downtime']} ms, {info['ram']['transferred'] >> 20} MiB, "
               f"{info['ram']['postcopy-requests']} page requests")
        expect(wait_status(dst, {"completed"})["status"] == "completed",
               "the destination completed")
        expect_verifying(dst, 2)
        expect_no_fail(src)
    finally:
        for vm in VM.all:
            vm.kill()
        if ns:
            ns.close()


def rss_anon_mib(vm):
    with open(f"/proc/{vm.p.pid}/status") as f:
        return [int(l.split()[1]) for l in f if l.startswith("RssAnon:")][0] >> 10


def scenario_warm(env, mode):
    """A destination populates its RAM while it waits for the stream; the
    pages it then never receives must not read as zero: mig-test verifies
    every page, and post-copy from the start leaves most of them missing."""
    uri = f"tcp:127.0.0.1:{env.next_port()}"
    try:
        src = VM(env, "src", env.kernel("mig-test") + MIGTEST)
        dst = VM(env, "dst", env.kernel("mig-test") + MIGTEST + ["--incoming", uri])
        deadline = time.monotonic() + 30
        while rss_anon_mib(dst) < 128:
            if time.monotonic() > deadline:
                raise Fail(f"dst: {rss_anon_mib(dst)} MiB of anonymous memory after 30 s "
                           "waiting, not the guest's 128 MiB: RAM not populated")
            time.sleep(0.05)
        expect(dst.cmd("query-status")["return"]["status"] == "inmigrate",
               f"the destination populated its 128 MiB while waiting "
               f"({rss_anon_mib(dst)} MiB anonymous), still inmigrate")
        src.wait_lines("mig-test: pass ", 2)
        post = mode == "postcopy"
        caps(src, "events", *(["postcopy-ram"] if post else []))
        # Post-copy: a slow first pass, so the switch comes early in it and
        # most pages are still to come (populated here, so dropped first).
        info = migrate_and_wait(src, uri, post,
                                {"max-bandwidth": (16 << 20) if post else (8 << 30)})
        ram = info["ram"]
        expect(not post or ram["postcopy-bytes"] > ram["precopy-bytes"],
               f"{mode} completed: {info['total-time']} ms, "
               f"{ram['transferred'] >> 20} MiB ({ram['precopy-bytes'] >> 20} before "
               f"the switch, {ram['postcopy-bytes'] >> 20} after), "
               f"{ram['postcopy-requests']} page requests")
        expect(wait_status(dst, {"completed"})["status"] == "completed",
               "the destination completed")
        expect_verifying(dst, 2)
        expect_no_fail(src)
    finally:
        for vm in VM.all:
            vm.kill()


def scenario_disk(env, mode):
    """blk-bench writing and verifying a shared disk while it migrates."""
    img = os.path.join(env.tmp, "disk.img")
    check = os.path.join(os.path.dirname(__file__), "blk-check.py")
    subprocess.run([sys.executable, check, "--make", img, "16"], check=True)
    args = env.kernel("blk-bench") + [
        "--test-exit", "--disk", "path=" + img, "--cmdline",
        "ring=split mode=randwrite,randread,randwrite,randread qd=32 ios=40000 verify=1"]
    path = os.path.join(env.tmp, "mig.sock")
    src = VM(env, "src", args)
    dst = VM(env, "dst", args + ["--incoming", "unix:" + path])
    src.wait_lines("BENCH ", 1, timeout=90)
    if mode == "postcopy":
        caps(src, "postcopy-ram")
    migrate_and_wait(src, "unix:" + path, mode == "postcopy")
    expect(True, f"{mode}: migrated after {len(src.lines('BENCH '))} runs of four, "
           "requests in flight")
    rc = dst.wait_exit(120)
    expect(rc == 1 and dst.lines("RESULT: ") == ["RESULT: PASS"],
           f"the destination finished blk-bench: {dst.lines('RESULT: ')}, every read verified")
    none = os.path.join(env.tmp, "none")
    open(none, "w").close()
    r = subprocess.run([sys.executable, check, img, none], capture_output=True, text=True)
    expect(r.returncode == 0, f"the image holds the pattern: {r.stdout.strip()}{r.stderr.strip()}")


def scenario_snapshot(env):
    """migrate file: of a running mig-test, then --incoming file: goes on."""
    snap = os.path.join(env.tmp, "snap")
    src = VM(env, "src", env.kernel("mig-test") + MIGTEST)
    src.wait_lines("mig-test: pass ", 2)
    info = migrate_and_wait(src, "file:" + snap)
    expect(src.cmd("query-status")["return"]["status"] == "postmigrate",
           f"snapshot of {os.path.getsize(snap) >> 20} MiB ({os.stat(snap).st_blocks >> 11} MiB "
           f"on disk) in {info['total-time']} ms; the VM stays stopped")
    src.ok("cont")
    expect_verifying(src, 1)
    src.ok("quit")
    src.wait_exit()
    dst = VM(env, "dst", env.kernel("mig-test") + MIGTEST + ["--incoming", "file:" + snap])
    expect(dst.cmd("query-migrate")["return"].get("status") == "completed",
           "the snapshot is restored")
    expect_verifying(dst, 2)


def proxied(env, extra_caps=(), corrupt_at=None, guest=MIGTEST, passes=2):
    """mig-test source and destination with a proxy between them."""
    port, pport = env.next_port(), env.next_port()
    src = VM(env, "src", env.kernel("mig-test") + guest)
    dst = VM(env, "dst", env.kernel("mig-test") + guest +
             ["--incoming", f"tcp:127.0.0.1:{port}"])
    proxy = Proxy(pport, port, corrupt_at)
    src.wait_lines("mig-test: pass ", passes)
    caps(src, "events", *extra_caps)
    return src, dst, proxy, f"tcp:127.0.0.1:{pport}"


def expect_source_survives(src, dst, what):
    info = wait_status(src, {"failed", "cancelled", "completed"}, 30)
    expect(info["status"] in ("failed", "cancelled"),
           f"{what}: the source says {info['status']}: {info.get('error-desc', '')}")
    expect(src.cmd("query-status")["return"]["status"] == "running",
           "the source runs on as if nothing happened")
    expect_verifying(src, 2)
    rc = dst.wait_exit(30)
    expect(rc not in (0, None), f"the destination exited {rc}: {dst.err().splitlines()[-1:]}")


def scenario_break_precopy(env):
    src, dst, proxy, uri = proxied(env)
    src.ok("migrate", {"uri": uri})
    src.ok("migrate-set-parameters", {"max-bandwidth": 16 << 20})
    wait_status(src, {"active"})
    time.sleep(0.5)
    proxy.kill()
    expect_source_survives(src, dst, "link cut in pre-copy")


def scenario_corrupt(env):
    src, dst, proxy, uri = proxied(env, corrupt_at=2 << 20)
    src.ok("migrate-set-parameters", {"max-bandwidth": 64 << 20})
    src.ok("migrate", {"uri": uri})
    expect_source_survives(src, dst, "one flipped byte")
    expect("checksum" in dst.err(), f"the destination refused it: {dst.err().splitlines()[-1]}")


def scenario_cancel(env):
    path = os.path.join(env.tmp, "mig.sock")
    src = VM(env, "src", env.kernel("mig-test") + MIGTEST)
    dst = VM(env, "dst", env.kernel("mig-test") + MIGTEST + ["--incoming", "unix:" + path])
    src.wait_lines("mig-test: pass ", 2)
    src.ok("migrate-set-parameters", {"max-bandwidth": 8 << 20})
    src.ok("migrate", {"uri": "unix:" + path})
    wait_status(src, {"active"})
    time.sleep(0.3)
    src.ok("migrate_cancel")
    expect_source_survives(src, dst, "migrate_cancel")
    expect(status(src) == "cancelled", "query-migrate: cancelled")


def scenario_wrong_machine(env):
    path = os.path.join(env.tmp, "mig.sock")
    src = VM(env, "src", env.kernel("mig-test") + MIGTEST)
    dst = VM(env, "dst", env.kernel("mig-test") + ["--memory", "256M", "--incoming",
                                                    "unix:" + path])
    src.wait_lines("mig-test: pass ", 1)
    src.ok("migrate", {"uri": "unix:" + path})
    expect_source_survives(src, dst, "another machine")
    expect("the stream has 128 MiB of RAM, this VM 256 MiB" in dst.err(),
           f"the destination says why: {dst.err().splitlines()[-1]}")
    info = src.cmd("query-migrate")["return"]
    expect("256 MiB" in info.get("error-desc", ""),
           f"... and so does the source: {info.get('error-desc')}")


def scenario_break_postcopy(env):
    # The slow guest: MIGTEST's touches its 32 MiB in 0.4 s, and its page
    # requests pulled every page in before the cut on a fast, plain build
    # (the migration completed). This one needs 64 MiB at 16 MiB/s, so
    # post-copy lasts 4 s at the least and the cut at 0.5 s falls inside.
    src, dst, proxy, uri = proxied(env, ("postcopy-ram",), guest=MIGTEST_SLOW,
                                   passes=1)
    caps(dst, "events")
    src.ok("migrate-set-parameters", {"max-postcopy-bandwidth": 4 << 20})
    src.ok("migrate", {"uri": uri})
    src.ok("migrate-start-postcopy")
    wait_status(src, {"postcopy-active"})
    wait_status(dst, {"postcopy-active"})
    time.sleep(0.5)
    proxy.kill()
    si = wait_status(src, {"postcopy-paused"}, 20)
    di = wait_status(dst, {"postcopy-paused"}, 20)
    expect(True, "link cut in post-copy: both sides postcopy-paused")
    expect("link broke" in si.get("error-desc", "") and
           "link broke" in di.get("error-desc", ""),
           f"both say why in error-desc: source '{si.get('error-desc')}', "
           f"destination '{di.get('error-desc')}'")
    r = src.cmd("migrate_cancel")
    expect("error" in r, "migrate_cancel cannot throw a post-copy away")
    # A resume with nothing listening: paused again, and query-migrate says why.
    src.ok("migrate", {"uri": f"tcp:127.0.0.1:{env.next_port()}", "resume": True})
    deadline = time.monotonic() + 20
    while True:
        si = src.cmd("query-migrate")["return"]
        if si.get("status") == "postcopy-paused" and \
                si.get("error-desc", "").startswith("resuming failed"):
            break
        if time.monotonic() > deadline:
            raise Fail(f"a resume that cannot connect: {si}")
        time.sleep(0.02)
    expect(True, f"a resume that cannot connect: postcopy-paused again, error-desc '{si['error-desc']}'")
    port = env.next_port()
    dst.ok("migrate-recover", {"uri": f"tcp:127.0.0.1:{port}"})
    src.ok("migrate-set-parameters", {"max-postcopy-bandwidth": 0})
    src.ok("migrate", {"uri": f"tcp:127.0.0.1:{port}", "resume": True})
    try:
        info = wait_status(src, {"completed", "failed"}, 60)
    except Fail as e:
        # Why the destination let go, if it did: its status and stderr.
        alive = dst.p.poll() is None
        raise Fail(f"{e}; destination "
                   f"{status(dst) if alive else f'exited {dst.p.returncode}'}: "
                   f"{[l for l in dst.err().splitlines() if l.startswith('tern:')][-3:]}")
    expect(info["status"] == "completed" and "error-desc" not in info,
           f"migrate-recover and migrate resume: completed, {info['ram']['postcopy-requests']} page requests")
    wait_status(dst, {"completed"})
    dst.q.drain(0.3)
    migs = [e["data"]["status"] for e in dst.q.events if e["event"] == "MIGRATION"]
    expect("postcopy-paused" in migs and "postcopy-recover" in migs,
           f"destination events: {migs}")
    expect_verifying(dst, 2)


def scenario_veth_drop(env):
    ns = Netns()
    try:
        uri = f"tcp:{ns.ip_b}:{env.next_port()}"
        src = VM(env, "src", env.kernel("mig-test") + MIGTEST, ns.a)
        dst = VM(env, "dst", env.kernel("mig-test") + MIGTEST + ["--incoming", uri], ns.b)
        src.wait_lines("mig-test: pass ", 2)
        src.ok("migrate-set-parameters", {"max-bandwidth": 8 << 20})
        src.ok("migrate", {"uri": uri})
        wait_status(src, {"active"})
        time.sleep(0.3)
        ns.link(False)
        t = time.monotonic()
        expect_source_survives(src, dst, "veth dropped in pre-copy")
        expect(True, f"noticed within {time.monotonic() - t:.1f} s")
    finally:
        for vm in VM.all:
            vm.kill()
        ns.close()


def scenario_switchover(env):
    """pause-before-switchover: stopped in pre-switchover until migrate-continue."""
    path = os.path.join(env.tmp, "mig.sock")
    src = VM(env, "src", env.kernel("counter"))
    dst = VM(env, "dst", env.kernel("counter") + ["--incoming", "unix:" + path])
    caps(src, "events", "pause-before-switchover")
    src.wait_lines("counter: ", 2)
    src.ok("migrate", {"uri": "unix:" + path})
    wait_status(src, {"pre-switchover"})
    expect(src.cmd("query-status")["return"]["status"] == "finish-migrate",
           "pre-switchover: the source is stopped (finish-migrate)")
    r = src.cmd("migrate-continue", {"state": "active"})
    expect(r.get("error", {}).get("desc") == "Migration not in expected state: pre-switchover",
           "migrate-continue with the wrong state is refused")
    src.ok("migrate-continue", {"state": "pre-switchover"})
    wait_status(src, {"completed"})
    src.q.drain(0.3)
    migs = [e["data"]["status"] for e in src.q.events if e["event"] == "MIGRATION"]
    expect(migs == ["setup", "active", "pre-switchover", "device", "completed"],
           f"events: {migs}")
    dst.wait_lines("counter: ", 2)


def scenario_autoconverge(env):
    """A guest dirtying faster than the link: auto-converge throttles it."""
    path = os.path.join(env.tmp, "mig.sock")
    hot = ["--memory", "128M", "--cmdline", "mem=64"]
    src = VM(env, "src", env.kernel("mig-test") + hot)
    dst = VM(env, "dst", env.kernel("mig-test") + hot + ["--incoming", "unix:" + path])
    src.wait_lines("mig-test: pass ", 2)
    caps(src, "auto-converge")
    src.ok("migrate-set-parameters", {"max-bandwidth": 32 << 20, "downtime-limit": 50,
                                      "cpu-throttle-initial": 50,
                                      "cpu-throttle-increment": 20})
    src.ok("migrate", {"uri": "unix:" + path})
    seen, deadline = 0, time.monotonic() + 120
    while True:
        info = src.cmd("query-migrate")["return"]
        seen = max(seen, info.get("cpu-throttle-percentage", 0))
        if info.get("status") in ("completed", "failed"):
            break
        if time.monotonic() > deadline:
            raise Fail(f"no convergence: {info}")
        time.sleep(0.05)
    expect(info["status"] == "completed" and seen >= 50,
           f"completed after {info['ram']['dirty-sync-count']} passes with the vCPU "
           f"throttled up to {seen} %, downtime {info['downtime']} ms")
    expect_verifying(dst, 1)


def scenario_client(env):
    path = os.path.join(env.tmp, "mig.sock")
    src = VM(env, "src", env.kernel("counter"))
    dst = VM(env, "dst", env.kernel("counter") + ["--incoming", "unix:" + path])
    src.wait_lines("counter: ", 2)
    r = subprocess.run([env.tern, "migrate", src.sock, "unix:" + path],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout.splitlines()
    expect(r.returncode == 0 and out and out[-1].startswith("completed in"),
           f"tern migrate exits 0: {out[-1] if out else r.stderr}")
    expect(any(l.startswith("active: pass") for l in out) or len(out) >= 1,
           f"progress lines: {out[0] if out else ''}")
    r = subprocess.run([env.tern, "migrate", src.sock, "unix:" + path],
                       capture_output=True, text=True, timeout=60)
    expect(r.returncode == 1 and "previous migration" in r.stderr,
           f"a refused migration exits 1: {r.stderr.strip()}")
    r = subprocess.run([env.tern, "migrate", src.sock], capture_output=True, text=True)
    expect(r.returncode == 2, "bad usage exits 2")
    expect(dst.cmd("query-status")["return"]["status"] == "running", "the guest runs there")


class QemuVM(VM):
    """QEMU 7.2 with -M microvm on the same guest, for the conformance run."""

    def __init__(self, env, name, incoming=None):
        self.name = name
        self.sock = os.path.join(env.tmp, name + ".sock")
        self.console = os.path.join(env.tmp, name + ".log")
        self.errpath = os.path.join(env.tmp, name + ".err")
        cmd = [os.environ.get("QEMU", "qemu-system-x86_64"), "-M", "microvm",
               "-accel", "kvm", "-cpu", "host,-cx16,-arch-capabilities",
               "-m", "128M", "-nodefaults", "-no-user-config", "-display", "none",
               "-kernel", os.path.join(env.fw, "counter.elf"),
               "-serial", "file:" + self.console,
               "-qmp", f"unix:{self.sock},server=on,wait=off"]
        if incoming:
            cmd += ["-incoming", incoming]
        with open(self.errpath, "w") as err:
            self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=err)
        VM.all.append(self)
        self.connect()


# The session: (who, step name, command, arguments). Both VMMs get it.
SESSION = [
    ("d", "query-status (inmigrate)", "query-status", None),
    ("d", "query-migrate (listening)", "query-migrate", None),
    ("s", "query-migrate (none)", "query-migrate", None),
    ("s", "query-migrate-capabilities", "query-migrate-capabilities", None),
    ("s", "query-migrate-parameters", "query-migrate-parameters", None),
    ("s", "migrate-set-capabilities events", "migrate-set-capabilities",
     {"capabilities": [{"capability": "events", "state": True}]}),
    ("d", "migrate-set-capabilities events (destination)", "migrate-set-capabilities",
     {"capabilities": [{"capability": "events", "state": True}]}),
    ("s", "migrate-set-capabilities bogus", "migrate-set-capabilities",
     {"capabilities": [{"capability": "bogus", "state": True}]}),
    ("s", "migrate-set-capabilities without state", "migrate-set-capabilities",
     {"capabilities": [{"capability": "events"}]}),
    ("s", "migrate-set-parameters", "migrate-set-parameters", {"downtime-limit": 100}),
    ("s", "migrate-set-parameters downtime-limit -1", "migrate-set-parameters",
     {"downtime-limit": -1}),
    ("s", "migrate-set-parameters cpu-throttle-initial 0", "migrate-set-parameters",
     {"cpu-throttle-initial": 0}),
    ("s", "migrate-set-parameters unknown", "migrate-set-parameters", {"bogus": 1}),
    ("s", "migrate-start-postcopy without the capability", "migrate-start-postcopy", None),
    ("s", "migrate-pause outside post-copy", "migrate-pause", None),
    ("s", "migrate-continue outside pre-switchover", "migrate-continue",
     {"state": "pre-switchover"}),
    ("s", "migrate-continue bad state", "migrate-continue", {"state": "bogus"}),
    ("s", "migrate_cancel with none", "migrate_cancel", None),
    ("d", "migrate-recover when not paused", "migrate-recover", {"uri": "unix:/nonexistent"}),
    ("s", "migrate-incoming without -incoming", "migrate-incoming", {"uri": "unix:/x"}),
    ("s", "migrate to a bad protocol", "migrate", {"uri": "bogus:x"}),
    ("s", "migrate resume without a paused one", "migrate",
     {"uri": "unix:/x", "resume": True}),
    ("s", "slow it down", "migrate-set-parameters", {"max-bandwidth": 100000}),
    ("s", "migrate", "migrate", {"uri": "unix:MIG"}),
    ("s", "migrate while one runs", "migrate", {"uri": "unix:MIG"}),
    ("s", "query-migrate (active)", "WAIT-ACTIVE", None),
    ("s", "speed it up", "migrate-set-parameters", {"max-bandwidth": 8 << 30}),
    ("s", "query-migrate (completed)", "WAIT-COMPLETED", None),
    ("s", "query-status (postmigrate)", "query-status", None),
    # The destination runs a moment after the source completes, in both.
    ("d", "query-migrate (completed, destination)", "WAIT-COMPLETED", None),
    ("d", "query-status (running)", "query-status", None),
    ("s", "migrate from postmigrate", "migrate", {"uri": "unix:MIG"}),
    ("s", "cont from postmigrate", "cont", None),
    ("s", "query-status (running again)", "query-status", None),
]


def conformance_session(env, make, out):
    mig = os.path.join(env.tmp, "mig-" + out + ".sock")
    src, dst = make("c-src-" + out, None), make("c-dst-" + out, "unix:" + mig)
    steps = []
    for who, name, cmd, args in SESSION:
        vm = src if who == "s" else dst
        if args:
            args = json.loads(json.dumps(args).replace("unix:MIG", "unix:" + mig))
        if cmd.startswith("WAIT-"):
            want = {"active"} if cmd == "WAIT-ACTIVE" else {"completed"}
            deadline = time.monotonic() + 60
            while True:
                reply = vm.cmd("query-migrate")
                r = reply.get("return", {})
                if r.get("status") in want and (want == {"completed"} or "ram" in r):
                    break
                if time.monotonic() > deadline:
                    raise Fail(f"{out}: {name}: {reply}")
                time.sleep(0.01)
        else:
            reply = vm.cmd(cmd, args)
        steps.append({"step": name, "reply": reply})
    for vm in (src, dst):
        vm.q.drain(0.5)
    events = {"s": list(src.q.events), "d": list(dst.q.events)}
    for vm in (src, dst):
        vm.ok("quit")
        vm.wait_exit()
    return steps, events


def scenario_conformance(env):
    """The same migration session against QEMU 7.2 and tern: same shapes."""
    qemu = os.environ.get("QEMU", "qemu-system-x86_64")
    if not any(os.access(os.path.join(d, qemu), os.X_OK)
               for d in os.environ.get("PATH", "").split(":")) and not os.access(qemu, os.X_OK):
        raise Skip(f"{qemu} is not installed (scripts/install-deps.sh --test installs it)")
    qs, qe = conformance_session(env, lambda n, inc: QemuVM(env, n, inc), "qemu")
    ts, te = conformance_session(
        env, lambda n, inc: VM(env, n, env.kernel("counter") + ["--memory", "128M"] +
                               (["--incoming", inc] if inc else [])), "tern")
    bad = []
    for a, b in zip(qs, ts):
        diffs = []
        qh.compare(a["reply"], b["reply"], "", diffs)
        if diffs:
            bad.append(a["step"])
            print(f"  DIFF: {a['step']}: " + "; ".join(diffs))
        else:
            kind = ("error " + a["reply"]["error"]["class"]
                    if "error" in a["reply"] else "same structure")
            print(f"  ok: {a['step']}: {kind}")
    for side in ("s", "d"):
        def seq(evs):
            return [e["data"]["status"] if e["event"] == "MIGRATION" else e["event"]
                    for e in evs if e["event"] != "MIGRATION_PASS"]
        qseq, tseq = seq(qe[side]), seq(te[side])
        who = "source" if side == "s" else "destination"
        if qseq != tseq:
            bad.append(f"{who} events")
            print(f"  DIFF: {who} events: QEMU {qseq}, tern {tseq}")
        else:
            print(f"  ok: {who} events in the same order: {tseq}")
        for e in qe[side]:
            same = [f for f in te[side] if f["event"] == e["event"]]
            diffs = []
            if same:
                qh.compare(e, same[0], "", diffs)
            elif e["event"] == "MIGRATION_PASS":
                diffs.append("tern sent no MIGRATION_PASS")
            if diffs:
                bad.append(f"{who} {e['event']}")
                print(f"  DIFF: {who} {e['event']}: " + "; ".join(diffs))
    if bad:
        raise Fail(f"{len(bad)} differences: {', '.join(bad)}")


def main(argv):
    scenarios = {
        "basic": scenario_basic, "migtest": scenario_migtest,
        "disk": scenario_disk, "snapshot": scenario_snapshot,
        "break-precopy": scenario_break_precopy, "corrupt": scenario_corrupt,
        "cancel": scenario_cancel, "wrong-machine": scenario_wrong_machine,
        "break-postcopy": scenario_break_postcopy, "veth-drop": scenario_veth_drop,
        "client": scenario_client, "conformance": scenario_conformance,
        "switchover": scenario_switchover, "autoconverge": scenario_autoconverge,
        "warm": scenario_warm,
    }
    if len(argv) < 5 or argv[1] not in scenarios:
        print(__doc__)
        return 2
    env = Env(argv[2], argv[3], argv[4])
    try:
        scenarios[argv[1]](env, *argv[5:])
    except Skip as e:
        print(f"SKIP: {e}")
        return 77
    except (Fail, OSError, ValueError, KeyError, TypeError, IndexError) as e:
        print(f"FAIL: {type(e).__name__}: {e}")
        return 1
    finally:
        for vm in VM.all:
            vm.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
