# SPDX-License-Identifier: MIT
# Opt-in (TERN_SLOW_TESTS=1): boot a stock Debian cloud kernel as a check of
# tern's platform (ACPI, PCI, SMP, timers) and print how far it got, with
# the guest time to each milestone (docs/linux-guest.md). Guest ring 0 is
# emulated on nested machines like ours, so this takes tens of minutes and
# the kernel meets instructions the host's KVM cannot emulate: tern's
# emulation fallback completes the ones it covers (x-tern-query-emulation
# counts them); at any other the VM ends with the register dump. On
# hardware virtualization the same test boots to the initramfs marker in
# seconds. Run it on a quiet machine: from the kernel's switch to kvm-clock
# on, its periodic tick alone needs ~640 k emulated instructions per
# second, and a vCPU that gets less (a host busy with other work) never
# leaves the tick; the run then ends at the time-out after "vgaarb:
# loaded" (docs/linux-guest.md, run 6).
#
# The test fails when the kernel prints a warning about the platform
# (firmware bugs, resource conflicts, timer or IOAPIC trouble), when a
# milestone the kernel reached shows a wrong platform (a device or a vCPU
# missing), or when tern itself fails (a crash, an emulation failure tern
# covers but got wrong). Where the kernel stops short of init because this
# host cannot go further (an instruction outside the fallback's set), the
# milestones not reached are listed and the case is a skip with that
# reason, never a pass. Where it reaches init and init's first system call
# then hits this host's syscall gap (ring 3 entering the kernel with CS
# still 0x33), the kernel's boot passes and user space is a separate skip
# with the kernel's own lines as the reason (run 9: init at 1018.9 s).
#
# TERN_LINUX_TIMEOUT (s, default 6600) bounds the run; TERN_LINUX_KEEP=DIR
# keeps the console log, tern's stderr and the last fallback counts there
# (the run is too long to repeat for a line the summary left out);
# TERN_LINUX_QEMU=1
# also boots the same kernel under QEMU q35 to the same point and lists the
# kernel's warnings that only one of the two machines gets.
. "$(dirname "$0")/lib.sh"

if [ "${TERN_SLOW_TESTS:-0}" != 1 ]; then
	skip "stock Linux boot is opt-in: set TERN_SLOW_TESTS=1 (takes tens of minutes; ring 0 is emulated on nested KVM)"
fi
need_kvm
SRC=$(cd "$(dirname "$0")/../.." && pwd)
GUEST=${TERN_LINUX_GUEST_DIR:-$TMP/linux}
if [ ! -f "$GUEST/vmlinuz" ]; then
	bash "$SRC/scripts/get-linux-guest.sh" "$GUEST" || skip "could not fetch the Debian kernel package (no apt access?)"
fi

# One vCPU by default: with two, the periodic tick and the load balancer
# outgrow what this host emulates per tick and the boot stalls after
# "vgaarb: loaded" (docs/linux-guest.md, runs 1-4). TERN_LINUX_CPUS=N
# for more.
CPUS=${TERN_LINUX_CPUS:-1}
# nosoftlockup: the soft-lockup detector measures this host's emulated ring
# 0, not tern. Without it the kernel prints "watchdog: BUG: soft lockup -
# CPU#1 stuck for 26s!" (with a Call Trace) while one vCPU runs ftrace's
# 37697-record check and the other waits in stop_machine (docs/linux-guest.md).
# noxsave, clearcpuid=ssse3: keep the kernel off xrstor and off the SSSE3
# code of its built-in BLAKE2s (the random-number generator), SSE register
# code this host's KVM cannot emulate in ring 0 (movd %ecx,%xmm15 at
# blake2s_compress_ssse3+0x2a). The kernel must be told: kvm_pvm puts the
# host's own leaf 1 ECX into the guest's CPUID whatever tern sets, except
# the few bits KVM_GET_SUPPORTED_CPUID lists (cx16 among them), so
# --cpu-features cannot take SSSE3 or XSAVE away here (tern logs which
# masked features KVM kept). Linux documents clearcpuid= in
# Documentation/admin-guide/kernel-parameters.txt (names as in
# /proc/cpuinfo since 5.19; it taints the kernel with "S").
# cryptomgr.notests=1: the crypto self-tests (crypto/testmgr.c) run every
# registered algorithm on its test vectors, RSA private-key operations
# among them, all in ring 0, which this host emulates: run 8 spent its last
# ten minutes in the kernel's multi-precision multiply (the loop at
# 0xffffffff815d3225) after "evm: HMAC attrs", and the X.509 key loading
# that waits on the RSA test gave up with -ETIMEDOUT ("Problem loading
# in-kernel X.509 certificate (-110)"). They measure host speed, not tern.
CMDLINE="console=ttyS0 reboot=k panic=-1 noxsave clearcpuid=ssse3 nokaslr nosoftlockup cryptomgr.notests=1"
truncate -s 64M "$TMP/disk.img"

