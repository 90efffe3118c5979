#!/bin/bash
# SPDX-License-Identifier: MIT
# virtio-fs over a vhost-user back-end (--fs vhost-user=SOCK,tag=TAG),
# against Debian 12's C virtiofsd (docs/vhost-user.md):
#  - bad --fs options exit 2 naming the option: no shared memory, no or an
#    empty or a 37-byte tag, no socket, a socket nobody listens on;
#  - the fs-test guest (a small FUSE client) over virtiofsd under tern:
#    the config's tag, FUSE_INIT, a 200003-byte file read and checked byte
#    for byte (the guest computes the pattern this script writes, and the
#    host compares the length and FNV-1a 64 hash it prints), and the
#    directory listing compared with the host's;
#  - the same under --jail (the socket bound into it);
#  - the same guest fails on a file one byte off (the check is real);
#  - queues=2 is refused at start-up: virtiofsd 7.2 has two rings;
#  - the same guest under QEMU 7.2 as the frontend (vhost-user-fs-pci), so
#    that the guest and the daemon are judged by a second frontend;
#  - virtiofsd killed (SIGKILL) and started again between two phases of
#    the guest: tern logs the disconnect and the reconnect, the guest keeps
#    running, its next request gets EIO from the new daemon (which has no
#    FUSE session), it sends FUSE_INIT again and reads everything again;
#    the same under --jail (the new socket is not the file bound into it).
# Skips (77) with the reason without virtiofsd, without python3 or when
# not root (virtiofsd's default sandbox needs namespaces); the QEMU case
# skips alone without QEMU or qboot.
. "$(dirname "$0")/lib.sh"
need_kvm

VIRTIOFSD=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
[ -x "$VIRTIOFSD" ] || skip "$VIRTIOFSD is not installed (Debian qemu-system-common: scripts/install-deps.sh --test)"
[ "$(id -u)" = 0 ] || skip "virtiofsd's sandbox (mount, pid and net namespaces) needs root"
command -v python3 >/dev/null 2>&1 || skip "python3 not found (the share's file and hash need it)"
QEMU=${QEMU:-qemu-system-x86_64}
QBOOT=/usr/share/qemu/qboot.rom
GUEST_TIMEOUT=120
HELPER=$(dirname "$0")/vhost-user-helper.py
MEM=256M
TAG=tern-share
SIZE=200003
SHARE=$TMP/share
VFS_SOCK=$TMP/vfs.sock

# virtiofsd_start: the daemon on $VFS_SOCK serving $SHARE in the
# background, pid in $TMP/vfs.pid, output in $TMP/vfs.log; returns once it
# listens. It takes one connection and exits when that one closes, so the
# wait reads its log rather than connecting.
virtiofsd_start() {
	rm -f "$VFS_SOCK"
	"$VIRTIOFSD" --socket-path="$VFS_SOCK" -o source="$SHARE" -o cache=none \
		</dev/null >"$TMP/vfs.log" 2>&1 &
	echo $! >"$TMP/vfs.pid"
	for _ in $(seq 50); do
		if grep -q 'Waiting for vhost-user socket connection' "$TMP/vfs.log" && [ -S "$VFS_SOCK" ]; then
			return 0
		fi
		kill -0 "$(cat "$TMP/vfs.pid")" 2>/dev/null || break
		sleep 0.1
	done
	fail "virtiofsd is not listening: $(cat "$TMP/vfs.log")"
	return 1
}
virtiofsd_stop() {
	if [ -s "$TMP/vfs.pid" ]; then
		kill "$(cat "$TMP/vfs.pid")" 2>/dev/null
		wait "$(cat "$TMP/vfs.pid")" 2>/dev/null
		: >"$TMP/vfs.pid"
	fi
}
trap 'virtiofsd_stop; rm -rf "$TMP"' EXIT

# The shared directory: the file fs-test checks byte i = fs_pattern(i),
# and a listing with names of several lengths (dirent padding) and a
# subdirectory.
make_share() {
	rm -rf "$SHARE"
	mkdir -p "$SHARE/listing/subdir"
	python3 -c '
import sys
n = int(sys.argv[2])
open(sys.argv[1], "wb").write(bytes((i + (i >> 8) * 31 + (i >> 16) * 101) & 0xff for i in range(n)))
' "$SHARE/fs-test.dat" $SIZE
	for f in a bb ccc-with-a-name-longer-than-twenty-four-bytes.txt 'sp ace'; do
		echo "$f" >"$SHARE/listing/$f"
	done
}

