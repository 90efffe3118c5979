#!/bin/bash
# SPDX-License-Identifier: MIT
# Live migration benchmark: tern against QEMU 7.2 (-M microvm), the same
# guest (firmware/mig-test: ring-3 dirtying with per-page generations,
# checked on every pass) at the same dirty rate, over loopback TCP, with
# the same QMP commands on both (events, postcopy-ram when post-copy,
# max-bandwidth 8 GiB/s so neither is held back by QEMU's 128 MiB/s
# default, downtime-limit 300 ms, post-copy started once the first pass
# is over: at the second dirty-log sync, dirty-sync-count 2, which QEMU
# reaches within its first pass and tern at its end; POSTCOPY_AT=bytes
# starts it once as many bytes as the guest has RAM went instead, the
# same point for both). Rows:
#   64M-moderate   64 MiB guest, 48 MiB dirtied at 10000 pages/s (40 MB/s)
#   256M-hot       256 MiB guest dirtying all of its memory as fast as it can
# each pre-copy and post-copy. Columns, medians of REPEAT runs:
#   total ms       query-migrate total-time as each reports it
#   downtime ms    query-migrate downtime as each reports it
#   stall ms       from the guest's own output: it prints a tick line every
#                  10 ms; the longest gap between two ticks (source or
#                  destination) over the migration, minus the 10 ms period,
#                  timed by the host as the lines arrive on the pipes
#   MiB sent       query-migrate ram.transferred
#   1st pass ms    from migrate to the first dirty-log sync (query-migrate's
#                  dirty-sync-count reaching 2, polled every 2 ms; for QEMU
#                  this is its first sync, which may come before its first
#                  pass has covered all of RAM)
#   guest %        the guest's speed while the migration ran (pages it wrote
#                  per second, from the page count on its ticks, from migrate
#                  to completed, source and destination) against its speed in
#                  the half second before: what the migration cost the guest
#                  besides the stall (a guest slowed down dirties less, so it
#                  leaves less to send)
# and the ratio tern/QEMU per cell (below 1 is tern ahead). A run whose
# guest reports a bad page fails the benchmark; a migration that fails or
# does not end in 120 s is printed (FAILED RUN) and left out of the medians.
#
# Usage: scripts/bench/migrate.sh [BUILD_DIR...]
#   Several build directories (or directories holding src/tern and
#   firmware/mig-test.elf, e.g. an older build copied aside) compare tern
#   builds in the same series: each repeat runs every build and QEMU one
#   after the other, so a change in the host's load falls on all of them.
# Environment: REPEAT=3 runs per cell; ROWS="64M-moderate 256M-hot";
#   MODES="precopy postcopy"; TERN_ONLY=1 skips QEMU; VERBOSE=1 prints
#   each run; POSTCOPY_AT=sync|bytes (above); LOG_DIR=DIR runs tern with
#   --debug and keeps each tern's stderr there (the passes, the
#   destination's waits; it costs a little).
# The machines are shared and small: the load average is printed first
# and last.
set -euo pipefail

[ $# -gt 0 ] || set -- build
for build in "$@"; do
	[ -x "$build/src/tern" ] && [ -f "$build/firmware/mig-test.elf" ] ||
		{ echo "build first: meson compile -C $build" >&2; exit 1; }
done
qemu=$(command -v qemu-system-x86_64 || true)
[ -n "${TERN_ONLY:-}" ] && qemu=
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs, $(date -u +%H:%M) UTC"
[ -z "$qemu" ] && echo "QEMU: not installed or skipped (TERN_ONLY): tern only"

python3 - "$qemu" "${REPEAT:-3}" "${ROWS:-64M-moderate 256M-hot}" \
	"${MODES:-precopy postcopy}" "$@" <<'PY'
import atexit, json, os, select, shutil, socket, statistics, subprocess, sys, tempfile, threading, time

qemu, repeat = sys.argv[1], int(sys.argv[2])
rows, modes = sys.argv[3].split(), sys.argv[4].split()
builds = sys.argv[5:]
# A label per tern build: "tern" alone, else the directory's name.
TERNS = {("tern" if len(builds) == 1 else "tern:" + os.path.basename(os.path.normpath(b))):
         (os.path.join(b, "src/tern"), os.path.join(b, "firmware/mig-test.elf")) for b in builds}
if len(TERNS) != len(builds):
    sys.exit("two builds with the same directory name")
ROWS = {"64M-moderate": ("64M", "mem=48 rate=10000 tick=10"),
        "256M-hot": ("256M", "rate=0 tick=10")}
TICK_MS = 10
LOG_DIR = os.environ.get("LOG_DIR")
POSTCOPY_AT = os.environ.get("POSTCOPY_AT", "sync")
if POSTCOPY_AT not in ("sync", "bytes"):
    sys.exit("POSTCOPY_AT: sync or bytes")
log_seq = 0
if LOG_DIR:
    os.makedirs(LOG_DIR, exist_ok=True)
tmp = tempfile.mkdtemp(prefix="tern-bench-mig.")
atexit.register(shutil.rmtree, tmp, True)


class Q:
    def __init__(self, path):
        for _ in range(400):
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.02)
        self.f = self.s.makefile("rwb")
        self.f.readline()
        self.cmd("qmp_capabilities")

    def cmd(self, name, args=None):
        req = {"execute": name}
        if args is not None:
            req["arguments"] = args
        self.f.write(json.dumps(req).encode() + b"\n")
        self.f.flush()
        while True:
            m = json.loads(self.f.readline())
            if "event" not in m:
                if "error" in m:
                    raise RuntimeError(f"{name}: {m['error']['desc']}")
                return m["return"]


