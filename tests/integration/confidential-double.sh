# SPDX-License-Identifier: MIT
# SEV and SEV-ES launches through `tern run` against a TEST DOUBLE, NOT
# REAL HARDWARE, AND NOTHING IS ENCRYPTED: this host has no SEV (KVM offers
# only the default VM type). tern-confidential-double is tern linked with
# tests/integration/confidential-double-host.c: the KVM confidential
# ioctls and /dev/sev are answered by the simulated PSP of
# tests/unit/test-confidential-fake.h (which checks the order and contents
# of every command), while the real KVM runs an ordinary VM whose memory
# the host can read. The guest (firmware/flash-secret.S) prints the 16
# bytes at 0x8000, where the launch secret goes. What real hardware must
# still confirm is listed in docs/confidential.md. The product tern is
# checked for its refusal here.
#
# Run as: bash confidential-double.sh TERN_CONFIDENTIAL_DOUBLE FIRMWARE_DIR TERN
. "$(dirname "$0")/lib.sh"
REAL_TERN=${3:?usage: $0 TERN_CONFIDENTIAL_DOUBLE FIRMWARE_DIR TERN}
SECRET_FW=$FW/flash-secret.bin
HELLO_FW=$FW/flash-hello.bin
SNP_FW=$FW/flash-snp.bin
TDX_FW=$FW/flash-tdx.bin
[ -f "$SECRET_FW" ] || skip "$SECRET_FW was not built"

# A 52-byte packet header (FLAGS, IV, MAC: the double checks only its size)
# and a 16-byte secret, base64 as the guest owner sends them.
HDR=$(head -c 52 /dev/zero | base64 -w0)
SECRET_HEX=5465726e53656372657421a5c3e10f77
SECRET=$(echo "$SECRET_HEX" | xxd -r -p | base64 -w0)

# qmp CMD [ARGS]: the reply (return or error) as JSON in $TMP/reply.
qmp() {
	"$REAL_TERN" qmp "$SOCK" "$@" >"$TMP/reply" 2>&1
}

# expect_return PYTHON-EXPR: the reply is a return r for which EXPR holds.
expect_return() {
	python3 - "$TMP/reply" "$1" <<'PY' || fail "$1: $(cat "$TMP/reply")"
import json, sys
r = json.load(open(sys.argv[1]))
assert "return" in r, r
r = r["return"]
assert eval(sys.argv[2]), r
PY
}

# expect_error TEXT: a GenericError whose desc is exactly TEXT.
expect_error() {
	python3 - "$TMP/reply" "$1" <<'PY' || fail "expected error '$1': $(cat "$TMP/reply")"
import json, sys
r = json.load(open(sys.argv[1]))
e = r.get("error", {})
assert e.get("class") == "GenericError" and e.get("desc") == sys.argv[2], r
PY
}

# measure_matches KIND CPUS [SIG]: query-sev-launch-measure's blob is the
# 32-byte digest `tern measure` predicts, then the 16-byte nonce.
measure_matches() {
	local want
	want=$("$REAL_TERN" measure --confidential "$1" --firmware "$SECRET_FW" \
		--cpus "$2" ${3:+--vcpu-sig "$3"} 2>&1) || { fail "tern measure: $want"; return; }
	qmp query-sev-launch-measure
	python3 - "$TMP/reply" "$want" <<'PY' || fail "measurement vs tern measure $want: $(cat "$TMP/reply")"
import base64, json, sys
blob = base64.b64decode(json.load(open(sys.argv[1]))["return"]["data"])
assert len(blob) == 48, len(blob)
assert blob[:32].hex() == sys.argv[2].strip(), (blob[:32].hex(), sys.argv[2])
PY
}

# reset_ends_vm: as QEMU, a VM whose vCPU state is the guest's (SEV-ES,
# SNP, TDX) cannot be reset: system_reset ends it, and the double saw no
# violation on the way.
reset_ends_vm() {
	qmp system_reset
	wait_vm
	expect_status 0
	grep -q 'cpus are not resettable, terminating' "$VMERR" ||
		fail "system_reset did not end the VM: $(cat "$VMERR")"
	grep -q violation "$VMERR" && fail "double: $(cat "$VMERR")"
}

