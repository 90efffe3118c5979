# SPDX-License-Identifier: MIT
# tern's virtio-pci devices, driven by the firmware/ virtio guests:
#  - blk-test for every block engine (io_uring, aio with cache=none,
#    threads) and both ring layouts, then a host-side check of the bytes
#    the guest left in the file (tests/integration/blk-check.py);
#  - a read-only disk; blk-bench's output format;
#  - console-test on --console virtio (stdin in, stdout out), rng-test;
#  - irq-test, bar-swap (two devices' BARs swapped by the guest);
#  - a malicious driver's 1 GiB misaligned read on cache=none: IOERR, and
#    tern's peak RSS (VmHWM from /proc) stays bounded;
#  - bad --disk options: exit status 2 naming the option.
# The same guests pass under QEMU in virtio-qemu.sh.
. "$(dirname "$0")/lib.sh"

need_kvm
command -v python3 >/dev/null 2>&1 || skip "python3 not found (the disk image check needs it)"
DISK_MB=8
GUEST_TIMEOUT=120

# The disk images live in $TMP, on /tmp: ext4 on the CI machines, so
# O_DIRECT (cache=none) works; where it does not, those cases are skipped.

# The bytes the guest left in the image are its pattern (blk-check.py).
host_check() {
	if ! python3 "$CHECK" "$TMP/disk.img" "$TMP/out" >"$TMP/check" 2>&1; then
		fail "host check: $(cat "$TMP/check")"
	fi
}

engines="threads"
if have_io_uring; then
	engines="io_uring $engines"
else
	skip_case "blk-test engine=io_uring (split and packed)" "io_uring is disabled on this host (kernel.io_uring_disabled)"
fi
if have_odirect; then
	engines="$engines aio"
else
	skip_case "blk-test engine=aio,cache=none (split and packed)" "$TMP refuses O_DIRECT (tmpfs?)"
fi

for engine in $engines; do
	cache=writeback
	[ "$engine" = aio ] && cache=none
	for ring in split packed; do
		begin "blk-test engine=$engine cache=$cache, $ring ring, 2 queues: pattern, GET_ID, flush, discard, write-zeroes, bounds, MSI-X; host checks the file"
		new_disk $DISK_MB
		run_tern $GUEST_TIMEOUT run --kernel "$FW/blk-test.elf" --test-exit \
			--cmdline "ring=$ring serial=sn-$engine-$ring" \
			--disk "path=$TMP/disk.img,engine=$engine,cache=$cache,serial=sn-$engine-$ring,queues=2"
		expect_pass
		expect_line out "^blk-test: capacity $((DISK_MB * 2048)) sectors .*, $ring ring, 2 queue\\(s\\)"
		expect_line out "^blk-test: GET_ID 'sn-$engine-$ring'\$"
		expect_line out '^blk-test: out-of-range requests rejected with IOERR$'
		expect_line out '^blk-test: flush OK$'
		expect_line out '^blk-test: MSI-X vectors pending for 2 queue\(s\)$'
		host_check
		end
	done
done

begin "blk-test with polled completions only (msix=0), one queue, no event index"
new_disk $DISK_MB
run_tern $GUEST_TIMEOUT run --kernel "$FW/blk-test.elf" --test-exit \
	--cmdline "msix=0 queues=1 event_idx=0" --disk "path=$TMP/disk.img"
expect_pass
host_check
end

for ring in split packed; do
	begin "read-only disk, $ring ring: VIRTIO_BLK_F_RO, write fails with IOERR, file unchanged"
	head -c $((DISK_MB << 20)) /dev/urandom >"$TMP/ro.img"
	before=$(md5sum <"$TMP/ro.img")
	run_tern $GUEST_TIMEOUT run --kernel "$FW/blk-test.elf" --test-exit \
		--cmdline "expect_ro=1 ring=$ring" --disk "path=$TMP/ro.img,readonly=on"
	expect_pass
	expect_line out '^blk-test: read-only: read OK, write rejected with IOERR$'
	if [ "$(md5sum <"$TMP/ro.img")" != "$before" ]; then fail "the read-only image changed"; fi
	end
done

