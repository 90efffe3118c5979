# SPDX-License-Identifier: MIT
# virtio-scsi (--disk ...,bus=scsi), driven by firmware/scsi-test:
#  - two LUNs (writable LUN 0 with a serial, read-only LUN 3) on every block
#    engine and both ring layouts; the host checks the writable image's
#    bytes (scsi-check.py) and that the read-only one did not change;
#  - next to a virtio-blk disk, with query-block showing both and the
#    controller's I/O thread named tern-io-scsi;
#  - saved mid-run and restored into a --paused twin: the LUN reset's
#    unit attention, pending in the state, is still reported;
#  - bad --disk options: exit 2 naming --disk;
#  - the same guest under QEMU 7.2 (-device virtio-scsi-pci -device
#    scsi-hd,drive=...,lun=N), and its INQUIRY, VPD, READ CAPACITY and
#    MODE SENSE answers compared with tern's field by field
#    (scsi-compare.py); skipped without QEMU.
. "$(dirname "$0")/lib.sh"

need_kvm
command -v python3 >/dev/null 2>&1 || skip "python3 not found (the image checks need it)"
SCSI_CHECK=$(dirname "$0")/scsi-check.py
COMPARE=$(dirname "$0")/scsi-compare.py
HELPER=$(dirname "$0")/core-helper.py
GUEST_TIMEOUT=120
RW_MB=4
RO_MB=2

# Fresh images: $TMP/rw.img sparse, $TMP/ro.img random (md5 in $RO_SUM).
new_images() {
	rm -f "$TMP/rw.img"
	truncate -s "${RW_MB}M" "$TMP/rw.img"
	head -c $((RO_MB << 20)) /dev/urandom >"$TMP/ro.img"
	RO_SUM=$(md5sum <"$TMP/ro.img")
}

# The writable image holds the guest's pattern, the read-only one is as it was.
host_checks() { # LOG
	if ! python3 "$SCSI_CHECK" "$TMP/rw.img" "$1" 0 >"$TMP/check" 2>&1; then
		fail "host check: $(cat "$TMP/check")"
	fi
	if [ "$(md5sum <"$TMP/ro.img")" != "$RO_SUM" ]; then fail "the read-only image changed"; fi
}

expect_scsi_pass() { # RING
	expect_pass
	expect_line out "^scsi-test: $1 ring, num_queues 1 seg_max 254 max_sectors 8128"
	expect_line out '^scsi-test: REPORT LUNS: 0 3$'
	expect_line out "^scsi-test: lun 0 capacity $((RW_MB * 2048)) blocks of 512 bytes, LBPME, LBPRZ\$"
	expect_line out "^scsi-test: lun 3 capacity $((RO_MB * 2048)) blocks of 512 bytes\$"
	expect_line out '^scsi-test: lun 0: VPD pages 00 80 83 b0 b1 b2, max transfer 8128 blocks$'
	expect_line out '^scsi-test: lun 3: VPD pages 00 83 b0 b1 b2'
	expect_line out '^scsi-test: lun 3: writes rejected with DATA PROTECT 27/00$'
	expect_line out '^scsi-test: lun [03]: a short CDB and a transfer above the block limits: INVALID FIELD IN CDB$'
	expect_line out '^scsi-test: lun 0: SYNCHRONIZE CACHE\(16\) GOOD$'
	expect_line out '^scsi-test: lun 0: UNMAP \(reads zeroes, LBPRZ\) and WRITE SAME\(16\) of zeroes GOOD$'
	expect_line out '^scsi-test: ABORT TASK of a READ in flight: FUNCTION COMPLETE'
	expect_line out '^scsi-test: LUN 3 reported the reset.s unit attention, LUN 0 did not$'
}

SCSI_DISKS() { # ENGINE CACHE
	echo "--disk path=$TMP/rw.img,bus=scsi,engine=$1,cache=$2,serial=SCSI-RW-0"
	echo "--disk path=$TMP/ro.img,bus=scsi,lun=3,readonly=on,engine=$1,cache=$2"
}

engines="threads"
if have_io_uring; then
	engines="io_uring $engines"
else
	skip_case "scsi-test engine=io_uring" "io_uring is disabled on this host (kernel.io_uring_disabled)"
fi
if have_odirect; then
	engines="$engines aio"
else
	skip_case "scsi-test engine=aio,cache=none" "$TMP refuses O_DIRECT (tmpfs?)"
