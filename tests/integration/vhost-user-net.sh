#!/bin/bash
# SPDX-License-Identifier: MIT
# --net vhost-user= against DPDK testpmd (net_vhost, macswap), see
# docs/vhost-user.md:
#  - bad options exit 2 naming what is wrong (no shared memory, queues=17,
#    keys a tap takes, a socket nobody listens on, a back-end with fewer
#    queue pairs than queues= or no MQ: a scripted one, testpmd 22.11
#    always answers GET_QUEUE_NUM with 128);
#  - net-echo over testpmd: every frame comes back once with the MACs
#    swapped and the payload byte for byte;
#  - testpmd killed (SIGKILL) mid-stream and a new one started on the same
#    socket: QMP sees VHOST_USER_DISCONNECTED then VHOST_USER_RECONNECTED
#    (device vhost-user-net.0), the guest sees the link go down and come up
#    (config interrupt, no driver reset), and its echoes resume; then stop,
#    a state save and cont work over the new back-end; the same under
#    --jail (the restarted testpmd's socket is a new file the jail's bind
#    mount does not show: the connector reaches it from its directory);
#  - the same kill with reconnect=off: the link stays down, no
#    VHOST_USER_RECONNECTED after testpmd is back, the VM runs, quit ends it;
#  - queues=2 over testpmd with 2 queues: the guest sets VQ_PAIRS_SET 2
#    through tern's control queue and every pair carries echoes; only the
#    first pair is enabled in the back-end until then; a driver that takes
#    no MQ finds the control queue at queue 2 and gets one pair;
#  - the kill and restart with 2 pairs: the new testpmd gets both pairs
#    enabled and echoes resume on each;
#  - the same guest under QEMU as the frontend (virtio-net-pci on
#    -netdev vhost-user), so that the guest is judged right by a second
#    frontend.
# Skips (77) with the reason without dpdk-testpmd (Debian dpdk, dpdk-dev,
# librte-net-vhost23: scripts/install-deps.sh --test); the QEMU case skips
# alone without QEMU.
. "$(dirname "$0")/lib.sh"
need_kvm

TESTPMD=$(command -v dpdk-testpmd || true)
HELPER=$(dirname "$0")/vhost-user-helper.py
QEMU=${QEMU:-qemu-system-x86_64}
QBOOT=/usr/share/qemu/qboot.rom
ECHO_FRAMES=20000

. "$(dirname "$0")/testpmd-lib.sh"
. "$(dirname "$0")/vu-qemu-lib.sh"
trap 'tp_stop "$TMP/tp.pid"; tp_cleanup; [ -s "$TMP/fake.pid" ] && kill "$(cat "$TMP/fake.pid")" 2>/dev/null; rm -rf "$TMP"' EXIT

begin "--net vhost-user= without shared memory exits 2 and says why"
run_tern 20 run --kernel "$FW/exit-code.elf" --test-exit --memory 128M \
	--net "vhost-user=$TMP/none.sock"
expect_status 2
expect_line err "--net 'vhost-user=.*': a vhost-user back-end needs shared guest memory: add --memory SIZE,shared=on"
end

begin "--net vhost-user= bad options exit 2 naming the option"
opts=(queues=17 tap=tap0 mtu=9000 reconnect=maybe mac=01:00:00:00:00:01)
msgs=("queues='17': expected a decimal number of queue pairs from 1 to 16"
	"vhost-user= takes only queues=, mac= and reconnect="
	"vhost-user= takes only queues=, mac= and reconnect="
	"reconnect='maybe': expected on or off"
	"mac='01:00:00:00:00:01': expected a unicast MAC")
for i in "${!opts[@]}"; do
	run_tern 20 run --kernel "$FW/exit-code.elf" --test-exit --memory 128M,shared=on \
		--net "vhost-user=$TMP/none.sock,${opts[$i]}"
	expect_status 2
	expect_line err "--net 'vhost-user=$TMP/none.sock,${opts[$i]}': ${msgs[$i]}"