# check_guest_output FILE PHASES: the tag line, PHASES passes over the
# file with the host's length and hash, and PHASES listings equal to the
# host's (names, in any order).
check_guest_output() {
	local out=$1 phases=$2 hash want got n
	hash=$(python3 -c '
import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 0x100000001b3) & (2**64 - 1)
print("%016x" % h)' "$SHARE/fs-test.dat")
	expect_line "$out" "^fs-test: tag '$TAG', 1 request queue\\(s\\), 2 queues\$"
	if [ "$(grep -c "^fs-test: file fs-test.dat $SIZE bytes in [0-9]* READs, fnv1a64 $hash\$" "$TMP/$out")" != "$phases" ]; then
		fail "expected $phases line(s) 'file fs-test.dat $SIZE bytes ... fnv1a64 $hash' (the host's hash)"
	fi
	want=$(cd "$SHARE/listing" && ls -A | LC_ALL=C sort)
	got=$(sed -n 's/^fs-test: entry \(.*\) type [0-9]*$/\1/p' "$TMP/$out" | LC_ALL=C sort -u)
	if [ "$want" != "$got" ]; then
		fail "listing: guest saw '$(echo $got)', host has '$(echo $want)'"
	fi
	n=$(echo "$want" | wc -l)
	if [ "$(grep -c "^fs-test: listing listing $n entries (and 2 of . and ..)\$" "$TMP/$out")" != "$phases" ]; then
		fail "expected $phases listing(s) of $n entries"
	fi
}

begin "--fs without shared memory exits 2 and says why"
run_tern 20 run --kernel "$FW/exit-code.elf" --test-exit --memory 128M \
	--fs "vhost-user=$TMP/none.sock,tag=$TAG"
expect_status 2
expect_line err "--fs 'vhost-user=.*': a vhost-user back-end needs shared guest memory: add --memory SIZE,shared=on"
end

begin "--fs with no tag, an empty tag or a 37-byte tag exits 2 naming --fs"
for spec in "vhost-user=$TMP/none.sock" "vhost-user=$TMP/none.sock,tag=" \
	"vhost-user=$TMP/none.sock,tag=$(printf 'x%.0s' $(seq 37))"; do
	run_tern 20 run --kernel "$FW/exit-code.elf" --test-exit --memory 128M,shared=on --fs "$spec"
	expect_status 2
	expect_line err "--fs '.*': (tag=TAG is required|'tag' needs a value|tag='x{37}': at most 36 bytes)"
done
end

begin "--fs with no socket, or a bad key, exits 2 naming --fs"
for spec in "tag=$TAG" "vhost-user=$TMP/none.sock,tag=$TAG,cache=none" \
	"vhost-user=$TMP/none.sock,tag=$TAG,queues=0"; do
	run_tern 20 run --kernel "$FW/exit-code.elf" --test-exit --memory 128M,shared=on --fs "$spec"
	expect_status 2
	expect_line err "--fs '.*': (vhost-user=SOCK is required|unknown key 'cache'|queues='0': expected)"
done
end

begin "--fs with no back-end listening fails at start-up, naming the socket"
run_tern 20 run --kernel "$FW/exit-code.elf" --test-exit --memory 128M,shared=on \
	--fs "vhost-user=$TMP/none.sock,tag=$TAG"
expect_status 2
expect_line err "vu-fs0: back-end '$TMP/none.sock': connect: "
end

make_share

begin "fs-test over virtiofsd under tern: tag, FUSE_INIT, the file byte for byte, the listing"
if virtiofsd_start; then
	run_tern $GUEST_TIMEOUT run --kernel "$FW/fs-test.elf" --test-exit --memory $MEM,shared=on \
		--fs "vhost-user=$VFS_SOCK,tag=$TAG" --cmdline "tag=$TAG size=$SIZE"
	expect_pass
	check_guest_output out 1
fi
virtiofsd_stop
end

begin "fs-test over virtiofsd under --jail: the socket is bound into the jail"
mkdir -p "$TMP/jail"
if virtiofsd_start; then
	run_tern $GUEST_TIMEOUT run --jail "$TMP/jail" --kernel "$FW/fs-test.elf" --test-exit \
		--memory $MEM,shared=on --fs "vhost-user=$VFS_SOCK,tag=$TAG" --cmdline "tag=$TAG size=$SIZE"
	expect_pass
	check_guest_output out 1
fi
virtiofsd_stop
end

begin "fs-test fails on a file one byte off from the pattern, naming the byte"
printf '\x00' | dd of="$SHARE/fs-test.dat" bs=1 seek=131077 conv=notrunc status=none
if virtiofsd_start; then
	run_tern $GUEST_TIMEOUT run --kernel "$FW/fs-test.elf" --test-exit --memory $MEM,shared=on \
		--fs "vhost-user=$VFS_SOCK,tag=$TAG" --cmdline "tag=$TAG size=$SIZE"
	expect_status 3
	expect_line out '^RESULT: FAIL fs: byte 131077 is 0x0, expected 0xcf$'
fi
virtiofsd_stop
make_share
end

begin "--fs queues=2 over virtiofsd (two rings: hiprio and one request queue) exits 2 at start-up"
if virtiofsd_start; then
	run_tern 20 run --kernel "$FW/fs-test.elf" --test-exit --memory $MEM,shared=on \
		--fs "vhost-user=$VFS_SOCK,tag=$TAG,queues=2" --cmdline "tag=$TAG size=$SIZE"
	expect_status 2
	expect_line err "vu-fs0: back-end '$VFS_SOCK': queue count: "
