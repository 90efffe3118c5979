# SPDX-License-Identifier: MIT
# The Core issue's guarantees, through the real binary: a parked vCPU has
# no half-done instruction, the control plane answers whatever the guest
# or a console reader does, devices quiesce on stop, state saves and loads.
. "$(dirname "$0")/lib.sh"
need_kvm
HELPER="$(dirname "$0")/core-helper.py"
command -v python3 >/dev/null || skip "python3 is not installed (scripts/install-deps.sh --test installs it)"

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

CHECK="$(dirname "$0")/blk-check.py"
# Two runs of a million I/Os: seconds of work, so a save lands mid-run.
BENCH="ring=split mode=randwrite,randread qd=32 ios=1000000 verify=1"

begin "state: a stopped VM under disk load writes nothing (two saves 1 s apart are identical)"
python3 "$CHECK" --make "$TMP/disk.img" 16
if start_vm quiet --kernel "$FW/blk-bench.elf" --disk "path=$TMP/disk.img" --cmdline "$BENCH"; then
	helper stopped-saves "$SOCK" "$TMP"
	wait_vm
	expect_status 0
fi
end

# Every device type at once: UART, i8042, test exit, virtio-console (on
# stdout, beside the UART), virtio-rng, virtio-blk; two vCPUs.
TWIN=(--kernel "$FW/counter.elf" --cpus 2 --rng --disk "path=$TMP/disk.img" --test-exit)
begin "state: every device saved (migrate file:) and restored into a --paused --incoming twin; restore then save is identical; the counter counts on"
VM_CONSOLE=virtio
if start_vm saved "${TWIN[@]}"; then
	helper save "$SOCK" "$CON" "$TMP/snap"
	wait_vm
	expect_status 0
	if start_vm twin "${TWIN[@]}" --paused --incoming "file:$TMP/snap"; then
		helper restore "$SOCK" "$CON" "$TMP/snap" "$TMP" counter
		wait_vm
		expect_status 0
	fi
fi
unset VM_CONSOLE
end

begin "state: blk-bench saved mid-run and restored finishes with every read verified"
python3 "$CHECK" --make "$TMP/disk.img" 16
BENCHVM=(--kernel "$FW/blk-bench.elf" --test-exit --disk "path=$TMP/disk.img" --cmdline "$BENCH")
if start_vm bench "${BENCHVM[@]}"; then
	# Saved half a second into the first run.
	helper save "$SOCK" "$CON" "$TMP/bench.snap" "" 0
	wait_vm
	if start_vm bench2 "${BENCHVM[@]}" --paused --incoming "file:$TMP/bench.snap"; then
		helper restore "$SOCK" "$CON" "$TMP/bench.snap" "$TMP" blk
		wait_vm
		expect_status 1
	fi
fi
end

# A snapshot that does not fit: --incoming refuses it before anything
# runs, exit status 2 and a message saying what is wrong.
refuse() { # NAME WHAT-THE-ERROR-SAYS FILE TWIN-ARGS...
	local name=$1 what=$2 file=$3
	shift 3
	# --console virtio: the saved machine had a virtio-console.
	timeout -k 5 60 "$TERN" run --console virtio --paused --incoming "file:$file" "$@" \
		</dev/null >"$TMP/out" 2>"$TMP/err"
	STATUS=$?
	expect_status 2
	expect_line err "$what"
}
begin "state: a bad snapshot is refused before anything runs (truncated, corrupted, other machine)"
head -c 100000 "$TMP/snap" >"$TMP/short"
refuse short "truncated" "$TMP/short" "${TWIN[@]}"
cp "$TMP/snap" "$TMP/flip"
printf '\xff' | dd of="$TMP/flip" bs=1 seek=200 conv=notrunc 2>/dev/null
refuse flip "checksum" "$TMP/flip" "${TWIN[@]}"
# A byte of RAM (the image starts at 2 MiB): its MiB's checksum catches it.
cp "$TMP/snap" "$TMP/ramflip"
printf '\x5a' | dd of="$TMP/ramflip" bs=1 seek=$((2 * 1024 * 1024 + 1024 * 1024 + 17)) conv=notrunc 2>/dev/null
refuse ramflip "does not match its checksum" "$TMP/ramflip" "${TWIN[@]}"
refuse memory "the stream has 128 MiB of RAM, this VM 256 MiB" "$TMP/snap" "${TWIN[@]}" --memory 256M
refuse cpus "the stream has 2 vCPUs, this VM 1" "$TMP/snap" "${TWIN[@]}" --cpus 1
refuse devices "the stream's device 5 is virtio-console.0" "$TMP/snap" --console none --kernel "$FW/counter.elf" --cpus 2 --disk "path=$TMP/disk.img" --test-exit
end

