#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""QMP scenarios for tern's integration tests (tests/integration/qmp*.sh).

A minimal QMP client over a Unix socket, and scenarios that need several
connections at once or raw bytes on the wire, which a shell script cannot
do. Each scenario prints what it checked and exits 0, or prints the first
failed expectation and exits 1.

    qmp-helper.py multi SOCK          events on every client; quit
    qmp-helper.py malformed SOCK      bad input never hurts the VM
    qmp-helper.py memory SOCK PID     hostile clients cannot make tern hold memory
    qmp-helper.py storm SOCK N        N connections past the client cap
    qmp-helper.py client TERN         tern qmp against a server that misbehaves
    qmp-helper.py paused-guest SOCK   --paused: prelaunch, cont, guest SHUTDOWN
    qmp-helper.py fd TERN ARGS...     --qmp fd=N on a socket we listen on
    qmp-helper.py session SOCK OUT    the conformance session, as JSON in OUT
    qmp-helper.py compare A B         compare two sessions' structure
"""
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time


class Fail(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Fail(what)
    print(f"  ok: {what}")


class QMP:
    """One connection; events seen while waiting for replies are kept."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.timeout = timeout
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        self.greeting = self.recv()

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv(self, timeout=None):
        """The next message, or None at EOF (or after timeout, if given)."""
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            while b"\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    return None
                self.buf += data
        except ConnectionResetError:
            return None
        except socket.timeout:
            if timeout is not None:
                return None
            raise
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self):
        while True:
            msg = self.recv()
            if msg is None or "event" not in msg:
                return msg
            self.events.append(msg)

    def execute(self, req):
        self.send_raw(json.dumps(req).encode() + b"\n")
        return self.reply()

    def cmd(self, name, args=None, **extra):
        req = {"execute": name}
        if args is not None:
            req["arguments"] = args
        req.update(extra)
        return self.execute(req)

    def negotiate(self):
        expect("QMP" in self.greeting, "greeting has a QMP member")
        r = self.cmd("qmp_capabilities")
        expect(r == {"return": {}}, "qmp_capabilities returns {}")

    def wait_event(self, name, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev["event"] == name:
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail(f"no {name} event within {timeout} s")
            msg = self.recv(timeout=left)
            if msg is None:
                raise Fail(f"connection ended before a {name} event")
            if "event" in msg:
                self.events.append(msg)

    def drain(self, seconds):
        """Collect events arriving within seconds; False at EOF."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            msg = self.recv(timeout=left)
            if msg is None:
                return not self.at_eof()
            self.events.append(msg)

    def at_eof(self):
        try:
            self.sock.settimeout(0.01)
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except (socket.timeout, BlockingIOError):
            return False
        except ConnectionResetError:
            return True


def error_class(r):
    return (r or {}).get("error", {}).get("class")


def check_event(ev, name):
    expect(ev["event"] == name, f"{name} event")
    ts = ev["timestamp"]
    expect(set(ts) == {"seconds", "microseconds"} and
           isinstance(ts["seconds"], int) and
           0 <= ts["microseconds"] < 1000000,
           f"{name} has a timestamp in seconds and microseconds")


def scenario_multi(sock):
    a, b, c = QMP(sock), QMP(sock), QMP(sock)
    a.negotiate()
    b.negotiate()
    # c stays in negotiation mode: no events for it.
    expect(a.cmd("stop") == {"return": {}}, "stop returns {}")
    for q in (a, b):
        check_event(q.wait_event("STOP"), "STOP")
    expect(b.cmd("query-status")["return"]["status"] == "paused",
           "the other client sees status paused")
    expect(a.cmd("cont") == {"return": {}}, "cont returns {}")
    for q in (a, b):
        check_event(q.wait_event("RESUME"), "RESUME")
    expect(b.cmd("system_reset") == {"return": {}}, "system_reset returns {}")
    for q in (a, b):
        ev = q.wait_event("RESET")
        check_event(ev, "RESET")
        expect(ev.get("data") == {"guest": False,
                                  "reason": "host-qmp-system-reset"},
               "RESET data: guest false, reason host-qmp-system-reset")
    c.drain(0.3)
    expect(c.events == [], "a client still negotiating gets no events")
    expect(error_class(c.cmd("query-status")) == "CommandNotFound",
           "... and no commands but qmp_capabilities")
    expect(a.cmd("quit") == {"return": {}}, "quit returns {}")
    for q in (a, b):
        ev = q.wait_event("SHUTDOWN")
        check_event(ev, "SHUTDOWN")
        expect(ev.get("data") == {"guest": False, "reason": "host-qmp-quit"},
               "SHUTDOWN data: guest false, reason host-qmp-quit")
    for q in (a, b, c):
        while True:
            msg = q.recv(timeout=5)
            if msg is None:
                break
            expect("event" in msg, f"only events before the end: {msg}")
    print("  ok: every connection closed after quit")


MALFORMED = [
    # QEMU's tests/qtest/qmp-test.c test_malformed(), then more.
    b"{]\n",
    b"{\xff",
    b"{\x01",
    b"{'bad \xff",
    b"{'execute': 'nonexistent', 'id':'\n",
    b"%p",
    b'{"execute": "query-status",}',
    b'{"execute": "query-status" "id": 1}',
    b'{"execute": nul}',
    # Lone surrogates are refused, as QEMU does.
    b'{"execute": "query-status", "id": "\\ud800"}',
]


def assert_recovered(q):
    r = q.cmd("no-such-cmd")
    expect(error_class(r) == "CommandNotFound", "recovered: CommandNotFound")


def scenario_malformed(sock):
    q = QMP(sock)
    q.negotiate()
    for raw in MALFORMED:
        q.send_raw(raw)
        r = q.reply()
        expect(error_class(r) == "GenericError" and "id" not in r,
               f"{raw!r}: GenericError")
        assert_recovered(q)
    cases = [
        (b"null ", "GenericError"),
        (b"[1, 2]", "GenericError"),
        (b"{}", "GenericError"),
        (b"{ 'execute': true }", "GenericError"),
        (b"{ 'execute': 'no-such-cmd', 'arguments': [] }", "GenericError"),
        (b"{ 'execute': 'no-such-cmd', 'extra': true }", "GenericError"),
        (b'{"execute": "query-status", "arguments": {"x": 1}}', "GenericError"),
        (b'{"execute": "qmp_capabilities", "arguments": {"enable": "oob"}}',
         "GenericError"),
        (b'{"execute": "qmp_capabilities"}', "CommandNotFound"),
        # U+0000 does not cut a name short: these used to run quit.
        (b'{"execute": "quit\\u0000nope"}', "CommandNotFound"),
        (b'{"execute\\u0000": "quit"}', "GenericError"),
    ]
    for raw, cls in cases:
        q.send_raw(raw)
        expect(error_class(q.reply()) == cls, f"{raw!r}: {cls}")

    # A client that disconnects in the middle of a command.
    x = QMP(sock)
    x.negotiate()
    x.send_raw(b'{"execute": "query-')
    x.close()

    # A client that sends commands and never reads the replies.
    lazy = QMP(sock)
    lazy.negotiate()
    lazy.sock.setblocking(False)
    sent = 0
    try:
        for _ in range(2000):
            sent += lazy.sock.send(b'{"execute": "query-status"}' * 100)
    except BlockingIOError:
        pass
    print(f"  ok: a client that never reads sent {sent} bytes before the "
          "server stopped reading it")

    # A client that sends megabytes without ending a value.
    big = QMP(sock)
    big.negotiate()
    big.sock.settimeout(10)
    try:
        big.send_raw(b'{"execute": "query-status", "arguments": {"x": "' +
                     b"a" * (4 << 20))
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = big.reply()
    expect(error_class(r) == "GenericError" and "exceeds" in r["error"]["desc"],
           "an endless message gets an error naming the bound")
    expect(big.recv(timeout=5) is None, "... and the connection is closed")

    # Through all of that the VM and this client carried on.
    expect(q.cmd("query-status")["return"]["status"] == "running",
           "the VM is still running")
    expect(q.cmd("stop") == {"return": {}} and
           q.cmd("cont") == {"return": {}},
           "stop and cont still work with a stuck client connected")
    check_event(q.wait_event("RESUME"), "RESUME")
    lazy.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Fail(f"no VmRSS for process {pid}")


def scenario_memory(sock, pid):
    """Five clients each send `[` and `{},` up to just under the 1 MiB
    message bound and never close it: json-c used to hold ~260 MB for each
    (tern went from 5 MB to 1.29 GB and kept it after they left)."""
    pid = int(pid)
    q = QMP(sock)
    q.negotiate()
    expect(q.cmd("query-status")["return"]["status"] == "running",
           "the VM runs")
    before = rss_kib(pid)
    payload = b"[" + b"{}," * ((1000 * 1000) // 3)
    hostile = []
    for _ in range(5):
        h = QMP(sock)
        h.negotiate()
        h.send_raw(payload)
        hostile.append(h)
    # Until tern has read it all: the socket buffers are empty.
    time.sleep(1.0)
    during = before
    for _ in range(5):
        during = max(during, rss_kib(pid))
        time.sleep(0.1)
    expect(q.cmd("query-status")["return"]["status"] == "running",
           "the VM and other clients carry on meanwhile")
    for h in hostile:
        h.close()
    time.sleep(0.5)
    expect(q.cmd("query-status")["return"]["status"] == "running",
           "... and after they disconnect")
    after = rss_kib(pid)
    print(f"  tern's VmRSS: {before} KiB before, {during} KiB with five "
          f"hostile clients, {after} KiB after they left")
    expect(during - before < 24 * 1024,
           "five hostile clients cost tern less than 24 MiB")
    expect(after - before < 4 * 1024,
           "after they leave, tern is within 4 MiB of where it started")


def scenario_storm(sock, n):
    """Fill the 64 places, then N more connections, each closed at once."""
    held = [QMP(sock) for _ in range(64)]
    refused = 0
    for _ in range(int(n)):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.settimeout(5)
        try:
            if s.recv(1) == b"":
                refused += 1
        except ConnectionResetError:
            refused += 1
        s.close()
    expect(refused == int(n), f"all {n} connections past the cap were closed")
    for q in held:
        q.close()
    # tern notices the closes on its own time: until then, still full.
    deadline = time.monotonic() + 5
    q = QMP(sock)
    while q.greeting is None and time.monotonic() < deadline:
        q.close()
        time.sleep(0.05)
        q = QMP(sock)
    q.negotiate()
    expect(q.cmd("query-status")["return"]["status"] == "running",
           "then a place is free again and the VM runs")


class FakeServer:
    """One connection at a time on a Unix socket: a greeting, negotiation,
    then `reply` (raw bytes) to the first command, then it hangs up."""

    def __init__(self, path):
        self.path = path
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(path)
        self.lsock.listen(4)

    def serve(self, reply, greeting=b'{"QMP": {"version": {}, "capabilities": []}}'):
        def run():
            conn, _ = self.lsock.accept()
            f = conn.makefile("rb")
            try:
                conn.sendall(greeting + b"\r\n")
                f.readline()
                conn.sendall(b'{"return": {}}\r\n')
                f.readline()
                conn.sendall(reply)
            except OSError:
                pass
            finally:
                f.close()
                conn.close()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t


def run_client(tern, path, args, stdin=None, stdout=subprocess.PIPE):
    """tern qmp PATH ARGS...: (status, stdout, stderr, max RSS in KiB)."""
    proc = subprocess.Popen([tern, "qmp", path] + args,
                            stdin=subprocess.PIPE if stdin is not None
                            else subprocess.DEVNULL,
                            stdout=stdout, stderr=subprocess.PIPE)
    if stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    out = proc.stdout.read() if stdout == subprocess.PIPE else b""
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out, err.decode(errors="replace"), usage.ru_maxrss


def scenario_client(tern):
    with tempfile.TemporaryDirectory(prefix="tern-qmp-client.") as d:
        path = os.path.join(d, "fake.sock")
        srv = FakeServer(path)
        good = b'{"return": {"status": "running"}}\r\n'

        t = srv.serve(good)
        st, out, err, _ = run_client(tern, path, ["query-status"])
        t.join(10)
        expect(st == 0 and b'"running"' in out,
               f"a well-formed reply: status 0 (got {st}, {err.strip()})")

        for reply in (b"null\r\n", b"[1, 2]\r\n", b"{}\r\n", b"42\r\n",
                      b'{"return": {}, "error": {"class": "X", "desc": "y"}}\r\n',
                      b'{"error": "no"}\r\n', b'{"event": 1}\r\n',
                      b'{"QMP": {}}\r\n'):
            t = srv.serve(reply)
            st, out, err, _ = run_client(tern, path, ["query-status"])
            t.join(10)
            expect(st == 1 and "tern qmp:" in err,
                   f"{reply.strip()!r} as the reply: status 1 and a message "
                   f"(got {st}: {err.strip()})")
            t = srv.serve(reply)
            st, out, err, _ = run_client(tern, path, [],
                                         stdin=b"query-status\n")
            t.join(10)
            expect(st == 1, f"... and the same from a pipe (got {st})")

        t = srv.serve(good, greeting=b"null")
        st, out, err, _ = run_client(tern, path, ["query-status"])
        t.join(10)
        expect(st == 1 and "greeting" in err,
               f"null as the greeting: status 1 (got {st}: {err.strip()})")

        # A reply that cannot be printed is not a success.
        with open("/dev/full", "wb") as full:
            t = srv.serve(good)
            st, _, err, _ = run_client(tern, path, ["query-status"],
                                       stdout=full)
            t.join(10)
            expect(st == 1 and "stdout" in err,
                   f"stdout on /dev/full: status 1 and a message "
                   f"(got {st}: {err.strip()})")
            t = srv.serve(good)
            st, _, err, _ = run_client(tern, path, [],
                                       stdin=b"query-status\n", stdout=full)
            t.join(10)
            expect(st == 1 and "stdout" in err,
                   f"... and from a pipe (got {st}: {err.strip()})")

        # A server that sends 2 MB of `[{},{},...` and never closes it:
        # json-c alone would hold ~530 MB of it.
        t = srv.serve(b"[" + b"{}," * ((2 << 20) // 3))
        st, _, err, rss = run_client(tern, path, ["query-status"])
        t.join(10)
        print(f"  tern qmp's peak RSS against it: {rss} KiB")
        expect(st == 1 and rss < 64 * 1024,
               f"a hostile reply: status 1, peak RSS under 64 MiB "
               f"(got {st}, {rss} KiB)")


def scenario_paused_guest(sock):
    q = QMP(sock)
    q.negotiate()
    r = q.cmd("query-status")["return"]
    expect(r == {"status": "prelaunch", "singlestep": False, "running": False},
           "--paused: status prelaunch, not running")
    expect(q.cmd("stop") == {"return": {}}, "stop in prelaunch is a no-op")
    q.drain(0.2)
    expect(q.events == [], "... with no STOP event")
    expect(q.cmd("cont") == {"return": {}}, "cont starts the guest")
    check_event(q.wait_event("RESUME"), "RESUME")
    ev = q.wait_event("SHUTDOWN", timeout=20)
    check_event(ev, "SHUTDOWN")
    expect(ev.get("data") == {"guest": True, "reason": "guest-reset"},
           "the guest's reset: SHUTDOWN guest true, reason guest-reset")
    expect(q.recv(timeout=5) is None, "the connection closes as tern ends")


def scenario_fd(tern, args):
    with tempfile.TemporaryDirectory(prefix="tern-qmp-fd.") as d:
        path = os.path.join(d, "mgr.sock")
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(path)
        lsock.listen(4)
        fd = lsock.fileno()
        proc = subprocess.Popen([tern, "run", "--qmp", f"fd={fd}"] + args,
                                pass_fds=[fd], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL)
        lsock.close()
        try:
            q = QMP(path)
            q.negotiate()
            expect(q.cmd("query-status")["return"]["status"] == "running",
                   "served on the descriptor a manager passed")
            q2 = QMP(path)
            q2.negotiate()
            expect(q.cmd("quit") == {"return": {}}, "quit returns {}")
            check_event(q2.wait_event("SHUTDOWN"), "SHUTDOWN")
            status = proc.wait(timeout=20)
            expect(status == 0, f"tern exits 0 after quit (got {status})")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# The conformance session: the same requests to QEMU and to tern.

SESSION = [
    # (name, raw request or None for the greeting, wait for events after)
    ("greeting", None, False),
    ("command before negotiation", b'{"execute": "query-status"}', False),
    ("qmp_capabilities", b'{"execute": "qmp_capabilities"}', False),
    ("qmp_capabilities again", b'{"execute": "qmp_capabilities"}', False),
    ("query-version", b'{"execute": "query-version"}', False),
    ("query-status", b'{"execute": "query-status"}', False),
    ("stop", b'{"execute": "stop"}', True),
    ("query-status paused", b'{"execute": "query-status"}', False),
    ("stop when paused", b'{"execute": "stop"}', True),
    ("cont", b'{"execute": "cont"}', True),
    ("cont when running", b'{"execute": "cont"}', True),
    ("query-status running", b'{"execute": "query-status"}', False),
    ("query-name", b'{"execute": "query-name"}', False),
    ("query-kvm", b'{"execute": "query-kvm"}', False),
    ("query-cpus-fast", b'{"execute": "query-cpus-fast"}', False),
    ("query-block", b'{"execute": "query-block"}', False),
    ("query-commands", b'{"execute": "query-commands"}', False),
    ("system_reset", b'{"execute": "system_reset"}', True),
    ("system_powerdown", b'{"execute": "system_powerdown"}', True),
    ("unknown command", b'{"execute": "no-such-command"}', False),
    ("malformed JSON", b'{"execute": ]\n', False),
    ("trailing comma", b'{"execute": "query-status",}', False),
    ("not an object", b"[1, 2]", False),
    ("no execute, with id", b'{"id": 7}', False),
    ("execute not a string", b'{"execute": 1}', False),
    ("arguments not an object", b'{"execute": "stop", "arguments": []}', False),
    ("unexpected member", b'{"execute": "stop", "foo": 1}', False),
    ("unexpected argument",
     b'{"execute": "query-status", "arguments": {"x": 1}}', False),
    ("mistyped argument",
     b'{"execute": "qmp_capabilities", "arguments": {"enable": "oob"}}', False),
    ("id echo", b'{"execute": "query-name", "id": {"a": [1, "x", null]}}',
     False),
    ("id echo, compact", b'{"execute": "query-name", "id": [0,0]}', False),
    # U+0000 is part of a name, never its end (QEMU 7.2 is the oracle).
    ("NUL in a command name", b'{"execute": "quit\\u0000nope"}', False),
    ("NUL in an argument name",
     b'{"execute": "query-name", "arguments": {"x\\u0000y": 1}}', False),
    ("NUL in a member name", b'{"execute\\u0000": "query-name"}', False),
    ("NUL in the id", b'{"execute": "query-name", "id": "a\\u0000b"}', False),
    ("lone surrogate", b'{"execute": "query-name", "id": "\\ud800"}', False),
    ("quit", b'{"execute": "quit"}', True),
]


def scenario_session(sock, out):
    q = QMP(sock)
    steps = [{"step": "greeting", "reply": q.greeting, "events": []}]
    for name, raw, waits in SESSION[1:]:
        q.events = []
        q.send_raw(raw)
        reply = q.reply()
        if name == "quit":
            while True:
                msg = q.recv(timeout=10)
                if msg is None:
                    break
                q.events.append(msg)
        elif waits:
            q.drain(0.3)
        steps.append({"step": name, "reply": reply, "events": q.events})
    with open(out, "w") as f:
        json.dump(steps, f, indent=1)
    print(f"  ok: {len(steps)} steps recorded")


# Values compared exactly; everything else by keys and JSON types.
EXACT = (".error.class", ".event", ".return.status", ".return.running",
         ".data.guest", ".data.reason", ".id")


def jtype(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None:
        return "null"
    return "object" if isinstance(v, dict) else "array"


def compare(a, b, path, diffs):
    ta, tb = jtype(a), jtype(b)
    if ta != tb:
        diffs.append(f"{path or '.'}: {ta} vs {tb}")
        return
    if ta == "object":
        for k in sorted(set(a) | set(b)):
            if k not in a:
                diffs.append(f"{path}.{k}: only in the second")
            elif k not in b:
                diffs.append(f"{path}.{k}: only in the first")
            else:
                compare(a[k], b[k], f"{path}.{k}", diffs)
    elif ta == "array":
        # Lengths may differ (commands, capabilities): then the lists are
        # homogeneous and their first elements must agree.
        if len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                compare(x, y, f"{path}[{i}]", diffs)
        elif a and b:
            compare(a[0], b[0], f"{path}[0]", diffs)
    elif path.endswith(EXACT) and a != b:
        diffs.append(f"{path}: {a!r} vs {b!r}")


def scenario_compare(first, second):
    with open(first) as f:
        sa = json.load(f)
    with open(second) as f:
        sb = json.load(f)
    expect(len(sa) == len(sb), f"both sessions have {len(sa)} steps")
    failed = []
    for x, y in zip(sa, sb):
        diffs = []
        compare(x["reply"], y["reply"], "", diffs)
        ea = sorted(e["event"] for e in x["events"])
        eb = sorted(e["event"] for e in y["events"])
        if ea != eb:
            diffs.append(f"events {ea} vs {eb}")
        for e in x["events"]:
            same = [f for f in y["events"] if f["event"] == e["event"]]
            if same:
                compare(e, same[0], "", diffs)
        if diffs:
            failed.append(x["step"])
            print(f"  DIFF: {x['step']}: " + "; ".join(diffs))
        else:
            kind = ("error " + x["reply"]["error"]["class"]
                    if "error" in (x["reply"] or {}) else "same structure")
            evs = f", events {ea}" if ea else ""
            print(f"  ok: {x['step']}: {kind}{evs}")
    if failed:
        raise Fail(f"{len(failed)} steps differ: {', '.join(failed)}")


def run_scenarios(argv, scenarios, usage):
    """The other helpers' main(): argv[1] names one of scenarios, the rest
    are its arguments. A Fail prints "FAIL: why" and gives status 1; an
    unknown scenario prints usage and gives 2."""
    if len(argv) < 2 or argv[1] not in scenarios:
        print(usage)
        return 2
    try:
        scenarios[argv[1]](*argv[2:])
    except Fail as e:
        print(f"FAIL: {e}")
        return 1
    return 0


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    what = argv[1]
    try:
        if what == "multi":
            scenario_multi(argv[2])
        elif what == "malformed":
            scenario_malformed(argv[2])
        elif what == "memory":
            scenario_memory(argv[2], argv[3])
        elif what == "client":
            scenario_client(argv[2])
        elif what == "storm":
            scenario_storm(argv[2], argv[3])
        elif what == "paused-guest":
            scenario_paused_guest(argv[2])
        elif what == "fd":
            scenario_fd(argv[2], argv[3:])
        elif what == "session":
            scenario_session(argv[2], argv[3])
        elif what == "compare":
            scenario_compare(argv[2], argv[3])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (Fail, OSError, ValueError, KeyError, TypeError) as e:
        print(f"  FAILED: {type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