# The machine: one vCPU (above), virtio-console is left out (the UART is the
# console), virtio-rng and a virtio-blk disk, so PCI has devices to list.
begin "stock Linux walks tern's platform (milestones and guest time below)"
start=$(date +%s)
VM_TIMEOUT=${TERN_LINUX_TIMEOUT:-6600}
if start_vm linux --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.cpio.gz" \
	--memory 512M --cpus $CPUS --rng --disk "path=$TMP/disk.img" \
	--cpu-features=-cx16,-xsave --cmdline "$CMDLINE"; then
	# Keep the last answer: the counters are gone once tern exits.
	while kill -0 "$VM_PID" 2>/dev/null; do
		timeout 10 "$TERN" qmp "$SOCK" x-tern-query-emulation >"$TMP/emu.new" 2>/dev/null &&
			mv "$TMP/emu.new" "$TMP/emu.json"
		sleep 20
	done
	wait_vm
fi
LOG=$CON
if [ -n "${TERN_LINUX_KEEP:-}" ]; then
	mkdir -p "$TERN_LINUX_KEEP" && cp "$CON" "$VMERR" "$TERN_LINUX_KEEP/" &&
		{ [ ! -s "$TMP/emu.json" ] || cp "$TMP/emu.json" "$TERN_LINUX_KEEP/"; }
fi
echo "linux boot: tern status $STATUS after $(($(date +%s) - start)) s of wall time"

# The guest time of the first console line matching $1 ("" when none).
guest_time() {
	grep -m1 -E -- "$1" "$LOG" | sed -n 's/^\[ *\([0-9]*\.[0-9]*\)\].*/\1/p'
}

missing=""
milestone() { # NAME REGEX
	local t
	t=$(guest_time "$2")
	if [ -n "$t" ]; then
		printf '  milestone %-44s %10s s\n' "$1:" "$t"
	else
		printf '  milestone %-44s %12s\n' "$1:" "not reached"
		missing="$missing, $1"
	fi
}

echo "linux boot: milestones (guest time, from the kernel's printk clock):"
milestone "console up" 'printk: console \[ttyS0\] enabled'
milestone "ACPI tables read" 'ACPI: (XSDT|RSDT) 0x'
milestone "ACPI interpreter enabled" 'ACPI: Interpreter enabled'
milestone "IOAPIC registered" 'IOAPIC\[0\]: apic_id'
milestone "x2APIC, symmetric I/O mode" 'APIC: Switch to symmetric I/O mode setup'
# alternative_instructions() frees that memory right after its int3 self-test.
milestone "int3 self-test passed (fallback)" 'Freeing SMP alternatives memory'
milestone "all vCPUs up" "smpboot: Total of $CPUS processors activated"
milestone "clocksource kvm-clock" 'clocksource: Switched to clocksource kvm-clock'
milestone "IOAPIC interrupt routing (ACPI)" 'ACPI: Using IOAPIC for interrupt routing'
milestone "PCI host bridge scanned" 'PCI host bridge to bus 0000:00'
milestone "virtio-rng listed" 'pci 0000:00:[0-9a-f]{2}\.0: \[1af4:1044\]'
milestone "virtio-blk listed" 'pci 0000:00:[0-9a-f]{2}\.0: \[1af4:1042\]'
milestone "virtio BARs read (no conflict)" 'pci 0000:00:[0-9a-f]{2}\.0: BAR 4 \[mem .* 64bit pref\]'
milestone "serial 8250 driver" 'Serial: 8250/16550 driver'
milestone "initramfs unpacked" 'Freeing initrd memory'
milestone "init started" 'Run /init as init process'