fi

TERN_DUMP=
for engine in $engines; do
	cache=writeback
	[ "$engine" = aio ] && cache=none
	for ring in split packed; do
		begin "scsi-test engine=$engine cache=$cache, $ring ring: every command on LUN 0 and read-only LUN 3, TMFs; host checks the files"
		new_images
		# shellcheck disable=SC2046
		run_tern $GUEST_TIMEOUT run --kernel "$FW/scsi-test.elf" --test-exit \
			--cmdline "ring=$ring rw=0 ro=3 serial_rw=SCSI-RW-0 tern=1 dump=1" \
			$(SCSI_DISKS $engine $cache)
		expect_scsi_pass $ring
		host_checks "$TMP/out"
		if [ -z "$TERN_DUMP" ] && [ "$CASE_OK" = 1 ]; then
			TERN_DUMP=$TMP/tern-dump.log
			cp "$TMP/out" "$TERN_DUMP"
		fi
		end
	done
done

begin "scsi-test beside a virtio-blk disk; query-block shows both sizes; the I/O thread is tern-io-scsi"
new_images
truncate -s 1M "$TMP/blk.img"
rm -f "$TMP/qmp.sock"
timeout -k 5 60 "$TERN" run --kernel "$FW/scsi-test.elf" --test-exit --paused --qmp "unix:$TMP/qmp.sock" \
	--disk "path=$TMP/blk.img" --cmdline "rw=0 ro=3 serial_rw=SCSI-RW-0" \
	$(SCSI_DISKS threads writeback) </dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 100); do [ -S "$TMP/qmp.sock" ] && break; sleep 0.1; done
timeout 10 "$TERN" qmp "$TMP/qmp.sock" query-block >"$TMP/blocks" 2>&1 || fail "query-block failed"
for size in 1048576 $((RW_MB << 20)) $((RO_MB << 20)); do
	grep -q "\"virtual-size\": $size" "$TMP/blocks" || fail "query-block lacks a disk of $size bytes: $(tr -d '\n' <"$TMP/blocks")"
