#!/bin/bash
# SPDX-License-Identifier: MIT
# --net vhost-user= against DPDK testpmd (net_vhost, macswap), see
# docs/vhost-user.md:
#  - bad options exit 2 naming what is wrong (no shared memory, queues=2,
#    keys a tap takes, a socket nobody listens on);
#  - net-echo over testpmd: every frame comes back once with the MACs
#    swapped and the payload byte for byte;
#  - testpmd killed (SIGKILL) mid-stream and a new one started on the same
#    socket: QMP sees VHOST_USER_DISCONNECTED then VHOST_USER_RECONNECTED
#    (device vhost-user-net.0), the guest sees the link go down and come up
#    (config interrupt, no driver reset), and its echoes resume; then stop,
#    a state save and cont work over the new back-end;
#  - the same kill with reconnect=off: the link stays down, no
#    VHOST_USER_RECONNECTED after testpmd is back, the VM runs, quit ends it;
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
trap 'tp_stop "$TMP/tp.pid"; tp_cleanup; rm -rf "$TMP"' EXIT

begin "--net vhost-user= without shared memory exits 2 and says why"
run_tern 20 run --kernel "$FW/exit-code.elf" --test-exit --memory 128M \
	--net "vhost-user=$TMP/none.sock"
expect_status 2
expect_line err "--net 'vhost-user=.*': a vhost-user back-end needs shared guest memory: add --memory SIZE,shared=on"
end

begin "--net vhost-user= bad options exit 2 naming the option"
opts=(queues=2 tap=tap0 mtu=9000 reconnect=maybe mac=01:00:00:00:00:01)
msgs=("queues=2: vhost-user NICs have one queue pair"
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
	expect_line out "^ECHO frames=$ECHO_FRAMES good=$ECHO_FRAMES late=0 lost=0 bad=0 "
	grep '^ECHO' "$TMP/out"
fi
tp_stop "$TMP/tp.pid"
end

begin "testpmd killed (SIGKILL) mid-stream and restarted: events, link down then up, echoes resume"
if tp_start "$TMP/vu.sock" "$TMP/tp.log" "$TMP/tp.pid"; then
	VM_TIMEOUT=150 start_vm vm --kernel "$FW/net-echo.elf" --test-exit \
		--memory 256M,shared=on --net "vhost-user=$TMP/vu.sock" \
		--cmdline "link=1 frames=$ECHO_FRAMES timeout=120"
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
	grep -E '^(ECHO|net-echo: link)' "$TMP/out"
	if [ "$CASE_OK" = 0 ]; then
		echo "--- the restarted testpmd's output"; tail -n 20 "$TMP/tp.pid.log"
	fi
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

finish