# clearcpuid= above must have been understood, or the SSSE3 code runs.
if ! grep -q 'Clearing CPUID bits: ssse3' "$LOG" && grep -q 'Linux version' "$LOG"; then
	fail "the kernel did not clear ssse3: $(grep -m1 'Clearing CPUID bits' "$LOG")"
fi

# This host's syscall gap (docs/linux-guest.md): a system call from ring 3
# enters the kernel at LSTAR with CS still 0x33, so init's first one faults
# on the kernel's entry page ("RIP: 0033:entry_SYSCALL_64+0x0"), init dies
# of SIGSEGV and the kernel panics. What the kernel printed from then on
# (the panic's Call Trace) is about the host, not the platform.
hostgap=
if grep -q 'Run /init as init process' "$LOG" && grep -q 'RIP: 0033:entry_SYSCALL_64+0x0/' "$LOG"; then
	hostgap=$(grep -m1 -E 'init\[1\]: segfault at' "$LOG" | sed 's/^\[ *[0-9.]*\] //')
fi
# The hung-task detector's reports ("INFO: task ... blocked for more than
# 120 seconds" and its trace, up to "</TASK>") measure this host's speed,
# like the soft lockups nosoftlockup turns off; no boot option turns the
# detector off before init (sysctl.* is applied just before init runs).
# They are counted, not taken for platform warnings.
awk '/INFO: task .* blocked for more than/ { skip = 1; n++ }
	!skip { print }
	skip && /<\/TASK>/ { skip = 0 }
	END { print n + 0 > "/dev/stderr" }' "$LOG" 2>"$TMP/hung" |
	if [ -n "$hostgap" ]; then sed '/init\[1\]: segfault at/,$d'; else cat; fi >"$TMP/log.nohung"
if [ "$(cat "$TMP/hung")" != 0 ]; then
	echo "linux boot: $(cat "$TMP/hung") hung-task report(s) left out (host speed, not the platform)"
fi
# What the kernel said about the platform that it should not have (the
# i8042 and RTC lines: docs/linux-guest.md, fixed in the FADT).
grep -n -E 'Firmware Bug|FW BUG|\[Firmware|ACPI (BIOS )?(Error|Warning)|resource conflict|can.t claim|no compatible bridge window|BAR [0-9]+: (failed|no space)|timer doesn.t work|MP-BIOS bug|IRQ.* not connected|APIC error|WARNING:|Call Trace|BUG:|Keylock active|probe of .* failed|broken or not accessible' \
	"$TMP/log.nohung" >"$TMP/warnings" || true
if [ -s "$TMP/warnings" ]; then
	echo "linux boot: platform warnings in the kernel log:"
	sed 's/^/  /' "$TMP/warnings"
	fail "the kernel warned about the platform (above)"
fi

# The vCPUs the kernel counted must be the ones tern gave it.
if grep -q 'smpboot: Total of' "$LOG"; then
	expect_line_in() { grep -Eq -- "$1" "$LOG" || fail "console: no line matches '$1'"; }
	expect_line_in "smpboot: Total of $CPUS processors activated"
fi

if [ -s "$TMP/emu.json" ]; then
	echo "linux boot: emulation fallback (x-tern-query-emulation, last poll):"
	python3 -c 'import json,sys; [print("  cpu %d: %s" % (c["cpu-index"], json.dumps({k: v for k, v in c.items() if k != "cpu-index"}))) for c in json.load(open(sys.argv[1]))["return"]]' "$TMP/emu.json"