begin "stop and cont: the guest's kvmclock stands still while the VM is stopped (3 s stop, the clock moves by one line's period)"
if start_vm clock --kernel "$FW/counter.elf" --cmdline clock=1; then
	helper clock-stop "$SOCK" "$CON" 3
	wait_vm
	expect_status 0
fi
end

begin "state: a snapshot x-tern-state-load refuses leaves the stopped VM as it was (cont: the counter counts on)"
# Another machine's snapshot: hello.elf's RAM, and a virtio-rng.
if start_vm other --kernel "$FW/hello.elf" --rng --paused; then
	"$TERN" qmp "$SOCK" x-tern-state-save path="$TMP/other.snap" >"$TMP/qmp.out" 2>&1 ||
		fail "x-tern-state-save: $(cat "$TMP/qmp.out")"
	"$TERN" qmp "$SOCK" quit >/dev/null 2>&1
	wait_vm
fi
if start_vm refused --kernel "$FW/counter.elf"; then
	helper refused-load "$SOCK" "$CON" "$TMP/other.snap"
	wait_vm
fi
end

# vcpu_switches PID: the context switches of its vCPU threads so far.
vcpu_switches() {
	local n=0 t
	for t in /proc/$1/task/*; do
		grep -q '^tern-vcpu' "$t/comm" 2>/dev/null || continue
		n=$((n + $(awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print s }' "$t/status")))
	done
	echo $n
}
# expect_vcpus_asleep PID WHAT: over one second, at most a few switches.
expect_vcpus_asleep() {
	local pid a b
	pid=$(pgrep -P "$1" -x tern || echo "$1")
	a=$(vcpu_switches "$pid")
	sleep 1
	b=$(vcpu_switches "$pid")
	if [ $((b - a)) -gt 50 ]; then
		fail "$2: the parked vCPUs switched $((b - a)) times in 1 s (they woke each other)"
	else
		echo "  ok: $2: $((b - a)) vCPU context switches in 1 s"
	fi
}
begin "parked vCPUs sleep: a paused 4-vCPU VM (--paused, then stop) makes no wake-ups"
if start_vm parked --kernel "$FW/counter.elf" --cpus 4 --paused; then
	expect_vcpus_asleep "$VM_PID" "--paused"
	"$TERN" qmp "$SOCK" cont >/dev/null 2>&1 || fail "cont refused"
	sleep 0.3
	"$TERN" qmp "$SOCK" stop >/dev/null 2>&1 || fail "stop refused"
	expect_vcpus_asleep "$VM_PID" "after stop"
	"$TERN" qmp "$SOCK" quit >/dev/null 2>&1
	wait_vm
fi
end

begin "a vCPU thread the host does not run (held 1.5 s by ptrace) still parks: stop waits for it; held past 5 s, stop is refused and the VM runs on"
if start_vm held --kernel "$FW/counter.elf"; then
	helper descheduled "$SOCK" "$(pgrep -P "$VM_PID" -x tern)" "$CON"
	wait_vm
	expect_status 0
fi
end

begin "threads: every thread is named after its role (tern-vcpuN, tern-io-*, tern-console)"
if start_vm threads --kernel "$FW/counter.elf" --cpus 2 --rng --disk "path=$TMP/disk.img"; then
	# VM_PID is timeout(1)'s; tern is its child.
	names=$(cat /proc/"$(pgrep -P "$VM_PID" -x tern)"/task/*/comm 2>/dev/null | sort | xargs)
	for want in tern-vcpu0 tern-vcpu1 tern-io-blk0 tern-io-rng tern-console; do
		case " $names " in *" $want "*) ;; *) fail "no thread $want among: $names" ;; esac
	done
	timeout 5 "$TERN" qmp "$SOCK" quit >/dev/null
	wait_vm
fi
end

echo "$CASES cases, $FAILS failed, $SKIPS skipped"
[ "$FAILS" = 0 ]
