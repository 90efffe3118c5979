#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Boot the firmware/ guests under unmodified QEMU and check their console
# lines and exit status: the guests must be correct PVH kernels before tern
# is judged by them.
#
# Usage: qemu-compat.sh BUILD_DIR       guests in BUILD_DIR/firmware/NAME.elf
#        qemu-compat.sh TERN FW_DIR     as meson runs it (TERN is unused)
# Exit: 0 all passed, 1 some failed, 77 skipped (no QEMU or no /dev/kvm).
#
# QEMU's isa-debug-exit turns the guest's exit-port value v into the host
# exit status (v << 1) | 1; a reset with -no-reboot (i8042 or triple fault)
# exits with 0.

set -u

if (($# == 2)); then
	fw_dir=$2
elif (($# == 1)); then
	fw_dir=$1/firmware
else
	echo "usage: $0 BUILD_DIR | $0 TERN FW_DIR" >&2
	exit 2
fi

qemu=${QEMU:-qemu-system-x86_64}
if ! command -v "$qemu" >/dev/null 2>&1; then
	echo "SKIP: $qemu not found (Debian: apt-get install qemu-system-x86)"
	exit 77
fi
if [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
	echo "SKIP: /dev/kvm missing or not accessible"
	exit 77
fi
qboot=/usr/share/qemu/qboot.rom

# Seconds a QEMU run may take before it counts as hung. The guests need
# well under one; a loaded CI machine gets a wide margin.
run_timeout=${QEMU_COMPAT_TIMEOUT:-60}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
skipped=0

# The last run's console (serial) output, with CRs dropped, and status.
console=$work/console
status=0

# The accelerator and CPU: KVM as tern uses it, or QEMU's own TCG for the
# guests that check instructions this host's nested KVM cannot emulate in
# ring 0 (check_tcg below).
accel=(-accel kvm -cpu host,-cx16,-arch-capabilities)

# run_qemu MACHINE ELF SECONDS [QEMU ARGS...]
# MACHINE: microvm, or q35/pc with qboot (a PVH boot in ~0.1 s; SeaBIOS
# takes seconds). The serial port goes to stdout; QEMU's own messages go to
# $work/stderr.
run_qemu() {
	local machine=$1 elf=$2 secs=$3
	shift 3
	local mflags=(-M "$machine")

	if [[ $machine != microvm ]]; then
		mflags+=(-bios "$qboot")
	fi
	timeout --kill-after=5 "$secs" "$qemu" \
		"${accel[@]}" \
		"${mflags[@]}" -nographic -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$elf" "$@" \
		</dev/null >"$work/raw" 2>"$work/stderr"
	status=$?
	tr -d '\r' <"$work/raw" >"$console"
}

report_fail() {
	local name=$1 reason=$2

	echo "FAIL: $name: $reason"
	if [[ -s $console ]]; then
		echo "  --- console ---"
		tail -n 20 "$console" | cut -c 1-200 | sed 's/^/  | /'
	fi
	if [[ -s $work/stderr ]]; then
		echo "  --- qemu stderr ---"
		sed 's/^/  | /' "$work/stderr"
	fi
	failed=$((failed + 1))
}

# check NAME MACHINE GUEST WANT_STATUS "LINE1|LINE2|..." [QEMU ARGS...]
# Every expected line must appear as a whole console line, in this order.
# Guests with a verdict must print exactly one RESULT line.
check() {
	local name=$1 machine=$2 guest=$3 want_status=$4 lines=$5
	shift 5
	local elf=$fw_dir/$guest.elf

	: >"$console"
	: >"$work/stderr"
	if [[ ! -f $elf ]]; then
		report_fail "$name" "$elf not built"
		return
	fi
	if [[ $machine != microvm && ! -f $qboot ]]; then
		echo "SKIP: $name: $qboot not found"
		skipped=$((skipped + 1))
		return
	fi
	run_qemu "$machine" "$elf" "$run_timeout" "$@"
	if ((status == 124 || status == 137)); then
		report_fail "$name" "timed out after ${run_timeout}s"
		return
	fi
	if ((status != want_status)); then
		report_fail "$name" "exit status $status, expected $want_status"
		return
	fi

	local line at=0 n
	IFS='|' read -r -a want <<<"$lines"
	for line in "${want[@]}"; do
		n=$(tail -n "+$((at + 1))" "$console" | grep -n -x -F -m 1 -- "$line" | cut -d: -f1)
		if [[ -z $n ]]; then
			report_fail "$name" "no line '$line' (in order)"
			return
		fi
		at=$((at + n))
	done
	local results
	results=$(grep -c '^RESULT: ' "$console")
	if [[ $lines == *"RESULT: "* ]] && ((results != 1)); then
		report_fail "$name" "$results RESULT lines, expected exactly 1"
		return
	fi
	echo "PASS: $name"
	passed=$((passed + 1))
}

# check_tcg: check under TCG, an emulator that has every instruction.
check_tcg() {
	local saved=("${accel[@]}")

	accel=(-accel tcg -cpu max)
	check "$@"
	accel=("${saved[@]}")
}

# The counter guest never exits: let it run, then look at the count.
check_counter() {
	local name=$1 machine=$2 secs=3
	local elf=$fw_dir/counter.elf

	: >"$console"
	: >"$work/stderr"
	if [[ ! -f $elf ]]; then
		report_fail "$name" "$elf not built"
		return
	fi
	run_qemu "$machine" "$elf" "$secs"
	if ((status != 124)); then
		report_fail "$name" "exit status $status: the counter should run until killed"
		return
	fi
	local got
	got=$(grep -E -x 'counter: [0-9]+' "$console" | cut -d' ' -f2)
	local count
	count=$(echo "$got" | grep -c .)
	# ~20 lines a second; a slow start or a loaded machine may lose many.
	if ((count < 5)); then
		report_fail "$name" "$count counter lines in ${secs}s, expected at least 5"
		return
	fi
	if [[ $got != "$(seq 0 $((count - 1)))" ]]; then
		report_fail "$name" "counter lines are not 0, 1, 2, ..."
		return
	fi
	# 50 ms a line: far more than 40 a second means the pacing is broken.
	if ((count > secs * 40)); then
		report_fail "$name" "$count counter lines in ${secs}s: not paced at ~50 ms"
		return
	fi
	echo "PASS: $name ($count lines)"
	passed=$((passed + 1))
}

# check_forever NAME MACHINE GUEST SECS MIN_LINES REGEX [QEMU ARGS...]
# A guest that never exits: it must still run when killed after SECS, with
# its first console line "GUEST: boot|start", at least MIN_LINES lines
# matching REGEX, and no RESULT line.
check_forever() {
	local name=$1 machine=$2 guest=$3 secs=$4 min=$5 regex=$6
	shift 6
	local elf=$fw_dir/$guest.elf n

	: >"$console"
	: >"$work/stderr"
	if [[ ! -f $elf ]]; then
		report_fail "$name" "$elf not built"
		return
	fi
	run_qemu "$machine" "$elf" "$secs" "$@"
	if ((status != 124)); then
		report_fail "$name" "exit status $status: it should run until killed"
		return
	fi
	if ! head -n 1 "$console" | grep -qE "^$guest: (boot|start)$"; then
		report_fail "$name" "the first line is not '$guest: boot' or '$guest: start'"
		return
	fi
	n=$(grep -cE -- "$regex" "$console")
	if ((n < min)) || grep -q '^RESULT: ' "$console"; then
		report_fail "$name" "$n lines match '$regex' (at least $min wanted), or a RESULT line"
		return
	fi
	echo "PASS: $name ($n lines)"
	passed=$((passed + 1))
}

# hello: no i8042 on microvm, so it leaves through the exit port with 0.
check hello-microvm microvm hello 1 \
	"tern hello: 1 CPUs, 128 MiB memory" -m 128M
check hello-microvm-smp2-5g microvm hello 1 \
	"tern hello: 2 CPUs, 5120 MiB memory" -smp 2 -m 5G
# On q35 the i8042 reset ends QEMU (-no-reboot) before the exit port.
check hello-q35 q35 hello 0 \
	"tern hello: 2 CPUs, 256 MiB memory" -smp 2 -m 256M

check exit-code-default microvm exit-code 1 "exit-code: 0"
check exit-code-42 microvm exit-code 85 "exit-code: 42" -append "code=42"
check exit-code-255 microvm exit-code 255 "exit-code: 255" \
	-append "quiet code=255 other=1"
check exit-code-bad microvm exit-code 1 "exit-code: 0" -append "code=256"
check exit-code-q35 q35 exit-code 15 "exit-code: 7" -append "code=7"

check smp-microvm microvm smp 1 \
	"smp: BSP apic-id=0|smp: AP apic-id=1 online|RESULT: PASS" -smp 2
check smp-q35 q35 smp 1 \
	"smp: BSP apic-id=0|smp: AP apic-id=1 online|RESULT: PASS" -smp 2
check smp-q35-acpi q35 smp 1 \
	"smp: 2 CPUs in the ACPI MADT|smp: AP apic-id=1 online|RESULT: PASS" -smp 2 -append acpi=1
check smp-uniprocessor microvm smp 1 "smp: BSP apic-id=0|RESULT: PASS"

check ring3-microvm microvm ring3 1 \
	"ring3: 100000000 iterations done|RESULT: PASS"
check ring3-q35 q35 ring3 1 \
	"ring3: 100000000 iterations done|RESULT: PASS"

# A triple fault is a reset: with -no-reboot QEMU exits with 0.
check triple-fault-microvm microvm triple-fault 0 \
	"triple-fault: loading a null IDT, then ud2"

check_counter counter-microvm microvm

# Guests that run until killed: exit-loop in its port mode (its mmio=1
# mode reads tern's own ECAM window, which QEMU's machines place
# elsewhere), flood's 4 KiB lines (QEMU's UART takes a few per second).
check_forever exit-loop-microvm microvm exit-loop 3 1 '^exit-loop: [0-9]+$'
check_forever flood-microvm microvm flood 3 1 '^[a-z]{4095}$'

# The instructions of tern's emulation fallback (docs/linux-guest.md), as the
# SDM has them, on QEMU's emulator: the reference for the same guest under
# tern. TCG takes a non-canonical IRET target and faults at the fetch, where
# the SDM faults at the IRET, and loads a reserved MXCSR bit where the SDM
# raises #GP(0): those two cases are left out here.
check_tcg emulate-test-tcg microvm emulate-test 1 \
	"emulate-test: int3 ok|emulate-test: int3 (ds prefix) ok|emulate-test: stac and clac ok|emulate-test: popcnt ok|emulate-test: popcnt from a missing page ok|emulate-test: fwait ok|emulate-test: ldmxcsr and stmxcsr ok|emulate-test: iretq ok|emulate-test: iretd ok|emulate-test: iretq null ss ok|emulate-test: iretq data segment as cs ok|emulate-test: iretq frame on a missing page ok|RESULT: PASS" \
	-append "skip=iret-rip-noncanonical,mxcsr-gp"
check_tcg emulate-test-tcg-x87 microvm emulate-test 1 \
	"emulate-test: fwait with a pending x87 exception ok|RESULT: PASS" \
	-append "only=fwait-mf"

echo "qemu-compat: $passed passed, $failed failed, $skipped skipped"
if ((failed > 0)); then
	exit 1
fi
exit 0
