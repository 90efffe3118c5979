#!/bin/bash
# SPDX-License-Identifier: MIT
# vhost-user-blk benchmark (issue 15): firmware/blk-bench (4 KiB random
# reads, submission loop in ring 3, completions polled, timed with
# kvmclock, every read verified) on a disk served by qemu-storage-daemon,
# with tern and then QEMU (q35 + qboot, vhost-user-blk-pci, memfd guest
# memory) as the frontend. The daemon gets the same options for both, the
# ones tests/integration/vhost-user.sh uses, and a fresh start per boot.
# The back-end does the I/O; the frontend only sets up the rings and wires
# kick and call, so the goal is tern not below QEMU anywhere.
#
# Usage: scripts/bench/vhost-user.sh [BUILD_DIR]
# Environment:
#   QDS="1 32"         queue depths (QDS=" ": no blk runs, the net row only)
#   IOS=100000         I/Os per guest run and queue depth (QD 1 runs a
#                      fifth of it)
#   SIZE_MB=256        size of the test file
#   BENCH_DIR=BUILD_DIR  where the file lives (not tmpfs, as in blk.sh)
#   REPEAT=3           runs of everything; each cell shows the median
#
# The net row: firmware/net-echo (64-byte frames, 64 in flight, every echo
# checked byte for byte, loop in ring 3) over DPDK testpmd's net_vhost in
# macswap mode, the command line tests/integration/vhost-user-net.sh uses,
# with tern (--net vhost-user=) and QEMU (virtio-net-pci on -netdev
# vhost-user) as the frontend: round trips per second. NET_FRAMES=200000
# echoes per run; NET=0 leaves the row out (it is left out without
# dpdk-testpmd).
#
# The restart row: blk-bench (randread, QD 1, RESTART_IOS=100000 reads,
# each verified) on a daemon killed with SIGKILL 1.5 s into the run and
# started again at once on the same socket; tern reconnects by default,
# QEMU with reconnect=1 on its chardev (without it QEMU never does). The
# guest reports its longest time without a completion (longest_gap_us,
# to one idle check of a few ms); the script times the new daemon's own
# start (exec to its socket file, polled every 2 ms). The gap minus that start is what
# the frontend added. RESTART=0 leaves the row out.
#
# The machines are shared and small (the daemon's thread, the vCPU and the
# neighbours share two cores): the load average is printed before and after.
# PIN=1 (the default with two CPUs or more) runs the frontend on CPU 0 and
# the back-end (qemu-storage-daemon, testpmd) on the last CPU, for both
# frontends alike. Left to the scheduler, the vCPU and the daemon's thread
# sometimes share a core, and a QD 1 run then makes a quarter of the I/Os
# (measured here, pinned by hand: 12-14k IOPS on one core against 52-65k
# on two, for tern and QEMU alike), which split single runs of either
# frontend into two groups and decided the medians. PIN=0: no pinning.
set -euo pipefail

build=${1:-build}
tern=$build/src/tern
elf=$build/firmware/blk-bench.elf
[ -x "$tern" ] && [ -f "$elf" ] || { echo "build first: meson compile -C $build" >&2; exit 1; }
qds=${QDS:-1 32}
ios=${IOS:-100000}
size_mb=${SIZE_MB:-256}
dir=${BENCH_DIR:-$build}
repeat=${REPEAT:-3}
mem=256M
qemu=$(command -v qemu-system-x86_64 || true)
qboot=/usr/share/qemu/qboot.rom
qsd=$(command -v qemu-storage-daemon || true)
net=${NET:-1}
restart=${RESTART:-1}
restart_ios=${RESTART_IOS:-150000}
net_frames=${NET_FRAMES:-200000}
TESTPMD=$(command -v dpdk-testpmd || true)
if [ "$net" = 1 ] && [ -z "$TESTPMD" ]; then
	echo "dpdk-testpmd not found (Debian dpdk): no net row" >&2
	net=0
fi
# shellcheck source=tests/integration/testpmd-lib.sh
. "$(dirname "$0")/../../tests/integration/testpmd-lib.sh"
echo_elf=$build/firmware/net-echo.elf
[ -n "$qsd" ] || { echo "qemu-storage-daemon not found (Debian qemu-system-common)" >&2; exit 1; }
if [ -z "$qemu" ] || [ ! -f "$qboot" ]; then
	echo "no qemu-system-x86_64 or $qboot: the QEMU column stays empty" >&2
	qemu=