done
run_tern 20 run --kernel "$FW/exit-code.elf" --test-exit --memory 128M,shared=on \
	--net "tap=tap0,reconnect=on"
expect_status 2
expect_line err "reconnect= applies to vhost-user= NICs only"
end

begin "--net vhost-user= with no back-end listening fails at start-up, naming the socket"
run_tern 20 run --kernel "$FW/exit-code.elf" --test-exit --memory 128M,shared=on \
	--net "vhost-user=$TMP/none.sock"
expect_status 2
expect_line err "vu-net0: back-end '$TMP/none.sock': connect: "
end

# fake_backend SOCK QNUM PROTO: a scripted back-end that answers the
# negotiation (VERSION_1, protocol features PROTO, GET_QUEUE_NUM QNUM) and
# then waits; it serves one connection and exits. Pid in $TMP/fake.pid.
fake_backend() {
	rm -f "$1"
	python3 - "$1" "$2" "$3" <<'PY' &
import os, socket, struct, sys
path, qnum, proto = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
c, _ = srv.accept()
c.settimeout(20)
answers = {1: (1 << 32) | (1 << 30), 15: proto, 17: qnum}
try:
    while True:
        hdr = c.recv(12, socket.MSG_WAITALL)
        if len(hdr) < 12:
            break
        req, flags, size = struct.unpack("<III", hdr)
        if size:
            c.recv(size, socket.MSG_WAITALL)
        if req in answers:
            c.sendall(struct.pack("<IIIQ", req, 0x5, 8, answers[req]))
except OSError:
    pass
PY
	echo $! >"$TMP/fake.pid"
	for _ in $(seq 50); do [ -S "$1" ] && return 0; sleep 0.1; done
	return 1
}

begin "--net vhost-user=,queues=N: a back-end with fewer queue pairs, or without MQ, exits 2 naming the option"
# GET_QUEUE_NUM counts queue pairs for a net (QEMU's reading too).
fake_backend "$TMP/fake.sock" 1 1
run_tern 20 run --kernel "$FW/exit-code.elf" --test-exit --memory 128M,shared=on \
	--net "vhost-user=$TMP/fake.sock,queues=2"
expect_status 2
expect_line err "--net 'vhost-user=$TMP/fake.sock,queues=2': the back-end at '$TMP/fake.sock' has 1 queue pair \(GET_QUEUE_NUM\), fewer than the 2 asked for"
kill "$(cat "$TMP/fake.pid")" 2>/dev/null || true
fake_backend "$TMP/fake.sock" 8 0
run_tern 20 run --kernel "$FW/exit-code.elf" --test-exit --memory 128M,shared=on \
	--net "vhost-user=$TMP/fake.sock,queues=4"
expect_status 2
expect_line err "--net 'vhost-user=$TMP/fake.sock,queues=4': the back-end at '$TMP/fake.sock' has 0 queue pairs \(GET_QUEUE_NUM; it offers no MQ protocol feature\), fewer than the 4 asked for"
kill "$(cat "$TMP/fake.pid")" 2>/dev/null || true
end

if [ -z "$TESTPMD" ]; then
	skip_case "vhost-user-net over testpmd" \
		"dpdk-testpmd is not installed (Debian dpdk, dpdk-dev, librte-net-vhost23: scripts/install-deps.sh --test)"
	finish
fi

begin "net-echo over testpmd (macswap): $ECHO_FRAMES frames back byte for byte, MACs swapped"
if tp_start "$TMP/vu.sock" "$TMP/tp.log" "$TMP/tp.pid"; then
	run_tern 120 run --kernel "$FW/net-echo.elf" --test-exit --memory 256M,shared=on \
		--net "vhost-user=$TMP/vu.sock,mac=52:54:00:ab:cd:01" \
		--cmdline "frames=$ECHO_FRAMES size=256"
	expect_pass
	expect_line out "^net-echo: mac 52:54:00:ab:cd:01, 256-byte frames, .*mergeable buffers, link up$"
	# testpmd offers packed rings; the hand-over speaks split only.
	expect_line out "^net-echo: packed ring offered: no$"
	expect_line out "^ECHO frames=$ECHO_FRAMES good=$ECHO_FRAMES late=0 lost=0 bad=0 "
	grep '^ECHO' "$TMP/out"
