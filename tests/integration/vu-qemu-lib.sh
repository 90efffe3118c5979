# SPDX-License-Identifier: MIT
# QEMU as the vhost-user frontend, for vhost-user-qemu.sh (blk) and
# vhost-user-net.sh (net): q35 with qboot and the isa-debug-exit port, as
# in virtio-qemu.sh; guest memory is a shared memfd (the back-end maps
# it), which is what QEMU needs for vhost-user. Source after lib.sh with
# QEMU and QBOOT set.

# run_qemu_vu TIMEOUT ELF CMDLINE SOCK QEMU ARGS...: the chardev "c" on
# SOCK, the device (which names chardev=c) in QEMU ARGS; serial console to
# $TMP/out, QEMU's messages to $TMP/err, status in $STATUS.
# isa-debug-exit turns the guest's exit value v into (v << 1) | 1: 1 is a
# pass, 3 a failure.
run_qemu_vu() {
	local t=$1 elf=$2 cmdline=$3 sock=$4 mem=${VU_QEMU_MEM:-256M}
	shift 4
	timeout -k 5 "$t" "$QEMU" -accel kvm -cpu host,-cx16,-arch-capabilities \
		-M q35 -bios "$QBOOT" -m "$mem" -display none -no-reboot \
		-object "memory-backend-memfd,id=mem,size=$mem,share=on" -numa node,memdev=mem \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-serial "file:$TMP/out" -monitor none \
		-chardev "socket,id=c,path=$sock" \
		-kernel "$elf" -append "$cmdline" "$@" </dev/null >"$TMP/err" 2>&1
	STATUS=$?
}
