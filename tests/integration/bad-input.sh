# SPDX-License-Identifier: MIT
# Bad input gets one clear line naming the input and exit status 2, never a
# crash. Cases that need no KVM run everywhere; the rest need /dev/kvm.
. "$(dirname "$0")/lib.sh"

bad() {
	local name=$1 regex=$2
	shift 2
	begin "$name"
	run_tern 30 "$@"
	expect_status 2
	expect_line err "$regex"
	# Never a crash: no sanitizer report, no signal status.
	expect_no_line err 'Segmentation|AddressSanitizer|core dumped'
	end
}

bad "unknown command" "unknown command 'fly'" fly
bad "no command" "Usage: tern" 
bad "unknown option" "Unknown option --bogus" run --bogus
bad "bad memory size" "--memory 'lots'" run --memory lots
bad "memory not page aligned" "multiple of 4K" run --memory 5000
bad "memory too small" "at least" run --memory 1M
bad "memory beyond the limit" "too large" run --memory 4096G
bad "zero cpus" "--cpus 0" run --cpus 0
bad "bad console" "--console 'serial'" run --console serial
bad "unknown cpu feature" "nosuch" run --cpu-features=-nosuch
bad "stray argument" "unexpected argument 'extra'" run extra

begin "--version and --help exit 0"
run_tern 10 --version
expect_status 0
expect_line out '^tern [0-9]+\.[0-9]+'
run_tern 10 run --help
expect_status 0
expect_line out '--kernel'
end

begin "unusable KVM device (TERN_KVM_DEVICE=/nonexistent)"
TERN_KVM_DEVICE=/nonexistent run_tern 10 run
expect_status 2
expect_line err '/nonexistent: cannot open'
end

begin "a device that is not KVM (TERN_KVM_DEVICE=/dev/null)"
TERN_KVM_DEVICE=/dev/null run_tern 10 run
expect_status 2
expect_line err '/dev/null: not a KVM device'
end

if [ ! -w /dev/kvm ]; then
	skip_case "the kernel, initrd, vCPU and memory cases" "they need /dev/kvm (missing or not writable)"
	finish
fi

printf 'not a kernel at all, just text\n' >"$TMP/text"
head -c 100 "$FW/exit-code.elf" >"$TMP/trunc.elf"
cp "$FW/exit-code.elf" "$TMP/corrupt.elf"
# Point e_phoff (offset 32 in ELF64) far past the end of the file.
printf '\xff\xff\xff\x7f' | dd of="$TMP/corrupt.elf" bs=1 seek=32 conv=notrunc status=none
{ head -c 514 /dev/zero; printf 'HdrS'; } >"$TMP/trunc.bzimage"
printf '\x55\xaa' | dd of="$TMP/trunc.bzimage" bs=1 seek=510 conv=notrunc status=none
: >"$TMP/empty"

bad "missing kernel file" "--kernel '$TMP/nope': No such file" run --kernel "$TMP/nope"
bad "kernel is a directory" "is a directory" run --kernel "$TMP"
bad "empty kernel" "empty" run --kernel "$TMP/empty"
bad "neither PVH ELF nor bzImage" "$TMP/text" run --kernel "$TMP/text"
bad "truncated ELF" "$TMP/trunc.elf" run --kernel "$TMP/trunc.elf"
bad "corrupt ELF program headers" "$TMP/corrupt.elf" run --kernel "$TMP/corrupt.elf"
bad "truncated bzImage" "$TMP/trunc.bzimage" run --kernel "$TMP/trunc.bzimage"
bad "missing initrd" "--initrd '$TMP/nope'" run --initrd "$TMP/nope"
bad "too many vCPUs" "--cpus 100000: this host's KVM allows at most" run --cpus 100000
# A copy of exit-code.elf whose first PT_LOAD claims 64 MiB of memory.
python3 - "$FW/exit-code.elf" "$TMP/huge.elf" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
phoff, = struct.unpack_from('<Q', b, 32)
phentsize, phnum = struct.unpack_from('<HH', b, 54)
for i in range(phnum):
    o = phoff + i * phentsize
    if struct.unpack_from('<I', b, o)[0] == 1:  # PT_LOAD
        struct.pack_into('<Q', b, o + 40, 64 << 20)  # p_memsz
        break
open(sys.argv[2], 'wb').write(b)
PY
head -c 3M /dev/zero >"$TMP/big.img"
bad "memory too small for the kernel" "huge.elf" run --kernel "$TMP/huge.elf" --memory 16M
bad "initrd does not fit in memory" "big.img" run --kernel "$FW/exit-code.elf" --memory 2M --initrd "$TMP/big.img"
bad "command line too long" "command line" run --kernel "$FW/exit-code.elf" --cmdline "$(head -c 70000 /dev/zero | tr '\0' x)"
bad "console file in a missing directory" "--console file=$TMP/no/such/dir" run --console "file=$TMP/no/such/dir"

finish
