# SPDX-License-Identifier: MIT
# virtio-balloon through the real binary, with the balloon-test guest
# driven over QMP by balloon-helper.py:
#  - inflate, deflate, statistics and free page reporting on anonymous and
#    on shared (memfd) RAM, both ring layouts: tern's VmRSS drops by at
#    least 90 % of the ballooned and of the reported memory and comes back
#    when the guest touches deflated pages; deflated and reported pages
#    read as zero; page numbers outside RAM and reports not in whole pages
#    are ignored with a log line, a report outside RAM costs the device a
#    reset (never tern);
#  - PAGE_POISON with a poison value: reported pages stay; stats-period;
#  - huge page RAM (where root may reserve huge pages): nothing given back;
#  - a stop gives the held statistics request back (quiesce);
#  - the same session against QEMU 7.2 (-device virtio-balloon-pci):
#    replies, error texts, BALLOON_CHANGE values compared;
#  - state saved mid-balloon and loaded into a --paused twin;
#  - no --balloon: the QMP errors QEMU gives; bad --balloon options.
. "$(dirname "$0")/lib.sh"

need_kvm
command -v python3 >/dev/null 2>&1 || skip "python3 not found (scripts/install-deps.sh --test installs it)"
HELPER="$(dirname "$0")/balloon-helper.py"
RAM=256
REGION=64
GUEST_TIMEOUT=120

# start VMM ARGS...: a VM in the background with its console in $CON and QMP
# at $SOCK; $pid is the time-out wrapper, $vmm_pid the VMM itself.
start() {
	local vmm=$1
	shift
	rm -f "$SOCK"
	: >"$CON"
	timeout -k 5 $GUEST_TIMEOUT "$vmm" "$@" </dev/null >"$TMP/out" 2>"$TMP/err" &
	pid=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
	vmm_pid=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null | tr -d ' ')
	[ -S "$SOCK" ] && [ -n "$vmm_pid" ] || fail "$vmm did not start (no QMP socket)"
}

start_tern() {
	start "$TERN" run --kernel "$FW/balloon-test.elf" --test-exit --memory "${MEM:-${RAM}M}" \
		--console "file=$CON" --qmp "unix:$SOCK" "$@"
}

# helper SCENARIO ARGS...: balloon-helper.py, its output shown.
helper() {
	if ! timeout -k 5 $GUEST_TIMEOUT python3 "$HELPER" "$@" >"$TMP/helper.out" 2>&1; then
		fail "balloon-helper.py $1: $(grep FAIL "$TMP/helper.out" || tail -3 "$TMP/helper.out")"
	fi
	cat "$TMP/helper.out"
}

# The guest's verdict is in the console file, not on stdout.
finish_vm() {
	wait $pid
	STATUS=$?
	cp "$CON" "$TMP/out"
	expect_pass
}

SOCK=$TMP/qmp.sock
CON=$TMP/console.log
FULL="mib=$REGION report=1 oom=1 zero=1"
OPTS=--balloon=deflate-on-oom=on,free-page-reporting=on

begin "anonymous RAM, split ring: inflate, deflate, stats, free page reporting; VmRSS follows; bad ranges ignored, a report outside RAM needs a reset"
start_tern "$OPTS" --cmdline "$FULL bad=2 ring=split"
helper run "$SOCK" "$CON" "$vmm_pid" $RAM $REGION "$TMP/tern.json" report rss
finish_vm
expect_line out '^balloon-test: deflated 16384 pages, they read as zero$'
expect_line out '^balloon-test: reported 64 MiB free$'
expect_line out '^balloon-test: reported pages read 0x0$'
expect_line out '^balloon-test: a report outside RAM: the device needs a reset$'
expect_line err '^tern: virtio-balloon: inflate: 3 page number\(s\) outside guest RAM ignored \(the first: 0xc0000\)$'
expect_line err '^tern: virtio-balloon: inflate: a list of 14 bytes ends in part of a page number; ignored$'
expect_line err '^tern: virtio-balloon: free page report 0x[0-9a-f]+200\+0x1000 is not in whole pages; ignored$'
expect_line err '^tern: virtio-balloon: queue 3: buffer 0xd0000000\+0x1000 is not inside guest RAM; the device needs a reset$'
end

begin "shared memfd RAM, packed ring: the memfd gives the pages back (VmRSS follows); a stop gives the stats request back"
MEM=${RAM}M,shared=on start_tern "$OPTS" --cmdline "$FULL bad=1 ring=packed"
helper run "$SOCK" "$CON" "$vmm_pid" $RAM $REGION "$TMP/shared.json" report rss stopcont
finish_vm
expect_line out '^balloon-test: packed ring, 4 queues'
expect_line out '^balloon-test: pages outside RAM and a report not in whole pages ignored$'
end

begin "PAGE_POISON with a poison value: reported pages keep it (VmRSS stays); stats-period=1 polls from the start"
start_tern --balloon=free-page-reporting=on,stats-period=1 --cmdline "mib=$REGION report=1 poison=1"
helper run "$SOCK" "$CON" "$vmm_pid" $RAM $REGION "$TMP/poison.json" report poison period rss
finish_vm
expect_line out '^balloon-test: reported pages read 0xaa$'
end

begin "no --balloon: balloon and query-balloon are DeviceNotActive, qom-get DeviceNotFound (as QEMU)"
start "$TERN" run --kernel "$FW/counter.elf" --paused --qmp "unix:$SOCK"
for c in query-balloon "balloon value=1048576"; do
	# shellcheck disable=SC2086
	if timeout 10 "$TERN" qmp "$SOCK" $c >"$TMP/q.out" 2>&1 ||
		! grep -q '"class": "DeviceNotActive"' "$TMP/q.out" ||
		! grep -q 'No balloon device has been activated' "$TMP/q.out"; then
		fail "$c: $(cat "$TMP/q.out")"
	fi