fi
virtiofsd_stop
end

QEMU_CASE="QEMU as frontend: fs-test over the same virtiofsd command line (vhost-user-fs-pci)"
if ! command -v "$QEMU" >/dev/null 2>&1; then
	skip_case "$QEMU_CASE" "$QEMU not found (Debian: apt-get install qemu-system-x86)"
elif [ ! -f "$QBOOT" ]; then
	skip_case "$QEMU_CASE" "$QBOOT not found (it comes with qemu-system-x86)"
else
begin "$QEMU_CASE"
if virtiofsd_start; then
	# isa-debug-exit turns the guest's exit value v into (v << 1) | 1.
	timeout -k 5 $GUEST_TIMEOUT "$QEMU" -accel kvm -cpu host,-cx16,-arch-capabilities \
		-M q35 -bios "$QBOOT" -m $MEM -display none -no-reboot \
		-object "memory-backend-memfd,id=mem,size=$MEM,share=on" -numa node,memdev=mem \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-serial "file:$TMP/out" -monitor none \
		-chardev "socket,id=c,path=$VFS_SOCK" -device "vhost-user-fs-pci,chardev=c,tag=$TAG" \
		-kernel "$FW/fs-test.elf" -append "tag=$TAG size=$SIZE" </dev/null >"$TMP/err" 2>&1
	STATUS=$?
	expect_pass
	check_guest_output out 1
fi
virtiofsd_stop
end
fi

# wait_phase1: the guest in the background ($CON) finished its first pass.
wait_phase1() {
	for _ in $(seq 300); do
		grep -q '^fs-test: phase 1 done' "$CON" && return 0
		kill -0 "$VM_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "the guest did not finish its first pass: $(tail -n 3 "$CON")"
	return 1
}

# Under --jail the restarted virtiofsd's new socket is not the file bound
# into the jail: the reconnect helper connects from the socket's directory.
for jail in "" "--jail"; do
begin "virtiofsd killed (SIGKILL) and restarted between two phases${jail:+ under --jail}: QMP events, the guest re-sends FUSE_INIT and reads again"
rm -f "$SHARE/phase2"
mkdir -p "$TMP/jail-re"
if virtiofsd_start; then
	VM_TIMEOUT=$GUEST_TIMEOUT start_vm vm ${jail:+--jail "$TMP/jail-re"} --kernel "$FW/fs-test.elf" --test-exit \
		--memory $MEM,shared=on --fs "vhost-user=$VFS_SOCK,tag=$TAG" --cmdline "tag=$TAG size=$SIZE wait=1"
	if wait_phase1; then
		# Kill, expect the events and the VM running, restart, then
		# stop, x-tern-state-save and cont over the new daemon.
		if ! python3 "$HELPER" restart "$SOCK" "$TMP/vfs.pid" 0 --device vhost-user-fs.0 -- \
			"$VIRTIOFSD" --socket-path="$VFS_SOCK" -o source="$SHARE" -o cache=none >"$TMP/helper" 2>&1; then
			fail "$(cat "$TMP/helper")"
		fi
		cat "$TMP/helper"
		touch "$SHARE/phase2"
	fi
	wait_vm
	cp "$CON" "$TMP/out"
	cp "$VMERR" "$TMP/err"
	expect_pass
	expect_line err 'vu-fs0: back-end .* disconnected; the guest keeps running, reconnecting'
	# Seen through the connector's watch on the socket's directory (in
	# the jail too), not found by the back-off.
	expect_line err 'vu-fs0: back-end socket .* made again; connecting'
	expect_line err 'vu-fs0: back-end .* reconnected'
	expect_line out '^fs-test: LOOKUP phase2: EIO, sending FUSE_INIT again$'
	expect_line out '^fs-test: phase2 found$'
	check_guest_output out 2
fi
virtiofsd_stop
end
done

begin "reconnect=off: virtiofsd killed and restarted; the device stays down, the VM and QMP do not"
rm -f "$SHARE/phase2"
if virtiofsd_start; then
	VM_TIMEOUT=$GUEST_TIMEOUT start_vm vm2 --kernel "$FW/fs-test.elf" --test-exit --memory $MEM,shared=on \
		--fs "vhost-user=$VFS_SOCK,tag=$TAG,reconnect=off" --cmdline "tag=$TAG size=$SIZE wait=1"
	if wait_phase1 && ! python3 "$HELPER" latched "$SOCK" "$TMP/vfs.pid" 0 --device vhost-user-fs.0 -- \
		"$VIRTIOFSD" --socket-path="$VFS_SOCK" -o source="$SHARE" -o cache=none >"$TMP/helper" 2>&1; then
		fail "$(cat "$TMP/helper")"
	fi
	wait_vm
	expect_status 0
	if ! grep -q 'vu-fs0: .* disconnected; the guest keeps running (reconnect=off: the device stays down)' "$VMERR"; then
		fail "no reconnect=off line in stderr: $(cat "$VMERR")"
	fi
fi
virtiofsd_stop
end

finish