done
names=$(cat /proc/"$(pgrep -P "$pid" -x tern)"/task/*/comm 2>/dev/null | xargs)
case " $names " in *" tern-io-scsi "*) ;; *) fail "no thread tern-io-scsi among: $names" ;; esac
timeout 10 "$TERN" qmp "$TMP/qmp.sock" cont >/dev/null || fail "cont failed"
wait $pid
STATUS=$?
expect_pass
host_checks "$TMP/out"
end

# Saved while the data rounds run, after a LUN reset whose unit attention
# the guest checks only at the end: the twin must report it. wait=600: the
# twin's kvmclock is set when the state is loaded and runs on until cont
# (--incoming file: restores it at start-up; core-helper's RAM comparison
# in between takes a while on a loaded machine), so the guest may see tens
# of seconds pass at once.
begin "state: scsi-test saved mid-run and restored into a --paused twin passes, the pending unit attention included"
new_images
SOCK=$TMP/save.sock
rm -f "$SOCK" "$TMP/save.log"
save_engine=threads
have_io_uring && save_engine=io_uring
VM=(--kernel "$FW/scsi-test.elf" --test-exit --cmdline "rw=0 ro=3 serial_rw=SCSI-RW-0 rounds=40 wait=600"
	$(SCSI_DISKS $save_engine writeback))
timeout -k 5 120 "$TERN" run --console "file=$TMP/save.log" --qmp "unix:$SOCK" "${VM[@]}" \
	</dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
if ! timeout -k 5 120 python3 "$HELPER" save "$SOCK" "$TMP/save.log" "$TMP/snap" "scsi-test: round " 3 >"$TMP/helper.out" 2>&1; then
	fail "save: $(cat "$TMP/helper.out")"
fi
wait $pid
SOCK=$TMP/twin.sock
rm -f "$SOCK"
: >"$TMP/twin.log"
timeout -k 5 120 "$TERN" run --console "file=$TMP/twin.log" --qmp "unix:$SOCK" --paused \
	--incoming "file:$TMP/snap" "${VM[@]}" \
	</dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
if ! timeout -k 5 120 python3 "$HELPER" restore "$SOCK" "$TMP/twin.log" "$TMP/snap" "$TMP" scsi >"$TMP/helper.out" 2>&1; then
	fail "restore: $(cat "$TMP/helper.out")"
fi
wait $pid
STATUS=$?
cp "$TMP/twin.log" "$TMP/out"
expect_status 1
expect_line out '^scsi-test: LUN 3 reported the reset.s unit attention, LUN 0 did not$'
if grep -q 'REPORT LUNS' "$TMP/twin.log"; then fail "the restored guest started over"; fi
cat "$TMP/save.log" "$TMP/twin.log" >"$TMP/both.log"
host_checks "$TMP/both.log"
end

new_images
for spec in "bus=scsi,queues=2" "bus=scsi,poll-us=10" "bus=scsi,lun=256" "bus=scsi,lun=-1" \
	"lun=1" "bus=blk,lun=0" "bus=usb"; do
	begin "bad --disk 'path=...,$spec': exit 2 naming --disk"
	run_tern 30 run --kernel "$FW/exit-code.elf" --test-exit --disk "path=$TMP/rw.img,$spec"
	expect_status 2
	expect_line err "^tern run: --disk 'path=[^']*,$spec': "
	end
done
begin "two bus=scsi disks with one LUN: exit 2 naming both"
run_tern 30 run --kernel "$FW/exit-code.elf" --test-exit --disk "path=$TMP/rw.img,bus=scsi,lun=2" \
	--disk "path=$TMP/ro.img,bus=scsi,lun=2,readonly=on"
expect_status 2
expect_line err "lun=2 is --disk 'path=$TMP/rw.img,bus=scsi,lun=2''s already"
end

# The same guest under QEMU, unmodified (without tern=1), then its answers
# beside tern's.
QEMU=${QEMU:-qemu-system-x86_64}
QBOOT=/usr/share/qemu/qboot.rom
if ! command -v "$QEMU" >/dev/null 2>&1; then
	skip_case "scsi-test under QEMU, answers compared" "$QEMU not found (Debian: apt-get install qemu-system-x86)"
elif [ ! -f "$QBOOT" ]; then
	skip_case "scsi-test under QEMU, answers compared" "$QBOOT not found (it comes with qemu-system-x86)"
else
	for ring in split packed; do
		begin "scsi-test under QEMU 7.2, $ring ring (virtio-scsi-pci, scsi-hd lun=0 and lun=3); host checks the files"
		new_images
		packed=off
		[ "$ring" = packed ] && packed=on
		timeout -k 5 120 "$QEMU" -accel kvm -cpu host,-cx16,-arch-capabilities \
			-M q35 -bios "$QBOOT" -m 128M -display none -no-reboot \
			-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
			-serial "file:$TMP/out" -monitor none -kernel "$FW/scsi-test.elf" \
			-append "ring=$ring rw=0 ro=3 serial_rw=SCSI-RW-0 dump=1" \
			-device "virtio-scsi-pci,disable-legacy=on,packed=$packed,id=scsi0" \
			-drive "if=none,id=d0,file=$TMP/rw.img,format=raw,discard=unmap" \
			-device scsi-hd,bus=scsi0.0,drive=d0,lun=0,serial=SCSI-RW-0 \
			-drive "if=none,id=d1,file=$TMP/ro.img,format=raw,readonly=on" \
			-device scsi-hd,bus=scsi0.0,drive=d1,lun=3 </dev/null >"$TMP/err" 2>&1
		STATUS=$?
		expect_pass
		expect_line out '^scsi-test: REPORT LUNS: 0 3$'
		expect_line out '^scsi-test: ABORT TASK of a READ in flight: FUNCTION COMPLETE'
		host_checks "$TMP/out"
		[ "$ring" = split ] && cp "$TMP/out" "$TMP/qemu-dump.log"
		end
	done
	begin "INQUIRY, VPD, READ CAPACITY, MODE SENSE: tern and QEMU agree on every field the standards fix"
	if [ -z "$TERN_DUMP" ] || [ ! -f "$TMP/qemu-dump.log" ]; then
		fail "a run to compare failed above"
	elif ! python3 "$COMPARE" "$TERN_DUMP" "$TMP/qemu-dump.log" 0 3 >"$TMP/compare" 2>&1; then
		fail "$(grep -v '^same\|^both' "$TMP/compare")"
	else
		grep -c '^same' "$TMP/compare" | sed 's/^/fields compared equal: /'
		tail -n 1 "$TMP/compare"
	fi
	end
fi

finish
