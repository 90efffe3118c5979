# SPDX-License-Identifier: MIT
# The same QMP session against qemu-system-x86_64 and against tern, both
# running the counter guest; every reply must have the same structure (keys
# and JSON types), the same error classes and the same events, so tools
# written for QEMU work with tern unchanged. docs/qmp.md lists the
# differences this allows (values, list lengths, event order around quit).
. "$(dirname "$0")/lib.sh"
need_kvm
HELPER="$(dirname "$0")/qmp-helper.py"
QEMU=${QEMU:-qemu-system-x86_64}
command -v python3 >/dev/null || skip "python3 is not installed (scripts/install-deps.sh --test installs it)"
command -v "$QEMU" >/dev/null || skip "$QEMU is not installed (scripts/install-deps.sh --test installs it)"
[ -f "$FW/counter.elf" ] || skip "$FW/counter.elf is missing: build the firmware first"

# session NAME PID : record the session on $TMP/NAME.sock, then wait for PID.
session() {
	if ! timeout -k 5 90 python3 "$HELPER" session "$TMP/$1.sock" "$TMP/$1.json" \
		>"$TMP/helper.out" 2>&1; then
		fail "the session against $1 failed: $(cat "$TMP/helper.out")"
		kill "$2" 2>/dev/null
	fi
	wait "$2"
	STATUS=$?
}

# One raw disk on both sides, so query-block's BlockInfo is compared too.
truncate -s 16M "$TMP/disk.img"

begin "QEMU ($QEMU -M microvm) runs the session and exits 0 after quit"
# This host's QEMU needs these CPU features off (docs/ENVIRONMENT.md).
timeout -k 5 90 "$QEMU" -M microvm -accel kvm -cpu host,-cx16,-arch-capabilities \
	-m 128M -smp 1 -nodefaults -no-user-config -display none \
	-name conformance -kernel "$FW/counter.elf" \
	-drive "file=$TMP/disk.img,format=raw,if=none,id=disk0" -device virtio-blk-device,drive=disk0 \
	-serial "file:$TMP/qemu-console.log" \
	-qmp "unix:$TMP/qemu.sock,server=on,wait=off" \
	</dev/null >"$TMP/out" 2>"$TMP/err" &
session qemu $!
expect_status 0
end

begin "tern runs the session and exits 0 after quit"
timeout -k 5 90 "$TERN" run --kernel "$FW/counter.elf" --name conformance --disk "path=$TMP/disk.img" \
	--console "file=$TMP/tern-console.log" --qmp "unix:$TMP/tern.sock" \
	</dev/null >"$TMP/out" 2>"$TMP/err" &
session tern $!
expect_status 0
end

begin "replies, error classes and events have QEMU's structure"
if [ -f "$TMP/qemu.json" ] && [ -f "$TMP/tern.json" ]; then
	if ! python3 "$HELPER" compare "$TMP/qemu.json" "$TMP/tern.json" >"$TMP/helper.out" 2>&1; then
		fail "$(cat "$TMP/helper.out")"
	fi
	cat "$TMP/helper.out"
else
	fail "a session is missing"
fi
end

finish
