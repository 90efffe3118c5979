#!/bin/bash
# SPDX-License-Identifier: MIT
# Block benchmark: firmware/blk-bench (4 KiB random I/O, submission loop in
# ring 3, completions polled, timed with kvmclock) against one raw file
# under tern (each engine) and under QEMU (q35 + qboot, virtio-blk-pci,
# aio=io_uring, and aio=native with cache.direct=on), next to fio on the host
# against the same file at the same queue depth: the limit.
#
# Usage: scripts/bench/blk.sh [BUILD_DIR]
# Environment:
#   QDS="1 32 128"     queue depths
#   MODES="randread"   randread and/or randwrite
#   IOS=100000         I/Os per guest run and queue depth (QD 1 runs a
#                      fifth of it: it is the slow one)
#   SIZE_MB=256        size of the test file
#   BENCH_DIR=BUILD_DIR  where the file lives: one file system for every
#                      run, and not tmpfs (QEMU is slower there, and
#                      O_DIRECT is refused)
#   FIO_RUNTIME=5      seconds per fio run
#   REPEAT=1           runs of everything; each cell shows the median
#   TERN_ONLY=1        skip QEMU and fio (quick iterations on tern)
#
# The machines are shared and small: a busy neighbour divides QEMU's
# numbers by ten (its I/O thread polls on the same two cores as the vCPU).
# The load average is printed first; run it on a quiet machine.
#
# Writeback runs (tern cache=writeback, QEMU aio=io_uring) are compared with
# QEMU aio=io_uring and with fio io_uring and psync (one job) on the page
# cache (--invalidate=0: by default fio would drop the cache and measure the
# disk); O_DIRECT runs (tern cache=none, QEMU aio=native,cache.direct=on)
# with QEMU native and fio --direct=1. The file holds blk-test's pattern and
# blk-bench runs with verify=1: every read is checked. The goal (issue 4): tern >= 1.5x QEMU at QD 32,
# not below QEMU at QD 1, >= 90 % of the host io_uring limit.
set -euo pipefail

build=${1:-build}
tern=$build/src/tern
elf=$build/firmware/blk-bench.elf
[ -x "$tern" ] && [ -f "$elf" ] || { echo "build first: meson compile -C $build" >&2; exit 1; }
qds=${QDS:-1 32 128}
modes=${MODES:-randread}
ios=${IOS:-100000}
size_mb=${SIZE_MB:-256}
dir=${BENCH_DIR:-$build}
fio_runtime=${FIO_RUNTIME:-5}
repeat=${REPEAT:-1}
qemu=$(command -v qemu-system-x86_64 || true)
qboot=/usr/share/qemu/qboot.rom
fio=$(command -v fio || true)
[ -n "${TERN_ONLY:-}" ] && { qemu=; fio=; }

fstype=$(stat -f -c %T "$dir")
if [ "$fstype" = tmpfs ]; then
	echo "$dir is tmpfs: put the file on a disk file system (BENCH_DIR=...)" >&2
	exit 1
fi
file=$dir/blk-bench.img
# blk-test's pattern, so that blk-bench (verify=1) checks what it reads.
make=$(dirname "$0")/../../tests/integration/blk-check.py
if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" != $((size_mb << 20)) ] ||
	! cmp -s -n 512 <(python3 "$make" --make /dev/stdout 1 2>/dev/null) "$file"; then
	echo "creating $file ($size_mb MiB, blk-test's pattern) ..."
	python3 "$make" --make "$file" "$size_mb"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$file.fio-writes"' EXIT

declare -A iops=()
configs=()
qd_list=$(echo $qds | tr ' ' ,)
mode_list=$(echo $modes | tr ' ' ,)

warm() { cat "$file" >/dev/null; }

# Results: iops[config|mode|qd] is a list of runs; med() takes the median.
seen() {
	local c
	for c in "${configs[@]}"; do [ "$c" = "$1" ] && return; done
	configs+=("$1")
}
add() { iops[$1]="${iops[$1]:-} $2"; }
med() { # KEY -> median of its runs, or nothing
	local v=${iops[$1]:-}
	[ -n "$v" ] && echo $v | tr ' ' '\n' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
	return 0
}

# guest NAME COMMAND...: one boot runs every mode and queue depth; QD 1 gets
# its own boot with fewer I/Os. Collects the BENCH lines.
guest() {
	local name=$1
	shift
	seen "$name"
	local -a runs=()
	for qd in $qds; do
		if [ "$qd" = 1 ]; then runs+=("1 $((ios / 5))"); fi
	done
	local rest
	rest=$(echo $qds | tr ' ' '\n' | grep -vx 1 | paste -sd, || true)
	[ -n "$rest" ] && runs+=("$rest $ios")
	for r in "${runs[@]}"; do
		read -r q n <<<"$r"
		local args="mode=$mode_list qd=$q ios=$n verify=1"
		warm
		if ! timeout -k 5 900 "$@" "$args" >"$tmp/log" 2>&1; then
			: # the exit port's status is odd by design; the lines decide
		fi
		if ! grep -q '^RESULT: PASS' "$tmp/log"; then
			echo "$name ($args): no RESULT: PASS; last lines:" >&2
			tr -d '\r' <"$tmp/log" | tail -n 5 | sed 's/^/  | /' >&2
			continue
		fi
		while read -r _ m q2 _ _ v; do
			add "$name|${m#name=}|${q2#qd=}" "${v#iops=}"
		done < <(tr -d '\r' <"$tmp/log" | grep '^BENCH ')
	done
}