fi
tp_stop "$TMP/tp.pid"
end

# restart_case VM NET CMDLINE [TERN-OPTION...]: net-echo (link=1) in VM on
# --net NET while testpmd is killed with SIGKILL 1 s in and a new one
# started on the same socket; checks the events, the link going down
# mid-stream and up, and the echoes after; the guest's output in $TMP/out.
restart_case() {
	VM_TIMEOUT=150 start_vm "$1" "${@:4}" --kernel "$FW/net-echo.elf" --test-exit \
		--memory 256M,shared=on --net "$2" \
		--cmdline "link=1 frames=$ECHO_FRAMES timeout=120 $3"
	# The socket file outlives a killed testpmd; the new one's bind()
	# needs it gone.
	# shellcheck disable=SC2046
	if ! python3 "$HELPER" restart "$SOCK" "$TMP/tp.pid" 1.0 \
		--device vhost-user-net.0 --wait 60 -- \
		sh -c 'rm -f "$0"; exec "$@"' "$TMP/vu.sock" $(tp_cmd "$TMP/vu.sock") \
		>"$TMP/helper" 2>&1; then
		fail "$(cat "$TMP/helper")"
	fi
	cat "$TMP/helper"
	wait_vm
	cp "$CON" "$TMP/out"
	cp "$VMERR" "$TMP/err"
	expect_pass
	expect_line out '^net-echo: streaming$'
	expect_line out '^net-echo: link down after [0-9]+ echoes$'
	expect_line out '^net-echo: link up after [0-9]+ echoes$'
	expect_line out "^net-echo: link went down yes, came up yes, [0-9]+ echoes after$"
	expect_line out '^ECHO .* bad=0 '
	expect_line err 'vu-net0: back-end .* disconnected; the guest keeps running, reconnecting'
	expect_line err 'vu-net0: link down'
	expect_line err 'vu-net0: back-end .* reconnected'
	expect_line err 'vu-net0: link up'
	# The link went down after echoes had flowed, i.e. mid-stream.
	n=$(sed -n 's/^net-echo: link down after \([0-9]*\) echoes$/\1/p' "$TMP/out")
	if [ "${n:-0}" -lt 100 ]; then fail "the kill came before the stream: link down after ${n:-?} echoes"; fi
	grep -E '^(ECHO|PAIR|net-echo: link)' "$TMP/out"
	if [ "$CASE_OK" = 0 ]; then
		echo "--- the restarted testpmd's output"; tail -n 20 "$TMP/tp.pid.log"
	fi
}

begin "testpmd killed (SIGKILL) mid-stream and restarted: events, link down then up, echoes resume"
if tp_start "$TMP/vu.sock" "$TMP/tp.log" "$TMP/tp.pid"; then
	restart_case vm "vhost-user=$TMP/vu.sock" ""
fi
tp_stop "$TMP/tp.pid"
end

# The jail binds the socket file testpmd made first; the restarted one's
# is a new file, reached by the connector from the socket's directory.
begin "the same under --jail: the socket bound into the jail, the restarted testpmd reached from its directory"
mkdir -p "$TMP/jail"
if tp_start "$TMP/vu.sock" "$TMP/tp.log" "$TMP/tp.pid"; then
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		restart_case vmj "vhost-user=$TMP/vu.sock" "" --jail "$TMP/jail"
fi
tp_stop "$TMP/tp.pid"
end