fi

fstype=$(stat -f -c %T "$dir")
if [ "$fstype" = tmpfs ]; then
	echo "$dir is tmpfs: put the file on a disk file system (BENCH_DIR=...)" >&2
	exit 1
fi
file=$dir/vhost-user-bench.img
# blk-test's pattern, so that blk-bench (verify=1) checks what it reads.
make=$(dirname "$0")/../../tests/integration/blk-check.py
if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" != $((size_mb << 20)) ] ||
	! cmp -s -n 512 <(python3 "$make" --make /dev/stdout 1 2>/dev/null) "$file"; then
	echo "creating $file ($size_mb MiB, blk-test's pattern) ..."
	python3 "$make" --make "$file" "$size_mb"
fi
tmp=$(mktemp -d)
sock=$tmp/vu.sock
ncpu=$(nproc)
pin=${PIN:-1}
[ "$ncpu" -ge 2 ] || pin=0
front=()
if [ "$pin" = 1 ]; then front=(taskset -c 0); fi
# pin_back PID: the back-end's every thread onto the last CPU.
pin_back() {
	[ "$pin" = 1 ] || return 0
	taskset -a -p -c $((ncpu - 1)) "$1" >/dev/null
}
qsd_pid=
qsd_stop() {
	if [ -n "$qsd_pid" ]; then
		kill "$qsd_pid" 2>/dev/null || true
		wait "$qsd_pid" 2>/dev/null || true
		qsd_pid=
	fi
}
trap 'qsd_stop; tp_stop "$tmp/tp.pid"; tp_cleanup; rm -rf "$tmp"' EXIT

# The daemon as vhost-user.sh starts it (one queue); returns once the
# socket accepts (the file appears at bind(), before listen()).
qsd_start() {
	qsd_spawn
	qsd_wait
}

qsd_spawn() {
	rm -f "$sock"
	"$qsd" --blockdev "driver=file,filename=$file,node-name=f" \
		--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$sock,writable=on,num-queues=1" \
		</dev/null >"$tmp/qsd.log" 2>&1 &
	qsd_pid=$!
	pin_back "$qsd_pid"
}

qsd_wait() {
	python3 - "$sock" <<'PY' && return 0
import socket, sys, time
end = time.monotonic() + 5
while time.monotonic() < end:
    try:
        socket.socket(socket.AF_UNIX).connect(sys.argv[1])
        sys.exit(0)
    except OSError:
        time.sleep(0.005)
sys.exit(1)
PY
	echo "qemu-storage-daemon made no socket: $(cat "$tmp/qsd.log")" >&2
	return 1
}

declare -A iops=()
add() { iops[$1]="${iops[$1]:-} $2"; }
med() { # KEY -> median of its runs, or nothing
	local v=${iops[$1]:-}
	[ -n "$v" ] && echo $v | tr ' ' '\n' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
	return 0
}

# passed NAME WHAT: the guest run logged in $tmp/log passed; else show its
# last lines and fail.
passed() {
	grep -q '^RESULT: PASS' "$tmp/log" && return 0
	echo "$1 ($2): no RESULT: PASS; last lines:" >&2
	tr -d '\r' <"$tmp/log" | tail -n 5 | sed 's/^/  | /' >&2
	return 1
}

# guest NAME COMMAND...: one boot per queue depth (QD 1 with fewer I/Os),
# each on a freshly started daemon; collects the BENCH lines.
guest() {
	local name=$1
	shift
	for qd in $qds; do
		local n=$ios
		if [ "$qd" = 1 ]; then n=$((ios / 5)); fi
		local args="mode=randread qd=$qd ios=$n verify=1"
		cat "$file" >/dev/null
		qsd_start || continue
		if ! timeout -k 5 600 "${front[@]}" "$@" "$args" >"$tmp/log" 2>&1; then
			: # the exit port's status is odd by design; the lines decide
		fi
		qsd_stop
		passed "$name" "$args" || continue
		while read -r _ m q2 _ _ v; do
			add "$name|${m#name=}|${q2#qd=}" "${v#iops=}"
		done < <(tr -d '\r' <"$tmp/log" | grep '^BENCH ')
	done
}

