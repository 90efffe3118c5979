# SPDX-License-Identifier: MIT
# ACPI through the real binary: the acpi-test guest reads every table and
# the DSDT's namespace, QMP system_powerdown reaches it through the Generic
# Event Device and it powers off through the sleep control register; the
# tables a running tern wrote are disassembled and recompiled by iasl.
. "$(dirname "$0")/lib.sh"
need_kvm
HELPER="$(dirname "$0")/acpi-helper.py"
command -v python3 >/dev/null || skip "python3 is not installed (scripts/install-deps.sh --test installs it)"

# start_vm NAME ARGS... : tern in the background, console in $CON, QMP at
# $SOCK; waits until the socket answers.
start_vm() {
	local name=$1
	shift
	SOCK=$TMP/$name.sock
	CON=$TMP/$name.log
	: >"$CON"
	timeout -k 5 120 "$TERN" run --console "file=$CON" --qmp "unix:$SOCK" "$@" \
		</dev/null >"$TMP/out" 2>"$TMP/err" &
	VM_PID=$!
	for _ in $(seq 100); do
		if [ -S "$SOCK" ] && timeout 5 "$TERN" qmp "$SOCK" query-status >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$VM_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "no QMP socket at $SOCK: $(cat "$TMP/err")"
	return 1
}

wait_vm() {
	wait "$VM_PID"
	STATUS=$?
}

helper() {
	if ! timeout -k 5 120 python3 "$HELPER" "$@" >"$TMP/helper.out" 2>&1; then
		fail "acpi-helper.py $1: $(cat "$TMP/helper.out")"
	fi
	cat "$TMP/helper.out"
}

# The guest's console is in $CON: a power-off prints PASS, then tern exits 0.
expect_powered_off() {
	expect_status 0
	if [ "$(grep -c '^RESULT:' "$CON")" != 1 ] || ! grep -q '^RESULT: PASS$' "$CON"; then
		fail "console: $(grep RESULT "$CON" | tr '\n' ' ')"
	fi
	if ! grep -q '^acpi-test: GED event 0x8: power button' "$CON"; then fail "no button event in the console"; fi
}

truncate -s 1M "$TMP/disk.img"
begin "acpi-test: checksums, MCFG through ECAM, the DSDT's devices by name, _PRT against two PCI functions"
run_tern 60 run --kernel "$FW/acpi-test.elf" --test-exit --rng --disk "path=$TMP/disk.img"
expect_pass
expect_line out '^acpi-test: RSDP, XSDT, 3 tables and the DSDT \([0-9]+ bytes\): checksums good$'
expect_line out '^acpi-test: FADT: hardware-reduced, sleep control port 0x600, status port 0x601$'
expect_line out '^acpi-test: MCFG: ECAM at 0xe0000000, buses 0-255; host bridge 1b36:0008$'
for dev in 'PCI0 _HID PNP0A08' 'COM1 _HID PNP0501' 'PWRB _HID PNP0C0C' 'GED_ _HID ACPI0013'; do
	expect_line out "^acpi-test: \\\\_SB_\\.$dev\$"
done
expect_line out "^acpi-test: _PRT: 128 entries; 2 PCI functions' interrupt lines agree$"
expect_line out '^acpi-test: GED: GSI 5, register 0xfeb00000, _EVT notifies PWRB on bit 0x8; \\_S5 SLP_TYP 5$'
end

begin "acpi-test with 4 vCPUs and RAM above 4 GiB (the 64-bit window moves): still consistent"
run_tern 60 run --kernel "$FW/acpi-test.elf" --test-exit --cpus 4 --memory 5G --rng
expect_pass
end

begin "system_powerdown -> GED interrupt -> _EVT's register read -> S5: exit 0, SHUTDOWN guest-shutdown"
if start_vm press --kernel "$FW/acpi-test.elf" --cmdline power=1 --rng; then
	helper press "$SOCK" "$CON"
	wait_vm
	expect_powered_off
fi
end

begin "system_powerdown while stopped: the guest hears the button at cont"
if start_vm stopped --kernel "$FW/acpi-test.elf" --cmdline power=1; then
	helper stopped "$SOCK" "$CON"
	wait_vm
	expect_powered_off
fi
end

begin "a press pending in a saved state reaches a restored twin, which powers off"
if start_vm saved --kernel "$FW/acpi-test.elf" --cmdline power=1; then
	helper save "$SOCK" "$CON" "$TMP/press.snap"
	wait_vm
	expect_status 0
	if start_vm twin --kernel "$FW/acpi-test.elf" --cmdline power=1 --paused; then
		helper restore "$SOCK" "$TMP/press.snap"
		wait_vm
		expect_powered_off
	fi
fi
end

begin "a guest that never reads the GED keeps running after system_powerdown"
if start_vm ignored --kernel "$FW/counter.elf"; then
	helper ignored "$SOCK"
	wait_vm
	expect_status 0
fi
end

# The tables as a running tern wrote them: the RAM part of a snapshot of a
# --paused VM (built, never run), read back the way a guest finds them.
if ! command -v iasl >/dev/null; then
	skip_case "iasl disassembles and recompiles every table" \
		"iasl is not installed (scripts/install-deps.sh --test installs acpica-tools)"
else
	begin "iasl disassembles every table without errors; each recompiles to the same bytes"
	if start_vm dump --kernel "$FW/counter.elf" --cpus 2 --rng --paused; then
		if timeout 30 "$TERN" qmp "$SOCK" x-tern-state-save path="$TMP/tables.snap" >/dev/null &&
			timeout 10 "$TERN" qmp "$SOCK" quit >/dev/null; then
			wait_vm
			mkdir -p "$TMP/tables"
			helper dump "$TMP/tables.snap" "$TMP/tables"
			for dat in "$TMP"/tables/*.dat; do
				sig=$(basename "$dat" .dat)
				if ! (cd "$TMP/tables" && iasl -d "$sig.dat") >"$TMP/iasl.out" 2>&1 ||
					grep -Eiq '(error|warning)' "$TMP/iasl.out"; then
					fail "iasl -d $sig: $(grep -Ei 'error|warning' "$TMP/iasl.out" | head -3)"
					continue
				fi
				# -oa: no optimisations, so the AML comes out as we wrote it.
				if ! (cd "$TMP/tables" && iasl -oa -p "re-$sig" "$sig.dsl") >"$TMP/iasl.out" 2>&1 ||
					! grep -q '0 Errors, 0 Warnings' "$TMP/iasl.out"; then
					fail "iasl $sig.dsl: $(grep -E 'Error|Warning|Compilation' "$TMP/iasl.out" | head -3)"
					continue
				fi
				# Equal but for the checksum and the creator id and revision.
				if ! cmp -s <(head -c 9 "$dat"; tail -c +11 "$dat" | head -c 18; tail -c +37 "$dat") \
					<(f="$TMP/tables/re-$sig.aml"; head -c 9 "$f"; tail -c +11 "$f" | head -c 18; tail -c +37 "$f"); then
					fail "$sig recompiled from its .dsl differs from what tern wrote"
				fi
				echo "  ok: $sig: disassembled and recompiled without errors, same bytes"
			done
			[ -e "$TMP/tables/DSDT.dsl" ] || fail "no DSDT was dumped"
		else
			fail "could not save the paused VM's state"
		fi
	fi
	end
fi

finish