begin "reconnect=off: testpmd killed and restarted; the link stays down, the VM and QMP do not"
if tp_start "$TMP/vu.sock" "$TMP/tp.log" "$TMP/tp.pid"; then
	VM_TIMEOUT=120 start_vm vm2 --kernel "$FW/net-echo.elf" --test-exit \
		--memory 256M,shared=on --net "vhost-user=$TMP/vu.sock,reconnect=off" \
		--cmdline "link=1 frames=$ECHO_FRAMES timeout=100"
	# shellcheck disable=SC2046
	if ! python3 "$HELPER" latched "$SOCK" "$TMP/tp.pid" 1.0 --device vhost-user-net.0 -- \
		sh -c 'rm -f "$0"; exec "$@"' "$TMP/vu.sock" $(tp_cmd "$TMP/vu.sock") \
		>"$TMP/helper" 2>&1; then
		fail "$(cat "$TMP/helper")"
	fi
	wait_vm
	cp "$CON" "$TMP/out"
	cp "$VMERR" "$TMP/err"
	expect_status 0
	expect_line err 'vu-net0: back-end .* disconnected; the guest keeps running \(reconnect=off: the device stays down\)'
	expect_line err 'vu-net0: link down'
	expect_no_line err 'vu-net0: link up'
	expect_line out '^net-echo: link down after [0-9]+ echoes$'
	expect_no_line out '^net-echo: link up'
fi
tp_stop "$TMP/tp.pid"
end

# net-echo pairs=2 passed under either frontend: the control queue took
# VQ_PAIRS_SET 2 and every echo came back on its own pair.
expect_two_pairs() {
	expect_pass
	expect_line out "^net-echo: control queue answers$"
	expect_line out "^net-echo: 2 queue pairs of 2$"
	expect_line out "^ECHO frames=$ECHO_FRAMES good=$ECHO_FRAMES late=0 lost=0 bad=0 "
	expect_line out "^PAIR 0 good=$((ECHO_FRAMES / 2)) "
	expect_line out "^PAIR 1 good=$((ECHO_FRAMES / 2)) "
}

begin "queues=2 over testpmd with 2 queues: VQ_PAIRS_SET 2 through tern's control queue, echoes on each pair"
if TP_QUEUES=2 tp_start "$TMP/vu.sock" "$TMP/tp.log" "$TMP/tp.pid"; then
	run_tern 120 run --kernel "$FW/net-echo.elf" --test-exit --memory 256M,shared=on \
		--net "vhost-user=$TMP/vu.sock,queues=2" \
		--cmdline "frames=$ECHO_FRAMES size=256 pairs=2"
	expect_two_pairs
	# The second pair starts disabled and is enabled by VQ_PAIRS_SET.
	grep 'set queue enable' "$TMP/tp.log" | sed 's/.*) //' >"$TMP/enables"
	printf 'set queue enable: %s to qp idx: %s\n' 1 0 1 1 0 2 0 3 1 2 1 3 >"$TMP/want"
	if ! cmp -s "$TMP/enables" "$TMP/want"; then
		fail "testpmd saw these SET_VRING_ENABLEs: $(tr '\n' ';' <"$TMP/enables")"
	fi
	grep -E '^(ECHO|PAIR)' "$TMP/out"
fi
tp_stop "$TMP/tp.pid"
end

begin "queues=2, a driver without MQ: the control queue is queue 2, one pair goes to the back-end"
if TP_QUEUES=2 tp_start "$TMP/vu.sock" "$TMP/tp.log" "$TMP/tp.pid"; then
	run_tern 120 run --kernel "$FW/net-echo.elf" --test-exit --memory 256M,shared=on \
		--net "vhost-user=$TMP/vu.sock,queues=2" \
		--cmdline "frames=$ECHO_FRAMES size=256"
	expect_pass
	expect_line out "^net-echo: control queue answers$"
	expect_line out "^ECHO frames=$ECHO_FRAMES good=$ECHO_FRAMES late=0 lost=0 bad=0 "
	if grep -q 'vring kick idx:2' "$TMP/tp.log"; then
		fail "queue 2 (the control queue) was handed to testpmd"
	fi