begin "product tern refuses --confidential sev here, naming what the host lacks"
timeout -k 5 30 "$REAL_TERN" run --confidential sev --firmware "$SECRET_FW" \
	</dev/null >"$TMP/out" 2>"$TMP/err"
STATUS=$?
expect_status 2
expect_line err '^tern run: --confidential sev: KVM offers no sev VM type here'
end

begin "the product tern links the real host calls, the double binary the double"
if ! command -v nm >/dev/null 2>&1 || ! nm "$REAL_TERN" 2>/dev/null | grep -q ' host_sev_open$'; then
	skip_case "$CASE" "nm missing or the binaries carry no symbols"
	CASES=$((CASES - 1))
else
	# host_kvm.c's static functions in one, the double's in the other.
	nm "$REAL_TERN" | grep -qE ' (dbl_vm_ioctl|fake_sev)$' && fail "the product tern contains the double"
	nm "$TERN" | grep -q ' dbl_vm_ioctl$' || fail "tern-confidential-double lacks the double"
	nm "$TERN" | grep -q ' host_sev_open$' && fail "tern-confidential-double links the real host"
	end
fi

need_kvm

begin "double, unencrypted: sev without --paused finishes the launch and boots"
run_tern 60 run --confidential sev --firmware "$HELLO_FW" --test-exit
expect_pass
expect_line out '^flash-hello: running from the reset vector$'
expect_line err 'launch measured \(1 vCPUs'
expect_no_line err 'violation'
end

begin "double, unencrypted: sev --paused: launch-secret, measurement = tern measure, capabilities, attestation report, secret reaches the guest"
if start_vm sev --paused --confidential sev --firmware "$SECRET_FW" --test-exit; then
	qmp query-sev
	expect_return 'r == {"enabled": True, "api-major": 1, "api-minor": 55, "build-id": 21, "policy": 1, "state": "launch-secret", "handle": 42}'
	measure_matches sev 1
	# The double's PSP certificates (made-up bytes), asked for as QEMU does:
	# lengths first, then the data.
	qmp query-sev-capabilities
	expect_return 'sorted(r) == ["cbitpos", "cert-chain", "cpu0-id", "pdh", "reduced-phys-bits"] and __import__("base64").b64decode(r["pdh"]) == bytes(range(0x10, 0x10 + 36)) and __import__("base64").b64decode(r["cert-chain"]) == bytes(range(0x80, 0x80 + 100)) and __import__("base64").b64decode(r["cpu0-id"]) == bytes(range(0xc0, 0x100)) and 0 <= r["cbitpos"] < 64 and r["reduced-phys-bits"] == 1'
	# The attestation report: the owner's nonce, then the launch digest the
	# measurement above carries, signed (by the double: made-up bytes).
	qmp query-sev-launch-measure
	cp "$TMP/reply" "$TMP/measure"
	qmp query-sev-attestation-report '{"mnonce": "AAECAwQFBgcICQoLDA0ODw=="}'
	python3 - "$TMP/reply" "$TMP/measure" <<'PY' || fail "attestation report: $(cat "$TMP/reply")"
