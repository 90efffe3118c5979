#!/bin/bash
# SPDX-License-Identifier: MIT
# The blk-test guest under unmodified QEMU as the vhost-user frontend, over
# the same qemu-storage-daemon command line vhost-user.sh gives tern
# (vhost-user-blk export, split ring, 2 queues): the guest is judged right
# by a second frontend before tern is judged by it. q35 with qboot and the
# isa-debug-exit port, as in virtio-qemu.sh; guest memory is a shared memfd
# (the daemon maps it), which is what QEMU needs for vhost-user; the
# device is modern-only (disable-legacy=on), the only kind blk-test knows.
#
# Skips (77) with the reason without qemu-system-x86_64, qboot.rom,
# qemu-storage-daemon, /dev/kvm or python3.
. "$(dirname "$0")/lib.sh"

QEMU=${QEMU:-qemu-system-x86_64}
QBOOT=/usr/share/qemu/qboot.rom
command -v "$QEMU" >/dev/null 2>&1 || skip "$QEMU not found (Debian: apt-get install qemu-system-x86)"
[ -f "$QBOOT" ] || skip "$QBOOT not found (it comes with qemu-system-x86)"
QSD=$(command -v qemu-storage-daemon || true)
[ -n "$QSD" ] || skip "qemu-storage-daemon is not installed (Debian qemu-system-common: scripts/install-deps.sh --test)"
need_kvm
command -v python3 >/dev/null 2>&1 || skip "python3 not found (the socket wait and the image check need it)"

DISK_MB=16

. "$(dirname "$0")/qsd-lib.sh"
. "$(dirname "$0")/vu-qemu-lib.sh"
trap 'qsd_stop; rm -rf "$TMP"' EXIT

begin "QEMU as frontend: blk-test over qemu-storage-daemon (vhost-user-blk, split ring, 2 queues); host checks the image"
new_disk $DISK_MB
if qsd_start "$TMP/vu.sock" "$TMP/disk.img" 2; then
	run_qemu_vu 120 "$FW/blk-test.elf" "ring=split queues=2" "$TMP/vu.sock" \
		-device vhost-user-blk-pci,disable-legacy=on,chardev=c,num-queues=2
	expect_pass
	expect_line out "^blk-test: capacity $((DISK_MB * 2048)) sectors .*, split ring, 2 queue\\(s\\)"
	expect_line out '^blk-test: flush OK$'
	expect_line out '^blk-test: MSI-X vectors pending for 2 queue\(s\)$'
	if ! python3 "$CHECK" "$TMP/disk.img" "$TMP/out" >"$TMP/check" 2>&1; then
		fail "host check: $(cat "$TMP/check")"
	fi
fi
qsd_stop
end

finish
