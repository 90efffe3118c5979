#!/bin/bash
# SPDX-License-Identifier: MIT
# Boot-time benchmark: the same exit-code.elf booted N times under tern and
# under QEMU microvm; median wall time from exec to exit and peak RSS, then
# how both scale with vCPUs and memory, and where tern's time goes.
# Usage: scripts/bench/boot.sh [BUILD_DIR] [N]
set -euo pipefail
build=${1:-build}
n=${2:-20}
rss_n=3 # peak RSS is steady: a few runs give its median
tern=$build/src/tern
elf=$build/firmware/exit-code.elf
[ -x "$tern" ] && [ -f "$elf" ] || { echo "build first: meson compile -C $build" >&2; exit 1; }
qemu=$(command -v qemu-system-x86_64 || true)

# measure NAME CMD... : prints the median us and the median peak RSS in KiB.
measure() {
	local name=$1
	shift
	local times=() rss=() i t0 t1
	for ((i = 0; i < n; i++)); do
		# Wall time from bash's own clock ($EPOCHREALTIME, no fork)
		# around the VMM's fork and exec: timing with date(1) and GNU
		# time added their own three fork/execs, ~4 ms here, to every
		# run of either VMM, which hid most of the ratio at small sizes.
		t0=${EPOCHREALTIME/./}
		"$@" >/dev/null 2>&1 || true
		t1=${EPOCHREALTIME/./}
		times+=($((t1 - t0)))
	done
	# Peak RSS from GNU time, in runs of their own.
	for ((i = 0; i < rss_n; i++)); do
		/usr/bin/time -o "$tmp/rss" -f '%M' "$@" >/dev/null 2>&1 || true
		rss+=("$(tail -n 1 "$tmp/rss")")
	done
	local mt mr
	mt=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	mr=$(printf '%s\n' "${rss[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	echo "$name $mt $mr"
}

# tern_run CPUS MEM / qemu_run CPUS MEM: one boot of the benchmark guest.
tern_run() { echo "$tern" run --kernel "$elf" --test-exit --cmdline code=0 --console none --cpus "$1" --memory "$2"; }
qemu_run() {
	echo "$qemu" -M microvm -accel kvm -cpu host,-cx16,-arch-capabilities -smp "$1" \
		-m "$2" -nodefaults -no-user-config -nographic -serial none -monitor none \
		-kernel "$elf" -append code=0 -device isa-debug-exit,iobase=0xf4,iosize=0x04
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }

results=()
results+=("$(measure tern $(tern_run 1 128M))")
# The same with the KVM teardown in the foreground (see vm_detach_teardown).
results+=("$(measure tern-sync-teardown $(tern_run 1 128M) --teardown sync)")
if [ -n "$qemu" ]; then
	results+=("$(measure qemu-microvm $(qemu_run 1 128M))")
fi

printf '%-20s %14s %14s\n' vmm "median ms" "peak RSS MiB"
for r in "${results[@]}"; do
	read -r name us kib <<<"$r"
	printf '%-20s %14.2f %14.1f\n' "$name" "$(echo "$us / 1000" | bc -l)" "$(echo "$kib / 1024" | bc -l)"
done
if [ ${#results[@]} -eq 3 ]; then
	read -r _ tu tk <<<"${results[0]}"
	read -r _ qu qk <<<"${results[2]}"
	printf 'ratio: tern is %.1fx faster to guest exit; tern RSS is %.0f%% of QEMU'"'"'s\n' \
		"$(echo "$qu / $tu" | bc -l)" "$(echo "100 * $tk / $qk" | bc -l)"
fi
echo "(n=$n runs each; wall time measured from exec to exit)"

# Scaling: vCPUs at 128 MiB, memory at one vCPU.
echo
printf '%-18s %10s %10s %8s\n' guest "tern ms" "QEMU ms" ratio
for shape in "1 128M" "4 128M" "16 128M" "1 2G" "1 16G"; do
	read -r c m <<<"$shape"
	read -r _ tu _ <<<"$(measure t $(tern_run "$c" "$m"))"
	qu=0
	[ -n "$qemu" ] && read -r _ qu _ <<<"$(measure q $(qemu_run "$c" "$m"))"
	printf '%-18s %10.2f %10.2f %7.1fx\n' "$c vCPU, $m" "$(echo "$tu / 1000" | bc -l)" \
		"$(echo "$qu / 1000" | bc -l)" "$(echo "$qu / $tu" | bc -l)"
done

# Where tern's time goes: its own --trace-boot marks (median of n runs of
# each step's end, ms since main), and the rest of the wall time: exec to
# main, and the exit after the last mark.
echo
for shape in "1 128M" "16 128M" "1 16G"; do
	read -r c m <<<"$shape"
	for ((i = 0; i < n; i++)); do
		t0=${EPOCHREALTIME/./}
		# The guest's exit status is 1 (code=0 through --test-exit): not an error.
		$(tern_run "$c" "$m") --trace-boot 2>"$tmp/err" >/dev/null || true
		t1=${EPOCHREALTIME/./}
		grep 'boot trace' "$tmp/err" | sed 's/.*main: //'
		echo "wall $(echo "($t1 - $t0) / 1000" | bc -l)"
	done >"$tmp/trace"
	python3 - "$tmp/trace" "$c vCPU, $m" <<'PY'
import statistics, sys
runs, walls, cur = [], [], None
for line in open(sys.argv[1]):
    w = line.split()
    if w[0] == "wall":
        walls.append(float(w[1]))
    else:
        runs.append({w[i]: float(w[i + 1]) for i in range(0, len(w), 2)})
steps = list(runs[0])
med = {s: statistics.median(r[s] for r in runs if s in r) for s in steps}
prev, parts = 0.0, []
for s in steps:
    parts.append(f"{s} {med[s] - prev:.2f}")
    prev = med[s]
wall = statistics.median(walls)
print(f"{sys.argv[2]}: wall {wall:.2f} ms = exec to main and exit ~{wall - prev:.2f} + " + ", ".join(parts))
PY
done
