#!/bin/bash
# SPDX-License-Identifier: MIT
#
# --firmware: a flash image mapped to end at 4 GiB, the vCPU starting at the
# reset vector. The same 64 KiB image (firmware/flash-hello.S) runs under
# tern and under QEMU's -bios, and both must print the same lines and exit
# the same way. Then the refusals: bad images, --firmware with a kernel, and
# --confidential on this host (no SEV/TDX VM type).

. "$(dirname "$0")/lib.sh"
need_kvm

FLASH=$FW/flash-hello.bin
[ -f "$FLASH" ] || skip "$FLASH was not built"
LAUNCH=$(dirname "$0")/../data/launch-measurements
SNP_FW=$LAUNCH/synthetic/virtee-sev-snp-measure-8f2b337/ovmf_AmdSev_suffix.bin

begin "tern runs a flash image from the reset vector"
run_tern 60 run --firmware "$FLASH" --test-exit
expect_pass
expect_line out '^flash-hello: running from the reset vector$'
end

begin "QEMU -bios runs the same image the same way"
qemu=${QEMU:-qemu-system-x86_64}
if ! command -v "$qemu" >/dev/null 2>&1; then
	skip_case "$CASE" "$qemu not found (Debian: apt-get install qemu-system-x86)"
else
	# -cpu: see docs ENVIRONMENT.md (cx16 and MSR 0x10a on these hosts).
	timeout -k 5 60 "$qemu" -accel kvm -cpu host,-cx16,-arch-capabilities \
		-M pc -nodefaults -display none -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-bios "$FLASH" </dev/null >"$TMP/out" 2>"$TMP/err"
	STATUS=$?
	tr -d '\r' <"$TMP/out" >"$TMP/out.lf" && mv "$TMP/out.lf" "$TMP/out"
	expect_pass
	expect_line out '^flash-hello: running from the reset vector$'
	end
fi

begin "an image that is not whole pages is refused"
head -c 1000 "$FLASH" >"$TMP/short.bin"
run_tern 30 run --firmware "$TMP/short.bin"
expect_status 2
expect_line err '^tern run: --firmware .*short.bin: not a whole number of 4 KiB pages$'
end

begin "an image over 16 MiB is refused"
truncate -s 17M "$TMP/big.bin"
run_tern 30 run --firmware "$TMP/big.bin"
expect_status 2
expect_line err 'larger than 16 MiB'
end

begin "a missing image is refused"
run_tern 30 run --firmware "$TMP/missing.bin"
expect_status 2
expect_line err '^tern run: --firmware'
end

begin "--firmware with --kernel is refused"
run_tern 30 run --firmware "$FLASH" --kernel "$FW/hello.elf"
expect_status 2
expect_line err '^tern run: --firmware: not with --kernel'
end

begin "--confidential on this host names the missing VM type"
run_tern 30 run --confidential sev-snp --firmware "$SNP_FW"
expect_status 2
if grep -q 'could run it' "$TMP/err"; then
	echo "NOTE: this host offers the SEV-SNP VM type"
else
	expect_line err "^tern run: --confidential sev-snp: KVM offers no sev-snp VM type here"
fi
end

begin "--confidential without --firmware is refused"
run_tern 30 run --confidential tdx
expect_status 2
expect_line err '^tern run: --confidential: needs --firmware'
end

finish
