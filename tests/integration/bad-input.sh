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

# Numbers are decimal, whole, and never collide with "not given".
bad "negative cpus" "--cpus -1: expected a decimal number" run --cpus=-1
bad "octal-looking cpus" "--cpus 010" run --cpus 010
bad "hex cpus" "--cpus 0x2" run --cpus 0x2
bad "cpus with a sign" "--cpus \\+2" run --cpus +2
bad "octal-looking queues" "queues='010'" run --disk path=x.img,queues=010
bad "hex queues" "queues='0x2'" run --disk path=x.img,queues=0x2
bad "poll-us beyond its range" "poll-us='1000001'" run --disk path=x.img,poll-us=1000001
bad "bad --teardown" "--teardown 'later'" run --teardown later

# Files are looked at before anything is built or written.
cp "$FW/exit-code.elf" "$TMP/k.elf"
ln "$TMP/k.elf" "$TMP/k-link.elf"
head -c 4096 /dev/urandom >"$TMP/initrd.img"
truncate -s 16M "$TMP/d.img"
mkfifo "$TMP/fifo"
sum_files() { cksum "$TMP/k.elf" "$TMP/initrd.img" "$TMP/d.img"; }
sum_files >"$TMP/sums"
# bad_keep NAME REGEX ARGS...: bad input that must leave every file as it was.
bad_keep() {
	bad "$@"
	if ! sum_files | cmp -s - "$TMP/sums"; then
		fail "a file changed: $(sum_files | tr '\n' ' ')"
	fi
}
bad_keep "console file is the kernel (another spelling)" "--console file=$TMP/./k.elf: is the --kernel file" \
	run --kernel "$TMP/k.elf" --console "file=$TMP/./k.elf"
bad_keep "console file is a hard link to the kernel" "is the --kernel file" \
	run --kernel "$TMP/k.elf" --console "file=$TMP/k-link.elf"
bad_keep "console file is the initrd" "is the --initrd file" \
	run --kernel "$TMP/k.elf" --initrd "$TMP/initrd.img" --console "file=$TMP/initrd.img"
bad_keep "console file is a disk image" "is the image of --disk 'path=$TMP/d.img'" \
	run --disk "path=$TMP/d.img" --console "file=$TMP/../${TMP##*/}/d.img"
bad_keep "console file is the QMP socket" "is the --qmp 'unix:$TMP/./q.sock' socket" \
	run --qmp "unix:$TMP/./q.sock" --console "file=$TMP/q.sock"
bad_keep "console file is a directory" "--console file=$TMP: is a directory" run --console "file=$TMP"
bad_keep "the same image under two spellings" "'$TMP/./d.img' is the same file as --disk 'path=$TMP/d.img'" \
	run --disk "path=$TMP/d.img" --disk "path=$TMP/./d.img,readonly=on"
ln "$TMP/d.img" "$TMP/d-link.img"
bad_keep "the same image through a hard link" "is the same file as" \
	run --disk "path=$TMP/d.img" --disk "path=$TMP/d-link.img"
bad "kernel is a FIFO" "--kernel '$TMP/fifo': not a regular file \\(a FIFO\\)" run --kernel "$TMP/fifo"
bad "initrd is a FIFO" "--initrd '$TMP/fifo': not a regular file" run --initrd "$TMP/fifo"
bad "kernel is /dev/zero" "--kernel '/dev/zero': not a regular file" run --kernel /dev/zero
bad "QMP path is a regular file" "--qmp 'unix:$TMP/k.elf': the path exists and is not a socket" \
	run --qmp "unix:$TMP/k.elf"

begin "--version and --help exit 0"
run_tern 10 --version
expect_status 0
expect_line out '^tern [0-9]+\.[0-9]+'
run_tern 10 run --help
expect_status 0
expect_line out '--kernel'
end

begin "unusable KVM device (--kvm-device /nonexistent)"
run_tern 10 run --kvm-device /nonexistent
expect_status 2
expect_line err '/nonexistent: cannot open'
end

begin "a device that is not KVM (--kvm-device /dev/null)"
run_tern 10 run --kvm-device /dev/null
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

# A failure while building the VM leaves the console file as it was: it is
# only opened (and truncated) once everything else is in place.
for c in "unrecognised kernel|$TMP/text|--kernel $TMP/text" \
	"missing disk image|--disk 'path=$TMP/nope'|--disk path=$TMP/nope" \
	"too many vCPUs|--cpus 100000|--cpus 100000"; do
	IFS='|' read -r what regex args <<<"$c"
	printf 'older console output\n' >"$TMP/console.log"
	# shellcheck disable=SC2086 # args are words on purpose
	bad "console file kept: $what" "$regex" run --console "file=$TMP/console.log" $args
	if [ "$(cat "$TMP/console.log")" != "older console output" ]; then
		fail "the console file was truncated"
	fi
done

