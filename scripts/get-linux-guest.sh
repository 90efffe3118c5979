#!/bin/bash
# SPDX-License-Identifier: MIT
# Fetch a stock Debian cloud kernel and build a busybox initramfs whose init
# prints TERN-LINUX-BOOT-OK and reboots (i8042, reboot=k).
# Usage: scripts/get-linux-guest.sh OUTDIR
set -euo pipefail
out=${1:?usage: $0 OUTDIR}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

for tool in busybox cpio; do
	command -v $tool >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static cpio >/dev/null; }
done
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || { echo "no linux-image-*-cloud-amd64 package found (run apt-get update)" >&2; exit 1; }
apt-get download "$pkg" >/dev/null
dpkg-deb -x ./*.deb root
cp root/boot/vmlinuz-* "$out/vmlinuz"

mkdir -p initramfs/bin initramfs/proc initramfs/sys initramfs/dev
cp "$(command -v busybox)" initramfs/bin/busybox
for t in sh echo mount reboot sleep; do ln -s busybox "initramfs/bin/$t"; done
cat >initramfs/init <<'INIT'
#!/bin/sh
mount -t proc proc /proc
echo TERN-LINUX-BOOT-OK
reboot -f
INIT
chmod +x initramfs/init
(cd initramfs && find . | cpio -o -H newc --quiet | gzip -9) >"$out/initrd.cpio.gz"
echo "kernel: $pkg -> $out/vmlinuz; initramfs: $out/initrd.cpio.gz"