for ring in split packed; do
	begin "blk-bench, $ring ring: BENCH lines timed with kvmclock, every read verified, file still the pattern"
	python3 "$CHECK" --make "$TMP/disk.img" $DISK_MB
	run_tern $GUEST_TIMEOUT run --kernel "$FW/blk-bench.elf" --test-exit --disk "path=$TMP/disk.img" \
		--cmdline "ring=$ring mode=randread,randwrite,randread qd=1,32,128 ios=3000 verify=1"
	expect_blk_bench "$ring"
	end
done

# --console virtio: the guest's virtio console is tern's stdin and stdout.
for ring in split packed; do
	begin "console-test on --console virtio, $ring ring: output on stdout, stdin reaches the guest"
	printf 'ping-%s\n' "$ring" >"$TMP/in"
	timeout -k 5 $GUEST_TIMEOUT "$TERN" run --kernel "$FW/console-test.elf" --test-exit \
		--console virtio --cmdline "ring=$ring expect=ping-$ring wait=60" \
		<"$TMP/in" >"$TMP/out" 2>"$TMP/err"
	STATUS=$?
	expect_status 1
	for l in 'console-test: hello from the guest' 'console-test: a line in two descriptors' \
		"console-test: echo ping-$ring"; do
		if ! tr -d '\r' <"$TMP/out" | grep -qxF "$l"; then fail "stdout lacks '$l'"; fi
	done
	end
done

begin "console-test: a 150-byte input line spans several 64-byte receive buffers"
long=$(printf 'x%.0s' $(seq 150))
printf '%s\n' "$long" >"$TMP/in"
timeout -k 5 $GUEST_TIMEOUT "$TERN" run --kernel "$FW/console-test.elf" --test-exit \
	--console virtio --cmdline "expect=$long wait=60" <"$TMP/in" >"$TMP/out" 2>"$TMP/err"
STATUS=$?
expect_status 1
expect_line out "^console-test: received '$long' in ([3-9]|[1-9][0-9]+) buffer\\(s\\)"
end

for ring in split packed; do
	begin "rng-test on --rng, $ring ring"
	run_tern $GUEST_TIMEOUT run --kernel "$FW/rng-test.elf" --test-exit --rng --cmdline "ring=$ring"
	expect_pass
	expect_line out '^rng-test: 4096 bytes in [0-9]+ requests, [0-9]+ distinct byte values'
	end
done

begin "irq-test: INTx through the IOAPIC, MSI-X delivery, masking and PBA"
run_tern $GUEST_TIMEOUT run --kernel "$FW/irq-test.elf" --test-exit --rng
expect_pass
expect_line out '^irq-test: INTx delivered as vector 0x50, ISR read deasserts$'
expect_line out '^irq-test: MSI-X delivered; masked message held in the PBA and replayed on unmask$'
end

# The unit test (test-pci bar_swap_with_decoding_on) swaps probe devices'
# BARs through the same config cycles; this adds what only a real guest on
# KVM shows: virtio devices whose ioeventfds and MSI-X irqfds move with the
# BARs keep working, and a BAR refused mid-swap decodes without the guest
# touching that device's config space again.
begin "bar-swap: virtio-rng and virtio-blk swap BARs 1 and 4 with decoding on, one register at a time; both decode and work at their new places, and after swapping back"
new_disk 1
printf 'tern bar-swap' | dd of="$TMP/disk.img" conv=notrunc status=none
run_tern $GUEST_TIMEOUT run --kernel "$FW/bar-swap.elf" --test-exit --rng --disk "path=$TMP/disk.img"
expect_pass
expect_line out '^bar-swap: BAR 1: 00:01.0 0x[0-9a-f]+ <-> 00:02.0 0x[0-9a-f]+$'
expect_line out '^bar-swap: virtio-rng and virtio-blk work after the swap$'
expect_line out '^bar-swap: and after swapping back, the disk first$'
end

begin "malicious driver: each malformed chain sets NEEDS_RESET, tern keeps running, a reset recovers"
run_tern $GUEST_TIMEOUT run --kernel "$FW/virtio-malformed.elf" --test-exit --rng
expect_pass
for c in 'outside RAM' 'straddles the end of RAM' 'descriptor loop' 'absurd length' \
	'readable after writable' 'nested indirect' 'avail index jump'; do
	expect_line out "^virtio-malformed: $c -> NEEDS_RESET\$"
done
if [ "$(grep -c 'virtio-rng: queue 0: .*the device needs a reset$' "$TMP/err")" != 7 ]; then
	fail "expected 7 'needs a reset' log lines naming the queue"