import base64, json, sys
rep = base64.b64decode(json.load(open(sys.argv[1]))["return"]["data"])
meas = base64.b64decode(json.load(open(sys.argv[2]))["return"]["data"])
assert len(rep) == 208, len(rep)
assert rep[:16] == bytes(range(16)), rep[:16]
assert rep[16:48] == meas[:32], (rep[16:48].hex(), meas[:32].hex())
PY
	qmp query-sev-attestation-report '{"mnonce": "AAEC"}'
	expect_error 'SEV: mnonce must be 16 bytes (got 3)'
	# Bad uses: QMP errors, the VM stays in launch-secret.
	qmp sev-inject-launch-secret "{\"packet-header\": \"\", \"secret\": \"$SECRET\"}"
	expect_error 'SEV: Failed to decode sequence header'
	qmp sev-inject-launch-secret "{\"packet-header\": \"$HDR\", \"secret\": \"\"}"
	expect_error 'SEV: Failed to decode data'
	qmp sev-inject-launch-secret "{\"packet-header\": \"$HDR\", \"secret\": \"$SECRET\", \"gpa\": 8589934592}"
	expect_error 'SEV: Failed to calculate guest address: No memory is mapped at address 0x200000000'
	qmp sev-inject-launch-secret "{\"packet-header\": \"AAAA\", \"secret\": \"$SECRET\"}"
	expect_error "SEV: failed to inject secret ret=-5 fw_error=4 'Buffer too small'"
	qmp sev-inject-launch-secret "{\"packet-header\": \"$HDR\"}"
	expect_error "Parameter 'secret' is missing"
	qmp query-sev
	expect_return 'r["state"] == "launch-secret"'
	qmp x-tern-state-save "{\"path\": \"$TMP/state\"}"
	expect_error 'SEV: Migration is not implemented'
	# No gpa: the secret area the firmware's footer table names (0x8000).
	qmp sev-inject-launch-secret "{\"packet-header\": \"$HDR\", \"secret\": \"$SECRET\"}"
	expect_return 'r == {}'
	qmp cont
	wait_vm
	expect_status 1
	grep -q "^flash-secret: $SECRET_HEX\$" "$CON" || fail "guest did not print the secret: $(cat "$CON")"
	grep -q '^RESULT: PASS$' "$CON" || fail "no RESULT: PASS: $(cat "$CON")"
	grep -q violation "$VMERR" && fail "double: $(cat "$VMERR")"
fi
end

begin "double, unencrypted: sev-es on 2 vCPUs: VMSAs measured, running after cont, late secret refused"
if start_vm es --paused --cpus 2 --confidential sev-es --firmware "$SECRET_FW"; then
	qmp query-sev
	expect_return 'r["enabled"] and r["policy"] == 5 and r["state"] == "launch-secret"'
	sig=$(sed -n 's/.*vCPU signature \(0x[0-9a-f]*\)).*/\1/p' "$VMERR")
	[ -n "$sig" ] || fail "no vCPU signature on stderr: $(cat "$VMERR")"
	measure_matches sev-es 2 "$sig"
	qmp sev-inject-launch-secret "{\"packet-header\": \"$HDR\", \"secret\": \"$SECRET\", \"gpa\": 32768}"
	expect_return 'r == {}'
	qmp cont
	# Without --test-exit the guest halts after its verdict: still running.
	for _ in $(seq 100); do grep -q '^RESULT:' "$CON" && break; sleep 0.1; done
	grep -q "^flash-secret: $SECRET_HEX\$" "$CON" || fail "guest did not print the secret: $(cat "$CON")"
	grep -q '^RESULT: PASS$' "$CON" || fail "no RESULT: PASS: $(cat "$CON")"
	qmp query-sev
	expect_return 'r["state"] == "running"'
	qmp sev-inject-launch-secret "{\"packet-header\": \"$HDR\", \"secret\": \"$SECRET\", \"gpa\": 32768}"
	expect_error 'SEV: Not in correct state. (LSECRET) 3'
	qmp query-status
	expect_return 'r["status"] == "running"'
	# As QEMU: an SEV-ES vCPU cannot be reset, so the VM ends instead.
	reset_ends_vm
fi
end

begin "double, unencrypted: sev-es hands the owner's dh-cert and session to LAUNCH_START"
head -c 100 /dev/urandom | base64 -w0 >"$TMP/cert.b64"
head -c 40 /dev/urandom | base64 -w0 >"$TMP/session.b64"
run_tern 60 run --confidential "sev-es,policy=0x7,dh-cert=$TMP/cert.b64,session=$TMP/session.b64" \
	--firmware "$HELLO_FW" --test-exit
expect_pass
expect_line err '^confidential double: LAUNCH_START policy 0x7, dh-cert 100 bytes, session 40 bytes$'
expect_no_line err 'violation'
end

begin "double: a dh-cert that is not base64 is refused before the launch"
printf '%s' '@@@@' >"$TMP/bad.b64"
run_tern 30 run --confidential "sev,dh-cert=$TMP/bad.b64,session=$TMP/session.b64" \
	--firmware "$HELLO_FW" --test-exit