done
if timeout 10 "$TERN" qmp "$SOCK" qom-get path=/machine/peripheral/balloon0 property=guest-stats >"$TMP/q.out" 2>&1 ||
	! grep -q '"desc": "Device '"'"'/machine/peripheral/balloon0'"'"' not found"' "$TMP/q.out"; then
	fail "qom-get: $(cat "$TMP/q.out")"
fi
timeout 10 "$TERN" qmp "$SOCK" quit >/dev/null
wait $pid
end

begin "state: saved inflated with a target pending, loaded into a --paused twin (load then save identical); the guest goes on"
# 128 MiB: a snapshot holds all of RAM.
MEM=128M start_tern --balloon --cmdline "mib=32 zero=1"
helper save "$SOCK" "$CON" "$TMP/state" 128 32
wait $pid
MEM=128M CON=$TMP/twin.log start_tern --balloon --cmdline "mib=32 zero=1" --paused
CON=$TMP/twin.log helper restore "$SOCK" "$TMP/twin.log" "$TMP/state" "$TMP/again" 128 32
CON=$TMP/twin.log finish_vm
end

# Huge pages: nothing is given back, the host's pool keeps them for the
# VM. The pool is the host's: it is grown (and put back) only when it has
# too few free pages, and as root.
hp_kb=$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)
hp_dir=/sys/kernel/mm/hugepages/hugepages-${hp_kb}kB
nr=/proc/sys/vm/nr_hugepages
need=64 # 128M of 2 MiB pages
hp_free() {
	echo $(($(cat "$hp_dir/free_hugepages") - $(cat "$hp_dir/resv_hugepages")))
}
if [ "${hp_kb:-0}" != 2048 ] || [ ! -d "$hp_dir" ]; then
	skip_case "hugepages=on" "the default huge page size is ${hp_kb:-unknown} kB, not 2048"
elif [ "$(hp_free)" -lt $need ] && { [ "$(id -u)" != 0 ] || [ ! -w "$nr" ]; }; then
	skip_case "hugepages=on" "fewer than $need free huge pages, and reserving more needs root ($nr not writable)"
else
	prev=$(cat "$nr")
	raised=0
	if [ "$(hp_free)" -lt $need ]; then
		raised=1
		trap 'echo "$prev" >"$nr"; rm -rf "$TMP"' EXIT
		echo $((prev + need)) >"$nr" 2>/dev/null
	fi
	if [ "$(hp_free)" -lt $need ]; then
		skip_case "hugepages=on" "the kernel could not reserve $need free huge pages (memory fragmented?)"
	else
		begin "hugepages=on: ballooned and reported pages stay reserved for the VM (HugetlbPages unchanged), said once at start-up"
		MEM=128M,hugepages=on start_tern --balloon=free-page-reporting=on --cmdline "mib=32 report=1"
		helper run "$SOCK" "$CON" "$vmm_pid" 128 32 "$TMP/huge.json" report hugetlb
		finish_vm
		expect_line err '^tern: virtio-balloon: guest RAM is in huge pages: pages the guest gives up stay reserved for it$'
		end
	fi
	if [ $raised = 1 ]; then
		echo "$prev" >"$nr"
		trap 'rm -rf "$TMP"' EXIT
	fi
fi

for spec in x deflate-on-oom=yes stats-period=-1 stats-period=4294967296 stats-period=1,stats-period=2 free-page-reporting; do
	begin "bad --balloon=$spec: exit 2 naming --balloon"
	run_tern 30 run --kernel "$FW/exit-code.elf" --test-exit "--balloon=$spec"
	expect_status 2
	expect_line err "^tern run: --balloon '"
	end
done

# The same guest and session under QEMU: q35 with qboot (a PVH boot),
# the balloon at QEMU's QOM path for id=balloon0.
QEMU=${QEMU:-qemu-system-x86_64}
QBOOT=/usr/share/qemu/qboot.rom
if ! command -v "$QEMU" >/dev/null 2>&1 || [ ! -f "$QBOOT" ]; then
	skip_case "the session against QEMU" "$QEMU or $QBOOT is not installed (scripts/install-deps.sh --test)"
else
	begin "QEMU 7.2 runs the same guest and session (VmRSS printed for comparison)"
	start "$QEMU" -accel kvm -cpu host,-cx16,-arch-capabilities -M q35 -bios "$QBOOT" \
		-m ${RAM}M -display none -no-reboot -monitor none \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial "file:$CON" \
		-qmp "unix:$SOCK,server=on,wait=off" \
		-device virtio-balloon-pci,id=balloon0,disable-legacy=on,deflate-on-oom=on,free-page-reporting=on \
		-kernel "$FW/balloon-test.elf" -append "$FULL bad=1"
	helper run "$SOCK" "$CON" "$vmm_pid" $RAM $REGION "$TMP/qemu.json" report
	finish_vm
	end

	begin "tern's replies, errors and BALLOON_CHANGE events are QEMU's"
	if [ -f "$TMP/qemu.json" ] && [ -f "$TMP/tern.json" ]; then
		python3 "$HELPER" compare "$TMP/qemu.json" "$TMP/tern.json" >"$TMP/helper.out" 2>&1 ||
			fail "$(grep FAIL "$TMP/helper.out")"
		cat "$TMP/helper.out"
	else
		fail "a session is missing"
	fi
	end
fi

finish