class Console:
    """A VM's console on a pipe, each line timestamped as it arrives."""

    def __init__(self, proc):
        self.lines = []
        self.t = threading.Thread(target=self.read, args=(proc.stdout,), daemon=True)
        self.t.start()

    def read(self, f):
        for raw in iter(f.readline, b""):
            self.lines.append((time.monotonic(), raw.decode(errors="replace").strip()))


def start(vmm, mem, cmdline, name, incoming=None):
    sock = os.path.join(tmp, name + ".sock")
    if vmm in TERNS:
        tern, elf = TERNS[vmm]
        cmd = [tern, "run", "--kernel", elf, "--memory", mem, "--cmdline", cmdline,
               "--console", "stdio", "--qmp", "unix:" + sock]
        if incoming:
            cmd += ["--incoming", incoming]
        if LOG_DIR:
            cmd += ["--debug"]
    else:
        cmd = [qemu, "-M", "microvm", "-accel", "kvm", "-cpu",
               "host,-cx16,-arch-capabilities", "-m", mem, "-nodefaults",
               "-no-user-config", "-display", "none", "-kernel", next(iter(TERNS.values()))[1],
               "-append", cmdline, "-serial", "stdio",
               "-qmp", f"unix:{sock},server=on,wait=off"]
        if incoming:
            cmd += ["-incoming", incoming]
    err = subprocess.DEVNULL
    if LOG_DIR and vmm in TERNS:
        global log_seq
        log_seq += 1
        err = open(os.path.join(LOG_DIR, f"{log_seq:03d}-{vmm.replace(':', '-')}-{name}.log"), "w")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    if err is not subprocess.DEVNULL:
        err.close()
    return p, Console(p), Q(sock)


