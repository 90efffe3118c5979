# SPDX-License-Identifier: MIT
# Guest memory backends through the real binary:
#  - --memory 256M,shared=on boots the virtio guests (blk-test on both ring
#    layouts, rng-test), and /proc/PID/maps and /proc/PID/fd show the RAM
#    is the memfd "tern-ram" mapped shared (the default is not);
#  - hugepages=on with more huge pages than are free exits 2 naming
#    /proc/sys/vm/nr_hugepages; malformed --memory values exit 2;
#  - where root may reserve huge pages, a real hugepages=on boot whose
#    mapping is backed by 2 MiB pages (smaps), the reservation restored.
. "$(dirname "$0")/lib.sh"

need_kvm
command -v python3 >/dev/null 2>&1 || skip "python3 not found (the disk image check needs it)"
DISK_MB=8
GUEST_TIMEOUT=120
engine=threads
have_io_uring && engine=io_uring

# start_paused ARGS...: tern run ARGS --paused with a QMP socket, in the
# background; $pid is the time-out wrapper, $tern_pid tern itself.
start_paused() {
	rm -f "$TMP/qmp.sock"
	timeout -k 5 $GUEST_TIMEOUT "$TERN" run "$@" --paused --qmp "unix:$TMP/qmp.sock" \
		</dev/null >"$TMP/out" 2>"$TMP/err" &
	pid=$!
	for _ in $(seq 100); do [ -S "$TMP/qmp.sock" ] && break; sleep 0.1; done
	tern_pid=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null | tr -d ' ')
	[ -S "$TMP/qmp.sock" ] && [ -n "$tern_pid" ] || fail "tern did not start (no QMP socket)"
}

# cont_and_wait: let the paused guest run to its end; status in $STATUS.
cont_and_wait() {
	timeout 10 "$TERN" qmp "$TMP/qmp.sock" cont >/dev/null || fail "QMP cont failed"
	wait $pid
	STATUS=$?
}

# expect_memfd_ram: tern's RAM is the shared memfd tern-ram, mapped and open.
expect_memfd_ram() {
	local maps="/proc/$tern_pid/maps"

	if ! grep -q ' /memfd:tern-ram (deleted)$' "$maps"; then
		fail "$maps has no /memfd:tern-ram mapping"
	fi
	# The fourth field is the flags: s for MAP_SHARED, p for private.
	if grep ' /memfd:tern-ram (deleted)$' "$maps" | awk '{print $2}' | grep -qv '^rw-s$'; then
		fail "a tern-ram mapping is not rw-s: $(grep memfd:tern-ram "$maps")"
	fi
	if ! ls -l "/proc/$tern_pid/fd" | grep -q -- '-> /memfd:tern-ram (deleted)$'; then
		fail "no open descriptor on /memfd:tern-ram in /proc/$tern_pid/fd"
	fi
}

for ring in split packed; do
	begin "blk-test on --memory 256M,shared=on, $ring ring: RAM is the shared memfd tern-ram; the guest passes"
	new_disk $DISK_MB
	start_paused --kernel "$FW/blk-test.elf" --test-exit --memory 256M,shared=on \
		--cmdline "ring=$ring serial=sn-shared" \
		--disk "path=$TMP/disk.img,engine=$engine,serial=sn-shared,queues=2"
	expect_memfd_ram
	cont_and_wait
	expect_pass
	expect_line out "^blk-test: capacity $((DISK_MB * 2048)) sectors .*, $ring ring, 2 queue\\(s\\)"
	if ! python3 "$CHECK" "$TMP/disk.img" "$TMP/out" >"$TMP/check" 2>&1; then
		fail "host check: $(cat "$TMP/check")"
	fi
	end
done

begin "rng-test on --memory 256M,shared=on"
run_tern $GUEST_TIMEOUT run --kernel "$FW/rng-test.elf" --test-exit --rng --memory 256M,shared=on
expect_pass
end

begin "the default (and shared=off) RAM is anonymous: no memfd"
start_paused --kernel "$FW/exit-code.elf" --test-exit --memory 64M,shared=off
if grep -q 'memfd:tern-ram' "/proc/$tern_pid/maps"; then fail "a memfd mapping without shared=on"; fi
cont_and_wait
expect_status 1
end