fi

# Where it stopped, and why.
reason=$(grep -m1 -E 'emulation fallback declined|KVM internal error|triple fault|Kernel panic' "$VMERR" "$LOG" | sed 's/^[^:]*://')
if [ "$STATUS" = 0 ] && grep -q 'TERN-LINUX-BOOT-OK' "$LOG"; then
	echo "linux boot: init ran and rebooted the machine"
elif [ -n "$hostgap" ] && [ -z "$missing" ]; then
	# Every milestone, init included: the kernel's boot is done. User space
	# is the host's to refuse, shown as a skip of its own.
	echo "linux boot: the kernel booted to init; init's first system call then hit the host's syscall gap: $hostgap"
	grep -m1 'RIP: 0033:entry_SYSCALL_64' "$LOG" | sed 's/^/  /'
	skip_case "user space (init's first system call)" "this host's KVM enters a ring-3 syscall at LSTAR with CS still 0x33 (ring 3), so the kernel's entry page faults: $hostgap"
elif [ -n "$reason" ]; then
	echo "linux boot: stopped: $reason"
	grep -A14 -m1 'KVM internal error\|triple fault' "$VMERR" | sed 's/^/  /'
	if grep -q 'emulation fallback declined' "$VMERR"; then
		if [ "$CASE_OK" = 1 ]; then
			CASES=$((CASES - 1))
			skip_case "init not reached" "this host's KVM cannot emulate an instruction outside tern's fallback:$reason (milestones not reached:${missing#,})"
			CASE_OK=skipped
		fi
	else
		fail "tern or the guest failed: $reason"
	fi
elif [ "$STATUS" = 124 ]; then
	fail "time-out after $VM_TIMEOUT s (last console line: $(tail -n1 "$LOG"))"
else
	fail "tern status $STATUS: $(tail -n3 "$VMERR")"
fi
end

# The same kernel under QEMU q35 (SeaBIOS) to the point it reaches, and the
# kernel's warnings that only one machine got.
if [ "${TERN_LINUX_QEMU:-0}" = 1 ]; then
	if ! command -v qemu-system-x86_64 >/dev/null; then
		skip_case "QEMU q35 comparison" "qemu-system-x86_64 not installed"
	else
		begin "the same kernel under QEMU q35: warnings only one machine gets"
		timeout -k 5 "${TERN_LINUX_TIMEOUT:-6600}" qemu-system-x86_64 -M q35 \
			-accel kvm -cpu host,-cx16,-xsave,-arch-capabilities -smp $CPUS -m 512M \
			-nographic -no-reboot -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.cpio.gz" \
			-append "$CMDLINE" -device virtio-rng-pci \
			-drive "file=$TMP/disk.img,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0 \
			</dev/null 2>"$TMP/qemu.err" | tr -d '\r' >"$TMP/qemu.log"
		echo "qemu q35: status $?, $(grep -c . "$TMP/qemu.log") console lines, last: $(tail -n1 "$TMP/qemu.log")"
		strip() { sed -e 's/^\[ *[0-9.]*\] //' -e 's/0x[0-9a-f]*/X/g' -e 's/[0-9]\+/N/g' "$1" |
			grep -E -i 'warn|bug|error|fail|conflict|not |invalid|disabl' | sort -u; }
		# Compare up to the last line QEMU printed.
		n=$(grep -c . "$TMP/qemu.log")
		head -n "$n" "$LOG" >"$TMP/tern.head"
		strip "$TMP/tern.head" >"$TMP/w.tern"
		strip "$TMP/qemu.log" >"$TMP/w.qemu"
		echo "  only under tern:"; comm -23 "$TMP/w.tern" "$TMP/w.qemu" | sed 's/^/    /'
		echo "  only under QEMU q35:"; comm -13 "$TMP/w.tern" "$TMP/w.qemu" | sed 's/^/    /'
		end
	fi
fi
finish
