# SPDX-License-Identifier: MIT
# Opt-in (TERN_SLOW_TESTS=1): boot a stock Debian cloud kernel with a
# busybox initramfs whose init prints a marker and reboots. Guest ring 0 is
# emulated on nested machines like ours, so this is slow and may stop at an
# emulation failure; on hardware virtualization it boots in seconds.
. "$(dirname "$0")/lib.sh"

if [ "${TERN_SLOW_TESTS:-0}" != 1 ]; then
	skip "stock Linux boot is opt-in: set TERN_SLOW_TESTS=1 (takes minutes; ring 0 is emulated on nested KVM)"
fi
need_kvm
SRC=$(cd "$(dirname "$0")/../.." && pwd)
GUEST=${TERN_LINUX_GUEST_DIR:-$TMP/linux}
if [ ! -f "$GUEST/vmlinuz" ]; then
	bash "$SRC/scripts/get-linux-guest.sh" "$GUEST" || skip "could not fetch the Debian kernel package (no apt access?)"
fi

begin "stock Linux bzImage reaches the initramfs marker and reboots"
start=$(date +%s)
run_tern "${TERN_LINUX_TIMEOUT:-840}" run --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.cpio.gz" \
	--memory 512M --cpu-features=-cx16,-xsave \
	--cmdline "console=ttyS0 reboot=k panic=-1 noxsave nokaslr"
echo "linux boot: status $STATUS after $(($(date +%s) - start)) s"
expect_status 0
expect_line out 'TERN-LINUX-BOOT-OK'
end
finish