# Huge pages: the host's default size, how many are free (not reserved).
hp_kb=$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)
hp_dir=/sys/kernel/mm/hugepages/hugepages-${hp_kb}kB
hp_free() {
	echo $(($(cat "$hp_dir/free_hugepages") - $(cat "$hp_dir/resv_hugepages")))
}

if [ -z "$hp_kb" ] || [ ! -d "$hp_dir" ]; then
	skip_case "hugepages=on cases" "this kernel has no hugetlbfs ($hp_dir missing)"
else
	begin "hugepages=on with more huge pages than are free: exit 2 naming /proc/sys/vm/nr_hugepages"
	# One more than free plus what the kernel may add as surplus pages.
	want=$(($(hp_free) + $(cat /proc/sys/vm/nr_overcommit_hugepages) + 1))
	run_tern 30 run --kernel "$FW/exit-code.elf" --test-exit --memory "$((want * hp_kb))K,hugepages=on"
	expect_status 2
	expect_line err "^tern run: --memory [0-9]+M,hugepages=on: needs $want huge pages of ${hp_kb}K, [0-9]+ free; .*/proc/sys/vm/nr_hugepages"
	expect_no_line err 'Segmentation|AddressSanitizer|core dumped|Bus error'
	end
fi

for spec in 256M,shared=maybe 5M,hugepages=on 1G,hugepages=on,shared=off 1G,prealloc=on \
	1G,shared=on,shared=on 1G, ,shared=on; do
	begin "bad --memory '$spec': exit 2 naming --memory"
	run_tern 30 run --kernel "$FW/exit-code.elf" --test-exit --memory "$spec"
	expect_status 2
	expect_line err "^tern run: --memory '"
	end
done

# A real huge page boot, when root may reserve them; the old value is restored.
nr=/proc/sys/vm/nr_hugepages
need=64 # 128M of 2 MiB pages
if [ -z "$hp_kb" ] || [ "$hp_kb" != 2048 ]; then
	skip_case "hugepages=on boot" "the default huge page size is ${hp_kb:-unknown} kB, not 2048"
elif [ "$(id -u)" != 0 ] || [ ! -w "$nr" ]; then
	skip_case "hugepages=on boot" "reserving huge pages needs root ($nr not writable)"
else
	prev=$(cat "$nr")
	trap 'echo "$prev" >"$nr"; rm -rf "$TMP"' EXIT
	echo $((prev + need)) >"$nr" 2>/dev/null
	if [ "$(hp_free)" -lt "$need" ]; then
		echo "$prev" >"$nr"
		skip_case "hugepages=on boot" "the kernel could not reserve $need free huge pages (memory fragmented?)"
	else
		begin "blk-test on --memory 128M,hugepages=on: RAM is the memfd on 2 MiB pages; the guest passes"
		new_disk $DISK_MB
		free_before=$(hp_free)
		start_paused --kernel "$FW/blk-test.elf" --test-exit --memory 128M,hugepages=on \
			--disk "path=$TMP/disk.img,engine=$engine"
		expect_memfd_ram
		# Every page of the mapping was reserved at start-up.
		if [ "$(hp_free)" -gt $((free_before - need)) ]; then
			fail "the $need huge pages were not reserved when tern started ($free_before free before, $(hp_free) after)"
		fi
		if ! awk '/memfd:tern-ram/ {m=1; next} /^[0-9a-f]+-/ {m=0} m && /^KernelPageSize:/ {print $2}' \
			"/proc/$tern_pid/smaps" | grep -qx 2048; then
			fail "the tern-ram mapping does not use 2048 kB pages"
		fi
		cont_and_wait
		expect_pass
		if ! python3 "$CHECK" "$TMP/disk.img" "$TMP/out" >"$TMP/check" 2>&1; then
			fail "host check: $(cat "$TMP/check")"
		fi
		end
		echo "$prev" >"$nr"
		if [ "$(cat "$nr")" != "$prev" ]; then
			begin "nr_hugepages restored"
			fail "$nr is $(cat "$nr"), was $prev"
			end
		fi
	fi
fi

finish