expect_status 2
expect_line err "dh-cert=$TMP/bad.b64: expected base64 contents"
expect_no_line err 'LAUNCH_START'
end

begin "double: the firmware failing LAUNCH_START ends tern with exit 2 naming it"
TERN_CONF_DOUBLE_FAIL=2 run_tern 30 run --confidential sev --firmware "$HELLO_FW" --test-exit
expect_status 2
expect_line err "^tern run: --confidential sev: KVM_SEV_LAUNCH_START failed: Input/output error \\(firmware status 26 'unknown error'\\)$"
end

begin "double: the firmware failing LAUNCH_FINISH at cont ends tern (exit 4), as QEMU exits"
if TERN_CONF_DOUBLE_FAIL=7 start_vm finfail --paused --confidential sev --firmware "$SECRET_FW" --test-exit; then
	qmp query-sev
	expect_return 'r["state"] == "launch-secret"'
	qmp cont
	wait_vm
	expect_status 4
	grep -q 'KVM_SEV_LAUNCH_FINISH failed' "$VMERR" || fail "no LAUNCH_FINISH error: $(cat "$VMERR")"
	grep -q '^flash-secret' "$CON" && fail "the guest ran: $(cat "$CON")"
fi
end

begin "double: --confidential with --incoming is refused"
run_tern 30 run --confidential sev --firmware "$SECRET_FW" --incoming defer
expect_status 2
expect_line err '^tern run: --confidential: not with --incoming'
end

# snp_measure CPUS SIG: the digest `tern measure` predicts for flash-snp.
snp_measure() {
	"$REAL_TERN" measure --confidential sev-snp --firmware "$SNP_FW" \
		--cpus "$1" --vcpu-sig "$2" 2>&1
}

# vcpu_sig FILE: the vCPU signature tern printed when it launched.
vcpu_sig() {
	sed -n 's/.*vCPU signature \(0x[0-9a-f]*\).*/\1/p' "$1"
}

begin "double, unencrypted: sev-snp from guest_memfd slots: measurement = tern measure, the guest reads KVM's CPUID page"
run_tern 60 run --confidential sev-snp --firmware "$SNP_FW" --test-exit
expect_pass
vendor=$(sed -n 's/^vendor_id[[:space:]]*: //p' /proc/cpuinfo | head -1)
expect_line out "^flash-snp: cpuid [0-9a-f][0-9a-f] vendor $vendor\$"
expect_no_line out '^flash-snp: cpuid 00'
expect_line err '^confidential double: SNP_LAUNCH_START policy 0x30000$'
sig=$(vcpu_sig "$TMP/err")
[ -n "$sig" ] || fail "no vCPU signature on stderr: $(cat "$TMP/err")"
want=$(snp_measure 1 "$sig") || fail "tern measure: $want"
expect_line err "^confidential double: SNP_LAUNCH_FINISH id-block off, host-data 0{64}, measurement $want\$"
expect_no_line err 'violation'
end

