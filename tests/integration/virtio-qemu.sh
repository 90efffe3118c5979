# SPDX-License-Identifier: MIT
# The virtio guests (blk-test, blk-bench, console-test, rng-test) under
# unmodified QEMU: q35 with qboot (a PVH boot in ~0.1 s) and modern-only
# virtio-pci devices. This proves the guests right before tern is judged by
# them (tests/integration/virtio.sh runs the same guests under tern).
#
# Skips (77) without qemu-system-x86_64, qboot.rom, /dev/kvm or python3.
. "$(dirname "$0")/lib.sh"

QEMU=${QEMU:-qemu-system-x86_64}
QBOOT=/usr/share/qemu/qboot.rom
command -v "$QEMU" >/dev/null 2>&1 || skip "$QEMU not found (Debian: apt-get install qemu-system-x86)"
[ -f "$QBOOT" ] || skip "$QBOOT not found (it comes with qemu-system-x86)"
need_kvm
command -v python3 >/dev/null 2>&1 || skip "python3 not found (the disk image check needs it)"
DISK_MB=16

# run_qemu TIMEOUT ELF CMDLINE [QEMU ARGS...]: serial console to $TMP/out,
# QEMU's messages to $TMP/err, status in $STATUS. isa-debug-exit turns the
# guest's exit value v into (v << 1) | 1: 1 is a pass, 3 a failure.
run_qemu() {
	local t=$1 elf=$2 cmdline=$3
	shift 3
	timeout -k 5 "$t" "$QEMU" -accel kvm -cpu host,-cx16,-arch-capabilities \
		-M q35 -bios "$QBOOT" -m 128M -display none -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-serial "file:$TMP/out" -monitor none \
		-kernel "$elf" -append "$cmdline" "$@" </dev/null >"$TMP/err" 2>&1
	STATUS=$?
}

blk_dev() { # ring -> -device options for packed rings
	local packed=off
	[ "$1" = packed ] && packed=on
	echo "virtio-blk-pci,disable-legacy=on,drive=d0,packed=$packed"
}

# Which back-ends this host can take.
aio_modes="threads"
if have_io_uring; then
	aio_modes="io_uring $aio_modes"
else
	skip_case "aio=io_uring cases" "io_uring is disabled on this host"
fi
if have_odirect; then
	aio_modes="$aio_modes native"
else
	skip_case "aio=native,cache.direct=on cases" "$TMP does not take O_DIRECT (tmpfs?)"
fi

for aio in $aio_modes; do
	for ring in split packed; do
		begin "blk-test, aio=$aio, $ring ring: pattern, GET_ID, flush, discard, write-zeroes, bounds, MSI-X; host checks the file"
		new_disk $DISK_MB
		drive="if=none,id=d0,file=$TMP/disk.img,format=raw,discard=unmap,aio=$aio"
		[ "$aio" = native ] && drive="$drive,cache.direct=on"
		run_qemu 120 "$FW/blk-test.elf" "ring=$ring serial=tern-$aio-$ring" \
			-device "$(blk_dev $ring),serial=tern-$aio-$ring,num-queues=2" -drive "$drive"
		expect_pass
		expect_line out "^blk-test: capacity $((DISK_MB * 2048)) sectors .*, $ring ring, 2 queue\(s\)"
		expect_line out "^blk-test: GET_ID 'tern-$aio-$ring'\$"
		expect_line out '^blk-test: out-of-range requests rejected with IOERR$'
		expect_line out '^blk-test: MSI-X vectors pending for 2 queue\(s\)$'
		if ! python3 "$CHECK" "$TMP/disk.img" "$TMP/out" >"$TMP/check" 2>&1; then
			fail "host check: $(cat "$TMP/check")"
		fi
		end
	done
done

begin "blk-test, polled completions only (msix=0), one queue, no event index"
new_disk $DISK_MB
run_qemu 120 "$FW/blk-test.elf" "msix=0 queues=1 event_idx=0" \
	-device "$(blk_dev split)" -drive "if=none,id=d0,file=$TMP/disk.img,format=raw"
expect_pass
expect_no_line out 'MSI-X'
if ! python3 "$CHECK" "$TMP/disk.img" "$TMP/out" >"$TMP/check" 2>&1; then
	fail "host check: $(cat "$TMP/check")"
fi
end

for ring in split packed; do
	begin "blk-test expect_ro=1 on a read-only disk, $ring ring: write rejected, file unchanged"
	head -c $((DISK_MB << 20)) /dev/urandom >"$TMP/ro.img"
	before=$(md5sum <"$TMP/ro.img")
	run_qemu 60 "$FW/blk-test.elf" "expect_ro=1 ring=$ring" \
		-device "$(blk_dev $ring)" -drive "if=none,id=d0,file=$TMP/ro.img,format=raw,readonly=on"
	expect_pass
	expect_line out '^blk-test: read-only: read OK, write rejected with IOERR$'
	if [ "$(md5sum <"$TMP/ro.img")" != "$before" ]; then fail "the read-only image changed"; fi
	end
