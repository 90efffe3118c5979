# SPDX-License-Identifier: MIT
# tern run from start to end:
#  - SIGTERM, SIGINT and SIGHUP at every point of start-up and teardown:
#    once tern has created anything it ends with status 0 through its
#    cleanup (QMP socket removed, image unlocked). Only a signal that
#    arrives before main() has blocked them (while the dynamic loader runs)
#    may end it with the default action, and then nothing exists yet;
#  - the options that replaced environment variables: --teardown,
#    --debug, --disk ...,poll-us=N.
. "$(dirname "$0")/lib.sh"
need_kvm
command -v python3 >/dev/null 2>&1 || skip "python3 not found (the signal timing needs it)"

# signal_runs MODE: MODE "once" sends one signal after a delay that grows
# from 0 to 60 ms over the runs (start-up takes about 10 ms here, longer
# under ASan); "burst" waits for the QMP socket, then sends one every 0.3 ms
# until tern has exited, so that most land during its teardown.
signal_runs() {
	python3 - "$TERN" "$FW" "$TMP" "$1" <<'PY' >"$TMP/out" 2>"$TMP/err"
import os, random, signal, subprocess, sys, time

# tern as a shell starts it, whoever runs this (nohup leaves it ignored).
signal.signal(signal.SIGHUP, signal.SIG_DFL)
tern, fw, tmp, mode = sys.argv[1:5]
sock, con, img = f"{tmp}/s.sock", f"{tmp}/con.log", f"{tmp}/d.img"
TERM_BIT = 1 << (signal.SIGTERM - 1)
random.seed(1)

def protected(pid):
    """Has tern blocked the host signals or installed its handlers?"""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(l.split(":\t", 1) for l in f if ":\t" in l)
    except OSError:
        return True  # gone already: nothing to decide
    return bool((int(fields["SigBlk"], 16) | int(fields["SigCgt"], 16)) & TERM_BIT)

def image_locked():
    """Is the image still locked 2 s after tern is gone? A process killed
    by a signal has its io_uring torn down by a kernel worker after it
    exited, which drops the files the ring holds, so the lock may outlive
    the exit status briefly on a loaded host."""
    ino = os.stat(img).st_ino
    deadline = time.monotonic() + 2
    while True:
        with open("/proc/locks") as f:
            held = any(l.split()[5].endswith(f":{ino}") for l in f if len(l.split()) > 6)
        if not held or time.monotonic() > deadline:
            return held
        time.sleep(0.02)

bad = early = 0
delays = [i * 0.0006 for i in range(24)] + [0.02, 0.03, 0.045, 0.06]
runs = len(delays) if mode == "once" else 12
for i in range(runs):
    for p in (sock, con):
        if os.path.exists(p):
            os.unlink(p)
    sig = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)[i % 3]
    args = [tern, "run", "--kernel", f"{fw}/counter.elf", "--console", f"file={con}",
            "--qmp", f"unix:{sock}", "--disk", f"path={img}"]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    must_clean = False  # tern was protected or had created something
    sent = 0
    if mode == "once":
        time.sleep(delays[i] + random.random() * 0.0005)
        must_clean = protected(p.pid) or os.path.exists(con) or os.path.exists(sock)
        p.send_signal(sig)
        sent = 1
    else:
        deadline = time.monotonic() + 10
        while p.poll() is None and not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.0005)
        while p.poll() is None and time.monotonic() < deadline:
            must_clean = must_clean or protected(p.pid) or os.path.exists(con) \
                or os.path.exists(sock)
            p.send_signal(sig)
            sent += 1
            time.sleep(0.0003)
    try:
        err = p.communicate(timeout=10)[1].decode(errors="replace").strip()
    except subprocess.TimeoutExpired:
        p.kill()
        err = p.communicate()[1].decode(errors="replace").strip()
    status = p.returncode
    what = f"run {i}: {signal.Signals(sig).name} x{sent}: status {status}"
    problems = []
    if status == -sig:
        early += 1
        if must_clean:
            problems.append("killed by the signal after it had blocked it or created files")
    elif status != 0:
        problems.append("expected status 0")
    if os.path.exists(sock):
        problems.append("the QMP socket was left behind")
    if image_locked():
        problems.append("the disk image is still locked")
    if "AddressSanitizer" in err or "runtime error" in err:
        problems.append("sanitizer report")
    print(what + (": " + "; ".join(problems) if problems else ": ok")
          + (f" ({err.splitlines()[-1]})" if err and problems else ""))
    bad += bool(problems)