fi
expect_line err 'descriptor chain loops'
expect_line err 'after a device-writable one'
expect_line out '^virtio-malformed: after a reset a good request returns 64 bytes$'
end

# A guest can describe a 1 GiB read with four descriptors over the same
# 256 MiB of its memory; on cache=none a misaligned one would need a host
# bounce buffer of 1 GiB. tern must refuse it (IOERR: larger than the
# seg_max * size_max it advertises) and its peak RSS stay far below that.
RSS_BOUND_KB=$((256 * 1024))
if have_odirect; then
	begin "malicious driver: a 1 GiB misaligned read on cache=none gets IOERR, tern's VmHWM stays below $((RSS_BOUND_KB / 1024)) MiB"
	rm -f "$TMP/big.img"
	truncate -s 1G "$TMP/big.img"
	"$TERN" run --kernel "$FW/virtio-malformed.elf" --test-exit --memory 512M \
		--cmdline "blk=huge-read hold=1" --disk "path=$TMP/big.img,cache=none" \
		</dev/null >"$TMP/out" 2>"$TMP/err" &
	pid=$!
	held=0
	for _ in $(seq 600); do
		if grep -q '^virtio-malformed: holding$' "$TMP/out"; then held=1; break; fi
		kill -0 $pid 2>/dev/null || break
		sleep 0.2
	done
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	kill -KILL $pid 2>/dev/null
	wait $pid 2>/dev/null
	if [ "$held" != 1 ]; then
		fail "the guest did not reach its hold point"
	elif [ -z "$hwm" ]; then
		fail "cannot read /proc/$pid/status"
	else
		echo "tern: VmHWM ${hwm} kB, VmRSS ${rss} kB"
		if [ "$hwm" -ge "$RSS_BOUND_KB" ]; then
			fail "tern's VmHWM is ${hwm} kB, bound ${RSS_BOUND_KB} kB"
		fi
	fi
	expect_line out '^virtio-malformed: a 1 GiB misaligned read -> IOERR$'
	expect_line out '^virtio-malformed: a misaligned read of seg_max \* size_max = [0-9]+ KiB -> OK$'
	expect_no_line out '^RESULT: FAIL'
	rm -f "$TMP/big.img"
	end
else
	skip_case "1 GiB misaligned read on cache=none" "$TMP refuses O_DIRECT (tmpfs?)"
fi

begin "QMP system_reset twice during console-test on a quiet stdin; the guest then passes"
rm -f "$TMP/fifo" "$TMP/qmp.sock"
mkfifo "$TMP/fifo"
exec 3<>"$TMP/fifo"
timeout -k 5 90 "$TERN" run --kernel "$FW/console-test.elf" --test-exit --console virtio --rng \
	--cmdline "ring=packed expect=hello-after-reset wait=60" --qmp "unix:$TMP/qmp.sock" \
	<&3 >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 50); do [ -S "$TMP/qmp.sock" ] && break; sleep 0.1; done
for i in 1 2; do
	sleep 1
	timeout 10 "$TERN" qmp "$TMP/qmp.sock" system_reset >/dev/null || fail "system_reset $i failed"
done
sleep 1
echo hello-after-reset >&3
wait $pid
STATUS=$?
exec 3>&-
expect_status 1
if ! tr -d '\r' <"$TMP/out" | grep -qxF 'console-test: echo hello-after-reset'; then
	fail "stdout lacks the echo after the resets"
fi
if [ "$(grep -c '^console-test: hello from the guest' "$TMP/out")" -lt 3 ]; then
	fail "the guest did not start three times (two resets)"
fi
end

new_disk $DISK_MB
for spec in "path=$TMP/missing/disk.img" "path=$TMP/disk.img,engine=bogus" \
	"path=$TMP/disk.img,cache=sometimes" "path=$TMP/disk.img,readonly=maybe" \
	"path=$TMP/disk.img,queues=0" "path=$TMP/disk.img,frob=1" "readonly=on" "" "path=$TMP"; do
	begin "bad --disk '$spec': exit 2 naming --disk"
	run_tern 30 run --kernel "$FW/exit-code.elf" --test-exit --disk "$spec"
	expect_status 2
	expect_line err '--disk'
	end
done

finish