# tern_blk RUNNER, qemu_blk RUNNER [CHARDEV_OPTIONS]: the frontend's
# command line for blk-bench on the daemon, run by guest or restart_guest.
tern_blk() {
	"$1" tern "$tern" run --kernel "$elf" --test-exit --memory "$mem,shared=on" \
		--disk "vhost-user=$sock" --cmdline
}

qemu_blk() {
	"$1" qemu "$qemu" -accel kvm -cpu host,-cx16,-arch-capabilities -M q35 -bios "$qboot" \
		-m "$mem" -object "memory-backend-memfd,id=mem,size=$mem,share=on" -numa node,memdev=mem \
		-display none -no-reboot -monitor none -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-chardev "socket,id=c,path=$sock${2:-}" -device vhost-user-blk-pci,disable-legacy=on,chardev=c \
		-kernel "$elf" -append
}

# restart_guest NAME COMMAND...: one boot; the daemon killed 1.5 s in and
# started again at once. Collects the guest's longest gap and the new
# daemon's start, in ms.
restart_guest() {
	local name=$1 gpid t0 t1 gap run_ns
	shift
	cat "$file" >/dev/null
	qsd_start || return 0
	timeout -k 5 600 "${front[@]}" "$@" "mode=randread qd=1 ios=$restart_ios warmup=0 verify=1" >"$tmp/log" 2>&1 &
	gpid=$!
	sleep 1.5
	kill -9 "$qsd_pid"
	wait "$qsd_pid" 2>/dev/null || true
	qsd_pid=
	# The new daemon's start: exec to its socket's file (bind(), listen()
	# follows at once), polled by the shell itself, every 2 ms.
	t0=$(date +%s%N)
	qsd_spawn
	until [ -S "$sock" ] || ! kill -0 "$qsd_pid" 2>/dev/null; do sleep 0.002; done
	t1=$(date +%s%N)
	qsd_wait || { wait "$gpid" || true; return 0; }
	wait "$gpid" || true
	qsd_stop
	passed "$name" restart || return 0
	gap=$(tr -d '\r' <"$tmp/log" | sed -n 's/^blk-bench: randread qd=1 .* longest_gap_us=\([0-9]*\)$/\1/p')
	run_ns=$(tr -d '\r' <"$tmp/log" | sed -n 's/^BENCH .* ns=\([0-9]*\) .*/\1/p')
	# A run shorter than the time to the kill plus the new start missed it.
	if [ -z "$gap" ] || [ "${run_ns:-0}" -lt $((1500000000 + t1 - t0)) ]; then
		echo "$name (restart): the kill missed the run ($((${run_ns:-0} / 1000000)) ms); raise RESTART_IOS=$restart_ios" >&2
		return 0
	fi
	add "$name|restart-gap" $((gap / 1000))
	add "$name|restart-daemon" $(((t1 - t0) / 1000000))
	add "$name|restart-frontend" $((gap / 1000 - (t1 - t0) / 1000000))
}

# net_guest NAME COMMAND...: one boot on a fresh testpmd; the ECHO line's pps.
net_guest() {
	local name=$1
	shift
	tp_start "$sock" "$tmp/tp.log" "$tmp/tp.pid" || return 0
	pin_back "$(cat "$tmp/tp.pid")"
	timeout -k 5 300 "${front[@]}" "$@" "frames=$net_frames size=64 window=64" >"$tmp/log" 2>&1 || true
	tp_stop "$tmp/tp.pid"
	passed "$name" net-echo || return 0
	add "$name|net" "$(tr -d '\r' <"$tmp/log" | sed -n 's/^ECHO .* pps=\([0-9]*\)$/\1/p')"
}

tern_net_run() {
	net_guest tern "$tern" run --kernel "$echo_elf" --test-exit --memory "$mem,shared=on" \
		--net "vhost-user=$sock" --cmdline
}