# Image locks: one writer or any number of readers, across processes.
# hold ARGS...: a paused tern holding the images of its --disk options.
hold() {
	rm -f "$TMP/hold.sock"
	"$TERN" run --paused --console none --qmp "unix:$TMP/hold.sock" "$@" </dev/null \
		>/dev/null 2>"$TMP/hold.err" &
	HOLDER=$!
	for _ in $(seq 100); do [ -S "$TMP/hold.sock" ] && return; sleep 0.05; done
	fail "the holding tern did not start: $(cat "$TMP/hold.err")"
}
release() {
	kill -TERM "$HOLDER"
	wait "$HOLDER"
	[ $? = 0 ] || fail "the holding tern did not end with status 0"
}
begin "a second tern writer on one image"
hold --disk "path=$TMP/d.img"
run_tern 30 run --console none --disk "path=$TMP/d.img"
expect_status 2
expect_line err "--disk 'path=$TMP/d.img': '$TMP/d.img' is locked: process $HOLDER \(tern\) holds a write lock on it"
run_tern 30 run --console none --disk "path=$TMP/d.img,readonly=on"
expect_status 2
expect_line err "is locked: process $HOLDER \(tern\) holds a write lock"
release
run_tern 30 run --console none --disk "path=$TMP/d.img"
expect_status 0
end

begin "a reader and a writer: readers share, a writer is refused"
hold --disk "path=$TMP/d.img,readonly=on"
run_tern 30 run --console none --disk "path=$TMP/d.img,readonly=on"
expect_status 0
run_tern 30 run --console none --disk "path=$TMP/d.img"
expect_status 2
expect_line err "is locked: process $HOLDER \(tern\) holds a shared \(read-only\) lock on it \(a writer needs the image to itself\)"
release
end

# With QEMU: the same bytes locked, so each refuses the other as itself.
# qemu_hold DRIVE-OPTIONS RANGES: a stopped QEMU with the image on
# virtio-blk, once /proc/locks shows exactly RANGES on it ("START END ..."
# in order): QEMU takes its locks one by one, and a test must not start
# between the first and the last.
qemu_hold() {
	qemu-system-x86_64 -M q35 -S -nodefaults -display none -monitor none -serial none \
		-drive "file=$TMP/d.img,format=raw,if=none,id=d0$1" -device virtio-blk-pci,drive=d0 \
		</dev/null >/dev/null 2>"$TMP/qemu.err" &
	HOLDER=$!
	for _ in $(seq 200); do
		local have
		have=$(grep ":$(stat -c %i "$TMP/d.img") " /proc/locks | awk '{print $(NF-1), $NF}' | sort -n | xargs)
		[ "$have" = "$2" ] && return
		sleep 0.05
	done
	fail "QEMU did not lock the image: $(cat "$TMP/qemu.err")"
}
qemu_try() { # DRIVE-OPTIONS: QEMU's status, given 3 s, in $QSTATUS
	timeout 3 qemu-system-x86_64 -M q35 -S -nodefaults -display none -monitor none -serial none \
		-drive "file=$TMP/d.img,format=raw,if=none,id=d0$1" -device virtio-blk-pci,drive=d0 \
		</dev/null >/dev/null 2>"$TMP/qemu.err"
	QSTATUS=$?
}
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
	skip_case "image locks against QEMU" "qemu-system-x86_64 is not installed (scripts/install-deps.sh --test)"
else
	begin "QEMU writing the image: tern refuses to write or read it"
	qemu_hold "" "100 101 201 201"
	run_tern 30 run --console none --disk "path=$TMP/d.img"
	expect_status 2
	expect_line err "is locked: process $HOLDER \(qemu-system-x86\) holds a write lock"
	run_tern 30 run --console none --disk "path=$TMP/d.img,readonly=on"
	expect_status 2
	expect_line err "is locked: process $HOLDER \(qemu-system-x86\) holds a write lock"
	kill "$HOLDER"; wait "$HOLDER"
	end

	begin "QEMU reading the image: tern reads it too, does not write it"
	qemu_hold ",readonly=on" "100 100 201 201"
	run_tern 30 run --console none --disk "path=$TMP/d.img,readonly=on"
	expect_status 0
	run_tern 30 run --console none --disk "path=$TMP/d.img"
	expect_status 2
	expect_line err "holds a shared \(read-only\) lock"
	kill "$HOLDER"; wait "$HOLDER"
	end

	begin "tern writing the image: QEMU refuses it"
	hold --disk "path=$TMP/d.img"
	qemu_try ",readonly=on"
	[ "$QSTATUS" = 1 ] || fail "QEMU read-only: status $QSTATUS, expected 1"
	grep -q 'Failed to lock byte 100' "$TMP/qemu.err" || fail "QEMU: $(cat "$TMP/qemu.err")"
	qemu_try ""
	[ "$QSTATUS" = 1 ] || fail "QEMU read-write: status $QSTATUS, expected 1"
	release
	end

	begin "tern reading the image: QEMU reads it too, does not write it"
	hold --disk "path=$TMP/d.img,readonly=on"
	qemu_try ",readonly=on"
	[ "$QSTATUS" = 124 ] || fail "QEMU read-only: status $QSTATUS, expected to run (124 at the time-out): $(cat "$TMP/qemu.err")"
	qemu_try ""
	[ "$QSTATUS" = 1 ] || fail "QEMU read-write: status $QSTATUS, expected 1"
	grep -q 'Failed to get "write" lock' "$TMP/qemu.err" || fail "QEMU: $(cat "$TMP/qemu.err")"
	release
	end
fi

finish