fi
tp_stop "$TMP/tp.pid"
end

begin "2 pairs: testpmd killed (SIGKILL) mid-stream and restarted; both pairs enabled again, echoes resume on each"
export TP_QUEUES=2
if tp_start "$TMP/vu.sock" "$TMP/tp.log" "$TMP/tp.pid"; then
	restart_case vm3 "vhost-user=$TMP/vu.sock,queues=2" "pairs=2"
	expect_line out '^net-echo: 2 queue pairs of 2$'
	expect_line out '^PAIR 0 good=[0-9]+ after_up=[1-9][0-9]*$'
	expect_line out '^PAIR 1 good=[0-9]+ after_up=[1-9][0-9]*$'
	# The new back-end was given both active pairs, each ring enabled
	# and none disabled: at the reconnect and again at the cont after the
	# helper's stop and state save.
	grep 'set queue enable' "$TMP/tp.pid.log" | sed 's/.*) //' >"$TMP/enables"
	printf 'set queue enable: 1 to qp idx: %s\n' 0 1 2 3 0 1 2 3 >"$TMP/want"
	if ! cmp -s "$TMP/enables" "$TMP/want"; then
		fail "the new testpmd saw these SET_VRING_ENABLEs: $(tr '\n' ';' <"$TMP/enables")"
	fi
fi
tp_stop "$TMP/tp.pid"
unset TP_QUEUES
end

begin "QEMU as frontend: net-echo over testpmd (virtio-net-pci, -netdev vhost-user)"
if ! command -v "$QEMU" >/dev/null 2>&1 || [ ! -f "$QBOOT" ]; then
	skip_case "$CASE" "no $QEMU or $QBOOT (Debian qemu-system-x86)"
	CASES=$((CASES - 1))
elif tp_start "$TMP/vu.sock" "$TMP/tp.log" "$TMP/tp.pid"; then
	run_qemu_vu 120 "$FW/net-echo.elf" "frames=$ECHO_FRAMES size=256" "$TMP/vu.sock" \
		-netdev vhost-user,id=n,chardev=c \
		-device virtio-net-pci,netdev=n,disable-legacy=on,mac=52:54:00:ab:cd:02,romfile=
	expect_pass
	expect_line out "^net-echo: mac 52:54:00:ab:cd:02, 256-byte frames, .*link up$"
	expect_line out "^ECHO frames=$ECHO_FRAMES good=$ECHO_FRAMES late=0 lost=0 bad=0 "
	grep '^ECHO' "$TMP/out"
fi
tp_stop "$TMP/tp.pid"
end

begin "QEMU as frontend, 2 queue pairs over testpmd with 2 queues: the same guest echoes on each pair"
if ! command -v "$QEMU" >/dev/null 2>&1 || [ ! -f "$QBOOT" ]; then
	skip_case "$CASE" "no $QEMU or $QBOOT (Debian qemu-system-x86)"
	CASES=$((CASES - 1))
elif TP_QUEUES=2 tp_start "$TMP/vu.sock" "$TMP/tp.log" "$TMP/tp.pid"; then
	# 2 pairs and a control queue: 5 queues, 6 vectors with the config's.
	run_qemu_vu 120 "$FW/net-echo.elf" "frames=$ECHO_FRAMES size=256 pairs=2" "$TMP/vu.sock" \
		-netdev vhost-user,id=n,chardev=c,queues=2 \
		-device virtio-net-pci,netdev=n,mq=on,vectors=6,disable-legacy=on,mac=52:54:00:ab:cd:02,romfile=
	expect_two_pairs
	grep -E '^(ECHO|PAIR)' "$TMP/out"
fi
tp_stop "$TMP/tp.pid"
end

finish