qemu_net_run() {
	net_guest qemu "$qemu" -accel kvm -cpu host,-cx16,-arch-capabilities -M q35 -bios "$qboot" \
		-m "$mem" -object "memory-backend-memfd,id=mem,size=$mem,share=on" -numa node,memdev=mem \
		-display none -no-reboot -monitor none -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-chardev "socket,id=c,path=$sock" -netdev vhost-user,id=n,chardev=c \
		-device virtio-net-pci,netdev=n,disable-legacy=on,romfile= \
		-kernel "$echo_elf" -append
}

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
if [ "$pin" = 1 ]; then echo "pinned: frontend on CPU 0, back-end on CPU $((ncpu - 1))"; else echo "not pinned"; fi
echo "file: $file ($size_mb MiB, $fstype); queue depths: $qds; randread, 4 KiB; $ios I/Os per run (QD 1: $((ios / 5))); $repeat repeat(s)"
echo "qemu-storage-daemon: $("$qsd" --version | head -n 1)"
if [ -n "$qemu" ]; then echo "QEMU: $("$qemu" --version | head -n 1)"; fi
if [ "$net" = 1 ]; then echo "testpmd: $(dpkg-query -W -f='dpdk ${Version}' dpdk 2>/dev/null || echo '?'); net-echo: $net_frames 64-byte echoes per run, 64 in flight"; fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

# Alternate the frontends within each repeat, so a neighbour's burst hits
# both alike.
for ((rep = 0; rep < repeat; rep++)); do
	tern_blk guest
	if [ -n "$qemu" ]; then qemu_blk guest; fi
	if [ "$restart" = 1 ]; then
		tern_blk restart_guest
		# Without reconnect= QEMU never reconnects; 1 s is its finest.
		if [ -n "$qemu" ]; then qemu_blk restart_guest ,reconnect=1; fi
	fi
	if [ "$net" = 1 ]; then
		tern_net_run
		if [ -n "$qemu" ]; then qemu_net_run; fi
	fi
done

ratio() { # A B -> A/B with 2 decimals, or -
	[ -n "$1" ] && [ -n "$2" ] && [ "$2" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }' || echo -
}

echo
echo "randread, 4 KiB, through qemu-storage-daemon (median of $repeat)"
printf '  %-4s %12s %12s %12s\n' QD "tern IOPS" "QEMU IOPS" "tern/QEMU"
for qd in $qds; do
	t=$(med "tern|randread|$qd")
	q=$(med "qemu|randread|$qd")
	printf '  %-4s %12s %12s %12s\n' "$qd" "${t:-n/a}" "${q:-n/a}" "$(ratio "$t" "$q")"
done
for qd in $qds; do
	echo "  QD $qd runs: tern${iops[tern|randread|$qd]:-}; QEMU${iops[qemu|randread|$qd]:-}"
done
if [ "$restart" = 1 ]; then
	echo
	echo "qemu-storage-daemon killed (SIGKILL) mid-run and started again at once, randread QD 1 (median of $repeat, ms)"
	printf '  %-28s %10s %10s\n' "" tern QEMU
	for k in gap daemon frontend; do
		case $k in
		gap) label="guest's longest gap" ;;
		daemon) label="the new daemon's start" ;;
		frontend) label="gap - start (the frontend)" ;;
		esac
		t=$(med "tern|restart-$k")
		q=$(med "qemu|restart-$k")
		printf '  %-28s %10s %10s\n' "$label" "${t:-n/a}" "${q:-n/a}"
	done
	echo "  runs (gap/start): tern$(paste -d/ <(echo ${iops[tern|restart-gap]:-} | tr ' ' '\n') <(echo ${iops[tern|restart-daemon]:-} | tr ' ' '\n') | tr '\n' ' ' | sed 's/^/ /;s/ $//'); QEMU$(paste -d/ <(echo ${iops[qemu|restart-gap]:-} | tr ' ' '\n') <(echo ${iops[qemu|restart-daemon]:-} | tr ' ' '\n') | tr '\n' ' ' | sed 's/^/ /;s/ $//')"
fi
if [ "$net" = 1 ]; then
	echo
	echo "net-echo through testpmd macswap, 64-byte frames (median of $repeat)"
	printf '  %-4s %12s %12s %12s\n' "" "tern pps" "QEMU pps" "tern/QEMU"
	t=$(med "tern|net")
	q=$(med "qemu|net")
	printf '  %-4s %12s %12s %12s\n' "echo" "${t:-n/a}" "${q:-n/a}" "$(ratio "$t" "$q")"
	echo "  runs: tern${iops[tern|net]:-}; QEMU${iops[qemu|net]:-}"
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