done

begin "blk-test fails on a read-only disk without expect_ro=1"
run_qemu 60 "$FW/blk-test.elf" "" \
	-device "$(blk_dev split)" -drive "if=none,id=d0,file=$TMP/ro.img,format=raw,readonly=on"
expect_status 3
expect_line out '^RESULT: FAIL the device is read-only'
end

begin "blk-test without a disk fails cleanly"
run_qemu 60 "$FW/blk-test.elf" ""
expect_status 3
expect_line out '^RESULT: FAIL virtio-blk: no such virtio-pci function'
end

for ring in split packed; do
	begin "blk-bench, $ring ring: BENCH lines timed with kvmclock, every read verified, file still the pattern"
	python3 "$CHECK" --make "$TMP/disk.img" $DISK_MB
	run_qemu 120 "$FW/blk-bench.elf" "ring=$ring mode=randread,randwrite,randread qd=1,32,128 ios=3000 verify=1" \
		-device "$(blk_dev $ring)" -drive "if=none,id=d0,file=$TMP/disk.img,format=raw"
	expect_blk_bench "$ring"
	end
done

begin "blk-bench verify=1 catches a disk without the pattern"
new_disk $DISK_MB
run_qemu 60 "$FW/blk-bench.elf" "qd=4 ios=100 verify=1" \
	-device "$(blk_dev split)" -drive "if=none,id=d0,file=$TMP/disk.img,format=raw"
expect_status 3
expect_line out '^RESULT: FAIL verify: sector [0-9]+ reads 0x0, expected'
end

begin "blk-bench refuses a queue depth the ring cannot hold"
run_qemu 60 "$FW/blk-bench.elf" "qd=200 layout=direct ios=10" \
	-device "$(blk_dev split)" -drive "if=none,id=d0,file=$TMP/disk.img,format=raw"
expect_status 3
expect_line out '^RESULT: FAIL qd=200 with the direct layout needs 600 descriptors'
end

# The virtio console on QEMU's stdio (the serial port goes to a file): the
# same shape as tern's --console virtio.
for ring in split packed; do
	begin "console-test, $ring ring: output and input through virtconsole port 0"
	printf 'ping-%s\n' "$ring" >"$TMP/vc.in"
	packed=off
	[ "$ring" = packed ] && packed=on
	timeout -k 5 60 "$QEMU" -accel kvm -cpu host,-cx16,-arch-capabilities \
		-M q35 -bios "$QBOOT" -m 128M -display none -no-reboot -monitor none \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial "file:$TMP/out" \
		-kernel "$FW/console-test.elf" -append "ring=$ring expect=ping-$ring wait=20" \
		-device "virtio-serial-pci,disable-legacy=on,packed=$packed" \
		-chardev stdio,id=vc,signal=off -device virtconsole,chardev=vc \
		<"$TMP/vc.in" >"$TMP/vc.out" 2>"$TMP/err"
	STATUS=$?
	expect_pass
	expect_line out "^console-test: received 'ping-$ring' in [0-9]+ buffer\\(s\\)\$"
	for l in 'console-test: hello from the guest' 'console-test: a line in two descriptors' \
		"console-test: echo ping-$ring"; do
		if ! grep -qxF "$l" <(tr -d '\r' <"$TMP/vc.out"); then fail "virtio console output lacks '$l'"; fi
	done
	end
done

begin "console-test: a 150-byte input line spans several 64-byte receive buffers"
long=$(printf 'x%.0s' $(seq 150))
printf '%s\n' "$long" >"$TMP/vc.in"
timeout -k 5 60 "$QEMU" -accel kvm -cpu host,-cx16,-arch-capabilities \
	-M q35 -bios "$QBOOT" -m 128M -display none -no-reboot -monitor none \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial "file:$TMP/out" \
	-kernel "$FW/console-test.elf" -append "expect=$long wait=20" \
	-device virtio-serial-pci,disable-legacy=on \
	-chardev stdio,id=vc,signal=off -device virtconsole,chardev=vc \
	<"$TMP/vc.in" >"$TMP/vc.out" 2>"$TMP/err"
STATUS=$?
expect_pass
expect_line out "^console-test: received '$long' in ([3-9]|[1-9][0-9]+) buffer\\(s\\)"
end

for ring in split packed; do
	begin "rng-test, $ring ring"
	packed=off
	[ "$ring" = packed ] && packed=on
	run_qemu 60 "$FW/rng-test.elf" "ring=$ring" -device "virtio-rng-pci,disable-legacy=on,packed=$packed"
	expect_pass
	expect_line out '^rng-test: 4096 bytes in [0-9]+ requests, [0-9]+ distinct byte values'
	end
done

finish
