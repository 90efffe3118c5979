#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The back-end restart of tests/integration/vhost-user.sh.

    vhost-user-helper.py restart QMPSOCK PIDFILE DELAY [OPTIONS] -- BACKEND ARGS...
    vhost-user-helper.py latched QMPSOCK PIDFILE DELAY [OPTIONS] -- BACKEND ARGS...

OPTIONS: --device ID (the device the events name, virtio-blk.0),
--wait S (how long the reconnect may take, 5; testpmd starts in ~5 s),
--console FILE with --after RE and --before RE (the kill is timed on the
guest's progress, not on the clock: wait up to 60 s for a line of FILE
matching --after before the DELAY, and fail if a line matching --before
is already in FILE once the back-end is killed: the kill missed the loop).

While the guest's verified I/O loop runs: wait DELAY seconds, SIGKILL the
back-end whose pid is in PIDFILE, expect VHOST_USER_DISCONNECTED (device,
path) and the VM still running, start BACKEND ARGS... again (its pid goes
to PIDFILE), expect VHOST_USER_RECONNECTED within 5 s, print the time
from the kill to that event, then stop, save the state and cont the VM
over the new back-end. The events must name device ID. "latched"
(reconnect=off): after the kill and restart, no VHOST_USER_RECONNECTED
comes, the VM still runs, and quit ends it. Exit 0,
or 1 with the first failed expectation.
"""
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "qmp_helper", os.path.join(os.path.dirname(__file__), "qmp-helper.py"))
qh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qh)
QMP, Fail, expect = qh.QMP, qh.Fail, qh.expect


def console_line(path, pattern):
    """The first line of the file at path matching pattern, or None."""
    with open(path, errors="replace") as f:
        for line in f:
            if re.search(pattern, line):
                return line.rstrip("\n")
    return None


def wait_console(path, pattern, timeout=60.0):
    end = time.monotonic() + timeout
    while console_line(path, pattern) is None:
        expect(time.monotonic() < end,
               f"no line matching {pattern!r} in the guest's console within {timeout:.0f} s")
        time.sleep(0.01)


def restart(sock, pidfile, delay, backend, device="virtio-blk.0", wait=5.0,
            console=None, after=None, before=None):
    q = QMP(sock)
    q.negotiate()
    if console and after:
        wait_console(console, after)
    time.sleep(delay)
    with open(pidfile) as f:
        pid = int(f.read())
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    if console and before:
        line = console_line(console, before)
        expect(line is None, f"the kill landed after the guest's loop ended: {line!r} was in its console")
        print(f"the kill landed before the guest printed a line matching {before!r}")
    ev = q.wait_event("VHOST_USER_DISCONNECTED", timeout=5.0)
    expect(ev["data"].get("device") == device,
           f"VHOST_USER_DISCONNECTED names {device}: {ev}")
    expect(ev["data"].get("path", "").endswith(".sock"),
           f"VHOST_USER_DISCONNECTED names the socket: {ev}")
    print(f"VHOST_USER_DISCONNECTED after {time.monotonic() - killed:.3f} s")
    r = q.cmd("query-status")
    expect(r.get("return", {}).get("status") == "running",
           f"the guest keeps running without its back-end: {r}")
    with open(pidfile + ".log", "w") as log:
        proc = subprocess.Popen(backend, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    with open(pidfile, "w") as f:
        f.write(str(proc.pid))
    ev = q.wait_event("VHOST_USER_RECONNECTED", timeout=wait)
    expect(ev["data"].get("device") == device,
           f"VHOST_USER_RECONNECTED names {device}: {ev}")
    print(f"VHOST_USER_RECONNECTED {time.monotonic() - killed:.3f} s after the kill")
    # stop takes the rings back (GET_VRING_BASE), cont hands them over
    # again; a state save in between sees where the back-end stopped.
    for cmd, status in (("stop", "paused"), ("x-tern-state-save", "paused"),
                        ("cont", "running")):
        args = {"path": pidfile + ".state"} if cmd == "x-tern-state-save" else None
        r = q.cmd(cmd, args)
        expect(r == {"return": {}}, f"{cmd} over the new back-end: {r}")
        r = q.cmd("query-status")
        expect(r.get("return", {}).get("status") == status,
               f"{status} after {cmd}: {r}")
    q.close()


def latched(sock, pidfile, delay, backend, device="virtio-blk.0", wait=None):
    """reconnect=off: the device stays down, the VM and QMP do not."""
    q = QMP(sock)
    q.negotiate()
    time.sleep(delay)
    with open(pidfile) as f:
        os.kill(int(f.read()), signal.SIGKILL)
    ev = q.wait_event("VHOST_USER_DISCONNECTED", timeout=5.0)
    expect(ev["data"].get("device") == device,
           f"VHOST_USER_DISCONNECTED names {device}: {ev}")
    with open(pidfile + ".log", "w") as log:
        proc = subprocess.Popen(backend, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    with open(pidfile, "w") as f:
        f.write(str(proc.pid))
    q.drain(2.0)
    expect(not any(e["event"] == "VHOST_USER_RECONNECTED" for e in q.events),
           "reconnect=off: no VHOST_USER_RECONNECTED within 2 s of the restart")
    r = q.cmd("query-status")
    expect(r.get("return", {}).get("status") == "running",
           f"the VM runs on with the device down: {r}")
    r = q.cmd("quit")
    expect(r == {"return": {}}, f"quit: {r}")
    q.close()


def main():
    args = sys.argv[1:]
    try:
        if len(args) < 6 or args[0] not in ("restart", "latched") or "--" not in args[4:]:
            print(__doc__, file=sys.stderr)
            return 2
        sep = args.index("--", 4)
        opts, kw = args[4:sep], {}
        names = ("--device", "--wait", "--console", "--after", "--before")
        while opts:
            if len(opts) < 2 or opts[0] not in names:
                print(__doc__, file=sys.stderr)
                return 2
            kw[opts[0][2:]] = float(opts[1]) if opts[0] == "--wait" else opts[1]
            opts = opts[2:]
        fn = restart if args[0] == "restart" else latched
        if fn is latched and {"console", "after", "before"} & kw.keys():
            print(__doc__, file=sys.stderr)
            return 2
        fn(args[1], args[2], float(args[3]), args[sep + 1:], **kw)
    except Fail as e:
        print(f"FAIL: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