begin "double, unencrypted: sev-snp on 2 vCPUs with an ID block and host data: query-sev as QEMU 9.1, no reset, no state save"
head -c 96 /dev/urandom | base64 -w0 >"$TMP/idb.b64"
head -c 4096 /dev/urandom | base64 -w0 >"$TMP/ida.b64"
HOST_DATA=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
if start_vm snp --cpus 2 --firmware "$SNP_FW" \
	--confidential "sev-snp,policy=0x70000,id-block=$TMP/idb.b64,id-auth=$TMP/ida.b64,host-data=$HOST_DATA"; then
	for _ in $(seq 100); do grep -q '^RESULT:' "$CON" && break; sleep 0.1; done
	grep -q '^RESULT: PASS$' "$CON" || fail "no RESULT: PASS: $(cat "$CON")"
	qmp query-sev
	expect_return 'r == {"enabled": True, "api-major": 1, "api-minor": 55, "build-id": 21, "state": "running", "sev-type": "sev-snp", "snp-policy": 0x70000}'
	sig=$(vcpu_sig "$VMERR")
	want=$(snp_measure 2 "$sig") || fail "tern measure: $want"
	grep -qE "^confidential double: SNP_LAUNCH_FINISH id-block on, host-data $HOST_DATA, measurement $want\$" "$VMERR" ||
		fail "SNP_LAUNCH_FINISH not as predicted ($want): $(cat "$VMERR")"
	grep -q '^confidential double: SNP_LAUNCH_START policy 0x70000$' "$VMERR" ||
		fail "policy not handed over: $(cat "$VMERR")"
	# SNP has no LAUNCH_MEASURE or LAUNCH_SECRET: the guest attests.
	qmp query-sev-launch-measure
	expect_error 'SEV launch measurement is not available'
	qmp sev-inject-launch-secret "{\"packet-header\": \"$HDR\", \"secret\": \"$SECRET\", \"gpa\": 32768}"
	expect_error 'SEV: Not in correct state. (LSECRET) 3'
	qmp stop
	qmp x-tern-state-save "{\"path\": \"$TMP/state\"}"
	expect_error 'SEV: Migration is not implemented'
	qmp cont
	qmp query-status
	expect_return 'r["status"] == "running"'
	reset_ends_vm
fi
end

begin "double: the SNP firmware's corrected CPUID page is what the guest gets"
TERN_CONF_DOUBLE_CPUID_REJECTS=1 run_tern 60 run --confidential sev-snp --firmware "$SNP_FW" --test-exit
expect_pass
expect_line out '^flash-snp: cpuid c1 vendor '
expect_no_line err 'violation'
end

begin "double: an id-block of the wrong size is refused before the launch"
head -c 95 /dev/urandom | base64 -w0 >"$TMP/short.b64"
run_tern 30 run --confidential "sev-snp,id-block=$TMP/short.b64,id-auth=$TMP/ida.b64" \
	--firmware "$SNP_FW" --test-exit
expect_status 2
expect_line err "id-block=$TMP/short.b64: decodes to 95 bytes, expected 96"
expect_no_line err 'SNP_LAUNCH_START'
end

begin "double: the firmware failing SNP_LAUNCH_UPDATE ends tern with exit 2 naming it"
TERN_CONF_DOUBLE_FAIL=101 run_tern 30 run --confidential sev-snp --firmware "$SNP_FW" --test-exit
expect_status 2
expect_line err "^tern run: --confidential sev-snp: KVM_SEV_SNP_LAUNCH_UPDATE failed: .*firmware status 26"
expect_no_line out '^flash-snp'
end

# tdx_mrtd: the MRTD `tern measure` predicts for flash-tdx.
tdx_mrtd() {
	"$REAL_TERN" measure --confidential tdx --firmware "$TDX_FW" 2>&1
}

begin "double, unencrypted: tdx from guest_memfd slots: MRTD = tern measure, the TD HOB describes RAM"
run_tern 60 run --confidential tdx --firmware "$TDX_FW" --memory 64M --test-exit
expect_pass
# [0, HOB) [HOB] [HOB end, TEMP_MEM) [TEMP_MEM] [TEMP_MEM end, 64M): the
# launch added 8 KiB of HOB and 8 KiB of temporary memory.
expect_line out '^flash-tdx: hob v09 resources 05 ram 04000000 added 00004000$'
want=$(tdx_mrtd) || fail "tern measure: $want"
expect_line err "^confidential double: TDX_FINALIZE_VM mrtd $want\$"
expect_line err '^tern: --confidential tdx: launched \(1 vCPUs\)$'
# The configurable CPUID leaves the double's module offers, from tern's.
expect_line err '^confidential double: TDX_INIT_VM attributes 0x10000000 xfam 0x3, 2 CPUID leaves$'
expect_no_line err 'violation'
end

