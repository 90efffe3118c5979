# SPDX-License-Identifier: MIT
# The emulation-failure fallback (docs/linux-guest.md) through the real
# binary: firmware/emulate-test.elf executes each instruction of the set in
# ring 0 and checks what the SDM says it does, one case per boot. On hosts
# whose KVM cannot emulate the instruction in ring 0 (our nested kvm_pvm)
# the case passes only through tern's fallback, and tern's log says so; on
# hosts that run it natively it passes without tern. A case the host's
# KVM executes itself and gets wrong, with no emulation failure reaching
# tern (kvm_pvm: a 32-bit iret raises #GP, an iret loads a data segment
# into CS), is a skip that names the host, never a pass.
. "$(dirname "$0")/lib.sh"
need_kvm

GUEST=$FW/emulate-test.elf

# run_case NAME [EXTRA CMDLINE]: one case of the guest, alone.
run_case() {
	run_tern 60 run --kernel "$GUEST" --test-exit --cmdline "only=$1 ${2:-}"
}

# What tern did with the case: "fallback" when it completed an instruction.
via() {
	if grep -q 'completed .* for KVM (emulation failure)' "$TMP/err"; then
		echo "through tern's fallback"
	else
		echo "run by the host's KVM, no emulation failure"
	fi
}

for c in int3 int3-prefixed stac-clac popcnt popcnt-pf fwait mxcsr mxcsr-gp iretq iretd \
	iretq-null-ss iret-cs-data \
	iret-cs-past-gdt iret-ss-code iret-cs-not-present \
	iret-rip-noncanonical iret-nt iret-frame-pf; do
	run_case "$c"
	# An emulation failure tern saw is its business: never a skip.
	if [ "$STATUS" != 1 ] && ! grep -q 'emulation failure' "$TMP/err"; then
		skip_case "emulate-test $c" "this host's KVM ran the instruction itself, without an emulation failure, and got it wrong (status $STATUS): $(grep -m1 '^RESULT' "$TMP/out" || grep -m1 'tern: vCPU' "$TMP/err")"
		continue
	fi
	begin "emulate-test $c: ring-0 effect as the SDM says ($(via))"
	expect_pass
	expect_no_line err 'declined'
	end
done

begin "int3 is completed by the fallback on this host (kvm_pvm lacks it in ring 0)"
run_case int3
if ! grep -q 'completed int3 at rip 0x[0-9a-f]* for KVM (emulation failure), delivering #BP' "$TMP/err"; then
	if [ "$STATUS" = 1 ]; then
		CASES=$((CASES - 1))
		skip_case "int3 fallback" "this host's KVM runs int3 in ring 0 itself"
		CASE_OK=skipped
	else
		fail "int3 neither ran natively nor through the fallback"
	fi
fi
end

begin "an instruction outside the set ends the VM with the bytes and the registers"
run_case decline
if [ "$STATUS" = 4 ] || grep -q 'emulation failure' "$TMP/err"; then
	expect_status 4
	expect_line err 'emulation fallback declined at rip 0x[0-9a-f]+: instruction not covered'
	expect_line err 'KVM internal error, suberror 1 \(emulation failure\), instruction bytes: f0 48 0f c7 0f'
	expect_line err 'rip=0x'
	expect_line err 'cr0=0x'
	expect_no_line out '^RESULT'
else
	CASES=$((CASES - 1))
	skip_case "decline" "this host's KVM emulates lock cmpxchg16b in ring 0 (status $STATUS)"
	CASE_OK=skipped
fi
end

# --cpu-features against what the guest sees: each removed feature is
# either gone from the guest's leaf 1 ECX or named in tern's "KVM keeps"
# line. kvm_pvm keeps the host's ssse3 and xsave whatever tern sets and
# takes cx16 away (docs/linux-guest.md); a KVM that obeys keeps nothing.
begin "a removed CPU feature is gone from the guest's CPUID, or tern says KVM kept it"
run_tern 60 run --kernel "$GUEST" --test-exit --cmdline "only=cpuid" \
	--cpu-features=-cx16,-ssse3,-xsave
expect_pass
ecx=$(sed -n 's/^emulate-test: cpuid 1\.ecx=\([0-9a-f]\{8\}\) .*/\1/p' "$TMP/out")
kept=$(sed -n 's/.*--cpu-features: KVM keeps \([^ ]*\) in the guest.*/\1/p' "$TMP/err")
if [ -z "$ecx" ]; then
	fail "the guest printed no CPUID words"
else
	for f in cx16:13 ssse3:9 xsave:26; do
		name=${f%%:*} bit=${f##*:}
		case ",$kept," in
		*",$name,"*) named=1 ;;
		*) named=0 ;;
		esac
		if [ $((0x$ecx >> bit & 1)) != "$named" ]; then
			fail "$name: in the guest's leaf 1 ECX $((0x$ecx >> bit & 1)), named by tern $named ($(grep -m1 'KVM keeps' "$TMP/err"))"
		fi
	done
	echo "  guest's leaf 1 ECX $ecx; KVM kept: ${kept:-nothing}"
fi
end

begin "x-tern-query-emulation counts each completion; the log line is rate-limited"
if start_vm count --kernel "$GUEST" --test-exit --cmdline "only=int3-many,int3 hold=1"; then
	for _ in $(seq 100); do grep -q 'emulate-test: holding' "$CON" && break; sleep 0.1; done
	"$TERN" qmp "$SOCK" x-tern-query-emulation >"$TMP/q" 2>&1
	"$TERN" qmp "$SOCK" quit >/dev/null 2>&1
	wait_vm
	if ! grep -q '^RESULT: PASS$' "$CON"; then fail "guest: $(grep RESULT "$CON")"; fi
	if grep -q 'completed int3' "$VMERR"; then
		python3 - "$TMP/q" <<'PY' || fail "reply: $(cat "$TMP/q")"
import json, sys
r = json.load(open(sys.argv[1]))["return"]
assert len(r) == 1 and r[0]["cpu-index"] == 0, r
assert r[0]["completed"]["int3"] == 26 and r[0]["completed"]["iret"] == 0, r
assert r[0]["total"] == 26 and r[0]["faults"] == 0 and r[0]["declined"] == 0, r
PY
		lines=$(grep -c '^tern: vCPU 0: completed int3' "$VMERR")
		if [ "$lines" -gt 10 ]; then fail "$lines 'completed int3' lines: not rate-limited"; fi
		if ! grep -q 'similar lines suppressed, the last: vCPU 0: completed int3' "$VMERR"; then
			fail "no line reports the suppressed ones: $(cat "$VMERR")"
		fi
	else
		grep -q '"total": 0' "$TMP/q" || fail "no fallback ran, yet: $(cat "$TMP/q")"
	fi
fi
end

finish
