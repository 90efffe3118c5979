# SPDX-License-Identifier: MIT
# The Core issue's guarantees, through the real binary: a parked vCPU has
# no half-done instruction, the control plane answers whatever the guest
# or a console reader does, devices quiesce on stop, state saves and loads.
. "$(dirname "$0")/lib.sh"
need_kvm
HELPER="$(dirname "$0")/core-helper.py"
command -v python3 >/dev/null || skip "python3 is not installed (scripts/install-deps.sh --test installs it)"

# start_vm NAME ARGS... : tern in the background, console in $CON, QMP at
# $SOCK, stderr in $VMERR; waits until QMP answers.
start_vm() {
	local name=$1
	shift
	SOCK=$TMP/$name.sock
	CON=$TMP/$name.log
	VMERR=$TMP/$name.err
	: >"$CON"
	timeout -k 5 120 "$TERN" run --console "file=$CON" --qmp "unix:$SOCK" "$@" \
		</dev/null >"$TMP/out" 2>"$VMERR" &
	VM_PID=$!
	for _ in $(seq 100); do
		if [ -S "$SOCK" ] && timeout 5 "$TERN" qmp "$SOCK" query-version >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$VM_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "no QMP socket at $SOCK: $(cat "$VMERR")"
	return 1
}

wait_vm() {
	wait "$VM_PID"
	STATUS=$?
}

helper() {
	if ! timeout -k 5 120 python3 "$HELPER" "$@" >"$TMP/helper.out" 2>&1; then
		fail "core-helper.py $1: $(cat "$TMP/helper.out")"
	fi
	cat "$TMP/helper.out"
}

for mode in port mmio; do
	begin "a vCPU parks only after completing its exit ($mode reads; resets and stops mid-exit)"
	if start_vm park-$mode --kernel "$FW/exit-loop.elf" --cmdline "mmio=$([ $mode = mmio ] && echo 1 || echo 0)"; then
		helper park "$SOCK" "$CON"
		wait_vm
		expect_status 0
		if grep -q "RESULT: FAIL" "$CON"; then fail "$(grep RESULT "$CON")"; fi
	fi
	end
done

begin "a console nobody reads: QMP answers and SIGTERM ends tern within 1 s"
helper flood "$TERN" "$FW/flood.elf" "$TMP"
end

echo "$CASES cases, $FAILS failed, $SKIPS skipped"
[ "$FAILS" = 0 ]