begin "double, unencrypted: tdx on 2 vCPUs with RAM above 4 GiB: not SEV to QMP, no reset, no state save"
if start_vm tdx --cpus 2 --memory 3584M --confidential tdx --firmware "$TDX_FW"; then
	for _ in $(seq 100); do grep -q '^RESULT:' "$CON" && break; sleep 0.1; done
	# 3 GiB below the hole (split by the two sections), 512 MiB above.
	grep -q '^flash-tdx: hob v09 resources 06 ram e0000000 added 00004000$' "$CON" ||
		fail "TD HOB not as expected: $(cat "$CON")"
	grep -q '^RESULT: PASS$' "$CON" || fail "no RESULT: PASS: $(cat "$CON")"
	want=$(tdx_mrtd) || fail "tern measure: $want"
	grep -q "^confidential double: TDX_FINALIZE_VM mrtd $want\$" "$VMERR" ||
		fail "MRTD not as predicted ($want): $(cat "$VMERR")"
	qmp query-sev
	expect_return 'r == {"enabled": False, "api-major": 0, "api-minor": 0, "build-id": 0, "policy": 0, "state": "uninit", "handle": 0}'
	qmp stop
	qmp x-tern-state-save "{\"path\": \"$TMP/state\"}"
	expect_error "TDX: a TD's state cannot be saved or migrated"
	qmp cont
	reset_ends_vm
fi
end

begin "double: the TDX module failing INIT_MEM_REGION ends tern with exit 2 naming it"
TERN_CONF_DOUBLE_FAIL=3 run_tern 30 run --confidential tdx --firmware "$TDX_FW" --test-exit
expect_status 2
expect_line err "^tern run: --confidential tdx: KVM_TDX_INIT_MEM_REGION failed: Input/output error \\(hw_error 0x1a\\)$"
expect_no_line out '^flash-tdx'
end

begin "double: a tdx firmware without TDVF metadata is refused before anything is built"
run_tern 30 run --confidential tdx --firmware "$SNP_FW" --test-exit
expect_status 2
expect_line err '^tern run: --firmware: no TDVF metadata'
end

begin "a VM that is not confidential answers the SEV commands as QEMU 7.2 without SEV"
if start_vm plain --paused --firmware "$HELLO_FW"; then
	qmp query-sev
	expect_return 'r == {"enabled": False, "api-major": 0, "api-minor": 0, "build-id": 0, "policy": 0, "state": "uninit", "handle": 0}'
	qmp query-sev-launch-measure
	expect_error 'SEV launch measurement is not available'
	qmp query-sev-capabilities
	expect_error 'SEV is not enabled in KVM'
	qmp sev-inject-launch-secret "{\"packet-header\": \"$HDR\", \"secret\": \"$SECRET\"}"
	expect_error 'SEV not enabled for guest'
	qmp query-sev-attestation-report '{"mnonce": "AAECAwQFBgcICQoLDA0ODw=="}'
	expect_error 'SEV is not enabled'
	qmp quit
	wait_vm
	expect_status 0
fi
end

begin "QEMU 7.2 without SEV gives the same replies"
qemu=${QEMU:-qemu-system-x86_64}
if ! command -v "$qemu" >/dev/null 2>&1; then
	skip_case "$CASE" "$qemu not found (Debian: apt-get install qemu-system-x86)"
else
	SOCK=$TMP/qemu.sock
	timeout -k 5 60 "$qemu" -accel kvm -M pc -nodefaults -display none -S \
		-qmp "unix:$SOCK,server=on,wait=off" </dev/null >"$TMP/out" 2>"$TMP/err" &
	qpid=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
	qmp query-sev
	expect_return 'r == {"enabled": False, "api-major": 0, "api-minor": 0, "build-id": 0, "policy": 0, "state": "uninit", "handle": 0}'
	qmp query-sev-launch-measure
	expect_error 'SEV launch measurement is not available'
	qmp query-sev-capabilities
	expect_error 'SEV is not enabled in KVM'
	qmp sev-inject-launch-secret "{\"packet-header\": \"$HDR\", \"secret\": \"$SECRET\"}"
	expect_error 'SEV not enabled for guest'
	qmp query-sev-attestation-report '{"mnonce": "AAECAwQFBgcICQoLDA0ODw=="}'
	expect_error 'SEV is not enabled'
	qmp quit
	wait $qpid
fi
end

finish