def one(vmm, row, mode, port):
    mem, cmdline = ROWS[row]
    uri = f"tcp:127.0.0.1:{port}"
    sp, sc, sq = start(vmm, mem, cmdline, "src", None)
    dp, dc, dq = start(vmm, mem, cmdline, "dst", uri)
    try:
        # Warm: the guest has dirtied its working set twice.
        deadline = time.monotonic() + 60
        while sum(1 for _, l in sc.lines if l.startswith("mig-test: pass")) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{vmm}: the guest did not start")
            time.sleep(0.01)
        caps = [{"capability": "events", "state": True}]
        if mode == "postcopy":
            caps.append({"capability": "postcopy-ram", "state": True})
        for q in (sq, dq):
            q.cmd("migrate-set-capabilities", {"capabilities": caps})
        sq.cmd("migrate-set-parameters", {"max-bandwidth": 8 << 30, "downtime-limit": 300})
        t0 = time.monotonic()
        sq.cmd("migrate", {"uri": uri})
        started = False
        t_pass = None
        while True:
            info = sq.cmd("query-migrate")
            st = info.get("status")
            if t_pass is None and info.get("ram", {}).get("dirty-sync-count", 0) >= 2:
                t_pass = time.monotonic()
            if st in ("completed", "failed", "cancelled"):
                break
            ram = info.get("ram", {})
            first_over = (ram.get("transferred", 0) >= ram.get("total", 1) if POSTCOPY_AT == "bytes"
                          else ram.get("dirty-sync-count", 0) >= 2)
            if mode == "postcopy" and not started and first_over:
                sq.cmd("migrate-start-postcopy")
                started = True
            if time.monotonic() - t0 > 120:
                raise RuntimeError(f"{vmm} {row} {mode}: no end: {info}")
            time.sleep(0.002)
        if st != "completed":
            raise RuntimeError(f"{vmm} {row} {mode}: {info}")
        t1 = time.monotonic()
        # QEMU 7.2 sets "completed" before it computes its times, and
        # reports them as 0 meanwhile: a 0 total is "not yet", not a time.
        for _ in range(200):
            if info.get("total-time", 0) > 0 and "downtime" in info:
                break
            time.sleep(0.01)
            info = sq.cmd("query-migrate")
        # Ticks after the switch, then look at the gaps.
        time.sleep(0.5)
        every = []
        for c in (sc, dc):
            for t, l in c.lines:
                if l.startswith("mig-test: tick "):
                    f = l.split()
                    # A mig-test older than the page count (a build copied
                    # aside) leaves the guest % column empty.
                    every.append((int(f[2]), t, int(f[4]) if len(f) > 4 else None))
        every.sort()
        ticks = [(k, t) for k, t, _ in every if t0 - 0.2 <= t <= t1 + 0.5]
        gaps = [(b[1] - a[1], a[1]) for a, b in zip(ticks, ticks[1:]) if b[0] == a[0] + 1]
        # The guest's speed: pages it wrote per second while the migration
        # ran, against the half second before it began.
        def speed(lo, hi):
            w = [(t, p) for _, t, p in every if lo <= t <= hi and p is not None]
            return (w[-1][1] - w[0][1]) / (w[-1][0] - w[0][0]) if len(w) > 1 and w[-1][0] > w[0][0] else None
        before, during = speed(t0 - 0.5, t0), speed(t0, t1)
        guest_pct = 100.0 * during / before if before and during is not None else float("nan")
        stall = max(gaps)[0] * 1000 - TICK_MS if gaps else float("nan")
        if os.environ.get("VERBOSE") and gaps:
            worst = sorted(gaps, reverse=True)[:3]
            print(f"  {vmm} {row} {mode}: migrate at 0, first pass over at "
                  f"{((t_pass or t1) - t0) * 1000:.0f} ms, completed at {(t1 - t0) * 1000:.0f} ms; "
                  "longest gaps: " + ", ".join(f"{g * 1000:.0f} ms at {(t - t0) * 1000:.0f} ms"
                                               for g, t in worst), file=sys.stderr)
        bad = [l for c in (sc, dc) for _, l in c.lines if l.startswith("RESULT: FAIL")]
        if bad:
            raise RuntimeError(f"{vmm} {row} {mode}: the guest says {bad[0]}")
        # A time never reported is missing, not 0 (a 0 would pull the median).
        first = ((t_pass - t0) * 1000) if t_pass else float("nan")
        r = (info.get("total-time", float("nan")), info.get("downtime", float("nan")), stall,
             info["ram"]["transferred"] / (1 << 20), first, guest_pct)
        if os.environ.get("VERBOSE"):
            print(f"  {vmm} {row} {mode}: " + " ".join(f"{x:.1f}" for x in r), file=sys.stderr)
        return r
    finally:
        for p in (sp, dp):
            p.kill()
            p.wait()


results = {}
port = 30000 + os.getpid() % 20000
vmms = list(TERNS) + (["qemu"] if qemu else [])
for row in rows:
    for mode in modes:
        runs = {vmm: [] for vmm in vmms}
        # Interleaved: a change in the host's load falls on every VMM.
        for _ in range(repeat):
            for vmm in vmms:
                port += 1
                try:
                    runs[vmm].append(one(vmm, row, mode, port))
                except RuntimeError as e:
                    # A bad page fails the benchmark; a migration that did
                    # not end is counted, said, and left out.
                    if "the guest says" in str(e):
                        raise
                    print(f"FAILED RUN: {e}", file=sys.stderr)
                    runs[vmm].append((float("nan"),) * 6)
        for vmm, runs in runs.items():
            results[(row, mode, vmm)] = [
                statistics.median([x for x in c if x == x]) if any(x == x for x in c) else float("nan")
                for c in zip(*runs)]
            missing = sum(1 for r in runs for x in r if x != x)
            if missing:
                print(f"{vmm} {row} {mode}: {missing} value(s) not reported, left out of the medians",
                      file=sys.stderr)

cols = ["total ms", "downtime ms", "stall ms", "MiB sent", "1st pass ms", "guest %"]
w = max(5, max(len(v) for v in vmms) + 2)
print(f"{'case':<24} {'VMM':<{w}} " + " ".join(f"{c:>12}" for c in cols))
for row in rows:
    for mode in modes:
        for vmm in vmms:
            v = results[(row, mode, vmm)]
            print(f"{row + ' ' + mode:<24} {vmm:<{w}} " + " ".join(f"{x:12.1f}" for x in v))
        for t in TERNS if qemu else []:
            tv, q = results[(row, mode, t)], results[(row, mode, "qemu")]
            ratio = [a / b if b else float("nan") for a, b in zip(tv, q)]
            name = "t/q" if len(TERNS) == 1 else t[5:] + "/q"
            print(f"{'':<24} {name:<{w}} " + " ".join(f"{x:12.2f}" for x in ratio))
PY
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%H:%M) UTC"
