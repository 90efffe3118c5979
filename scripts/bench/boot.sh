#!/bin/bash
# SPDX-License-Identifier: MIT
# Boot-time benchmark: the same exit-code.elf booted N times under tern and
# under QEMU microvm; median wall time from exec to exit and peak RSS.
# Usage: scripts/bench/boot.sh [BUILD_DIR] [N]
set -euo pipefail
build=${1:-build}
n=${2:-20}
tern=$build/src/tern
elf=$build/firmware/exit-code.elf
[ -x "$tern" ] && [ -f "$elf" ] || { echo "build first: meson compile -C $build" >&2; exit 1; }
qemu=$(command -v qemu-system-x86_64 || true)

# measure NAME CMD... : prints the median ms and the median peak RSS in KiB.
measure() {
	local name=$1
	shift
	local times=() rss=() i t0 t1
	for ((i = 0; i < n; i++)); do
		# Wall time around the exec; GNU time only reports the peak RSS
		# (its own %e has 10 ms resolution). Its fork costs both VMMs alike.
		t0=$(date +%s%N)
		/usr/bin/time -o "$tmp/rss" -f '%M' "$@" >/dev/null 2>&1 || true
		t1=$(date +%s%N)
		times+=($(((t1 - t0) / 1000)))
		rss+=("$(tail -n 1 "$tmp/rss")")
	done
	local mt mr
	mt=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	mr=$(printf '%s\n' "${rss[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	echo "$name $mt $mr"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }

results=()
results+=("$(measure tern "$tern" run --kernel "$elf" --test-exit --cmdline code=0 --console none)")
# The same with the KVM teardown in the foreground (see vm_detach_teardown).
results+=("$(measure tern-sync-teardown "$tern" run --kernel "$elf" --test-exit --cmdline code=0 --console none --teardown sync)")
if [ -n "$qemu" ]; then
	results+=("$(measure qemu-microvm "$qemu" -M microvm -accel kvm -cpu host,-cx16,-arch-capabilities \
		-m 128M -nodefaults -no-user-config -nographic -serial none -monitor none \
		-kernel "$elf" -append code=0 -device isa-debug-exit,iobase=0xf4,iosize=0x04)")
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