tern_run() { # NAME DISK_OPTIONS
	local name=$1 disk=$2
	guest "$name" "$tern" run --kernel "$elf" --test-exit --disk "path=$file,$disk" --cmdline
}

qemu_run() { # NAME DRIVE_OPTIONS
	local name=$1 drive=$2
	guest "$name" "$qemu" -accel kvm -cpu host,-cx16,-arch-capabilities -M q35 -bios "$qboot" \
		-m 128M -display none -no-reboot -monitor none -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-device virtio-blk-pci,disable-legacy=on,drive=d0 \
		-drive "if=none,id=d0,file=$file,format=raw,$drive" \
		-kernel "$elf" -append
}

fio_run() { # NAME FIO_OPTIONS...
	local name=$1
	shift
	seen "$name"
	for m in $modes; do
		for qd in $qds; do
			# fio's writes would destroy the pattern blk-bench checks:
			# they go to a copy on the same file system.
			local target=$file
			if [ "$m" != randread ]; then
				target=$file.fio-writes
				[ -f "$target" ] || cp "$file" "$target"
				cat "$target" >/dev/null
			else
				warm
			fi
			local depth=(--iodepth="$qd")
			[[ " $* " == *" --ioengine=psync "* ]] && depth=()
			if ! "$fio" --name=b --filename="$target" --rw="$m" --bs=4k --size="${size_mb}M" \
				--invalidate=0 --time_based --runtime="$fio_runtime" --output-format=json \
				"${depth[@]}" "$@" >"$tmp/fio.json" 2>"$tmp/fio.err"; then
				echo "$name $m qd=$qd: fio failed: $(head -n 3 "$tmp/fio.err")" >&2
				continue
			fi
			add "$name|$m|$qd" "$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
print(int(sum(x["read"]["iops"] + x["write"]["iops"] for x in j["jobs"])))' "$tmp/fio.json")"
		done
	done
}

echo "file: $file ($size_mb MiB, $fstype); queue depths: $qds; modes: $modes; $ios I/Os per run; $repeat repeat(s)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
direct_ok=1
dd if="$file" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null || direct_ok=

for ((rep = 0; rep < repeat; rep++)); do
if [ -n "$fio" ]; then
	fio_run "fio io_uring" --ioengine=io_uring
	fio_run "fio psync" --ioengine=psync
	if [ -n "$direct_ok" ]; then
		fio_run "fio io_uring direct" --ioengine=io_uring --direct=1
		fio_run "fio psync direct" --ioengine=psync --direct=1
	fi
fi
if [ -n "$qemu" ] && [ -f "$qboot" ]; then
	qemu_run "qemu io_uring" "aio=io_uring,cache=writeback"
	[ -n "$direct_ok" ] && qemu_run "qemu native direct" "aio=native,cache.direct=on"
fi
tern_run "tern io_uring" "engine=io_uring,cache=writeback"
tern_run "tern threads" "engine=threads,cache=writeback"
if [ -n "$direct_ok" ]; then
	tern_run "tern aio direct" "engine=aio,cache=none"
	tern_run "tern io_uring direct" "engine=io_uring,cache=none"
fi
done

# The baselines a configuration is compared with.
qemu_of() { [[ $1 == *direct* ]] && echo "qemu native direct" || echo "qemu io_uring"; }
host_of() { [[ $2 == *direct* ]] && echo "fio $1 direct" || echo "fio $1"; }
ratio() { # A B -> A/B with 2 decimals, or -
	[ -n "$1" ] && [ -n "$2" ] && [ "$2" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }' || echo -
}
pct() {
	[ -n "$1" ] && [ -n "$2" ] && [ "$2" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }' || echo -
}

for m in $modes; do
	for qd in $qds; do
		echo
		echo "$m, 4 KiB, qd=$qd"
		printf '  %-22s %9s %8s %13s %11s\n' config IOPS "vs QEMU" "vs io_uring" "vs psync"
		for c in "${configs[@]}"; do
			v=$(med "$c|$m|$qd")
			if [[ $c == fio* ]]; then
				printf '  %-22s %9s %8s %13s %11s\n' "$c" "${v:-n/a}" - - -
				continue
			fi
			q=$(med "$(qemu_of "$c")|$m|$qd")
			h=$(med "$(host_of io_uring "$c")|$m|$qd")
			p=$(med "$(host_of psync "$c")|$m|$qd")
			printf '  %-22s %9s %8s %13s %11s\n' "$c" "${v:-n/a}" "$(ratio "$v" "$q")" \
				"$(pct "$v" "$h")" "$(pct "$v" "$p")"
		done
	done
done

echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "goals (randread, tern io_uring writeback):"
t32=$(med "tern io_uring|randread|32")
q32=$(med "qemu io_uring|randread|32")
t1=$(med "tern io_uring|randread|1")
q1=$(med "qemu io_uring|randread|1")
h32=$(med "fio io_uring|randread|32")
verdict() { awk -v a="$1" -v b="$2" -v k="$3" 'BEGIN { if (a == "" || b == "") print "n/a"; else print (a >= k * b ? "met" : "missed") }'; }
echo "  QD 32 >= 1.5x QEMU:          $(ratio "$t32" "$q32")  $(verdict "$t32" "$q32" 1.5)"
echo "  QD 1 not below QEMU:         $(ratio "$t1" "$q1")  $(verdict "$t1" "$q1" 1)"
echo "  QD 32 >= 90% of host limit:  $(pct "$t32" "$h32")  $(verdict "$t32" "$h32" 0.9)"