print(f"{runs} runs: {runs - bad} clean, {early} of them ended by the default action of the signal")
sys.exit(1 if bad else 0)
PY
	STATUS=$?
	tail -n 1 "$TMP/out"
}

truncate -s 1M "$TMP/d.img"

begin "one signal at a growing delay after exec (0-60 ms)"
signal_runs once
expect_status 0
end

begin "started with SIGHUP ignored (nohup): a SIGHUP at any time leaves it running; SIGTERM then ends it with 0"
python3 - "$TERN" "$FW" "$TMP" <<'PY' >"$TMP/out" 2>&1
import os, signal, subprocess, sys, time
tern, fw, tmp = sys.argv[1:4]
bad = 0
for i, delay in enumerate([0.0, 0.003, 0.006, 0.009, 0.012, 0.02, 0.04, 0.3]):
    con = f"{tmp}/hup{i}.log"
    p = subprocess.Popen([tern, "run", "--kernel", f"{fw}/counter.elf", "--console", f"file={con}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    time.sleep(delay)
    p.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    alive = p.poll() is None
    p.send_signal(signal.SIGTERM)
    try:
        status = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        status = p.wait()
    ok = alive and status == 0
    bad += not ok
    print(f"SIGHUP at {delay * 1000:.0f} ms: {'running' if alive else f'ended ({p.returncode})'}, then SIGTERM: status {status}: {'ok' if ok else 'FAIL'}")
sys.exit(1 if bad else 0)
PY
STATUS=$?
cat "$TMP/out"
expect_status 0
end

begin "a burst of signals through start-up and teardown"
signal_runs burst
expect_status 0
end

# reapers ARGS...: run tern as a child subreaper's child; prints tern's
# status and how many orphans (the detached teardown's reaper) came back.
reapers() {
	python3 - "$TERN" "$@" <<'PY' >"$TMP/out" 2>"$TMP/err"
import ctypes, os, subprocess, sys

PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
status = subprocess.run([sys.argv[1], "run", "--console", "none"] + sys.argv[2:],
                        stdin=subprocess.DEVNULL).returncode
orphans = 0
while True:
    try:
        os.waitpid(-1, 0)  # the reaper exits once tern has: no time-out needed
    except ChildProcessError:
        break
    orphans += 1
print(f"status {status} orphans {orphans}")
PY
	STATUS=$?
}

begin "--teardown detached (default) leaves a reaper at any vCPU count, --teardown sync none"
reapers
expect_line out '^status 0 orphans 1$'
reapers --teardown detached
expect_line out '^status 0 orphans 1$'
reapers --teardown sync
expect_line out '^status 0 orphans 0$'
# Any number of vCPUs: the reaper once kept at most 8 and larger VMs
# paid the ~13 ms teardown at exit.
reapers --cpus 16
expect_line out '^status 0 orphans 1$'
TERN_SYNC_TEARDOWN=1 reapers
expect_line out '^status 0 orphans 1$'
end

begin "--debug logs device detail; TERN_DEBUG is not read"
run_tern 30 run --rng --console none --debug
expect_status 0
expect_line err '^tern: debug: virtio-rng: PCI 00:'
TERN_DEBUG=1 run_tern 30 run --rng --console none
expect_status 0
expect_no_line err 'debug:'
end

for us in 0 1000; do
	begin "blk-test with --disk ...,poll-us=$us"
	new_disk 8
	run_tern 120 run --kernel "$FW/blk-test.elf" --test-exit --cmdline ring=split \
		--disk "path=$TMP/disk.img,poll-us=$us"
	expect_pass
	end
done

finish
