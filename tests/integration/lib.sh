# SPDX-License-Identifier: MIT
# Shared helpers for the integration tests. Each test script is run by meson
# as: bash SCRIPT TERN_BINARY FIRMWARE_DIR. Exit 0 pass, 1 fail, 77 skip.
set -u

TERN=${1:?usage: $0 TERN_BINARY FIRMWARE_DIR}
FW=${2:?usage: $0 TERN_BINARY FIRMWARE_DIR}
TMP=$(mktemp -d /tmp/tern-it.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
CASES=0
SKIPS=0

skip() {
	echo "SKIP: $*"
	exit 77
}

need_kvm() {
	if [ ! -e /dev/kvm ]; then skip "/dev/kvm is missing: KVM is not available on this host"; fi
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then skip "/dev/kvm is not read-writable by $(id -un)"; fi
}

# run_tern TIMEOUT ARGS... : runs tern with a time-out, stdout to $TMP/out,
# stderr to $TMP/err, exit status in $STATUS (124 on time-out).
run_tern() {
	local t=$1
	shift
	timeout -k 5 "$t" "$TERN" "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
	STATUS=$?
}

# skip_case NAME REASON: a case that cannot run here, counted and shown.
skip_case() {
	echo "SKIP: $1: $2"
	SKIPS=$((SKIPS + 1))
}

# One failure per case in the count, however many expectations it misses;
# the output is shown once.
fail() {
	echo "FAIL: $CASE: $*"
	if [ "$CASE_OK" = 1 ]; then
		echo "--- stdout"; tail -n 20 "$TMP/out" 2>/dev/null
		echo "--- stderr"; tail -n 20 "$TMP/err" 2>/dev/null
		FAILS=$((FAILS + 1))
	fi
	CASE_OK=0
}

begin() {
	CASE=$1
	CASE_OK=1
	CASES=$((CASES + 1))
}

end() {
	if [ "$CASE_OK" = 1 ]; then echo "PASS: $CASE"; fi
}

expect_status() {
	if [ "$STATUS" != "$1" ]; then fail "exit status $STATUS, expected $1"; fi
}

# expect_out FILE REGEX : a line of FILE (out or err) matches REGEX
expect_line() {
	if ! grep -Eq -- "$2" "$TMP/$1"; then fail "no line in std$1 matches '$2'"; fi
}

expect_no_line() {
	if grep -Eq -- "$2" "$TMP/$1"; then fail "a line in std$1 matches '$2'"; fi
}

# A test guest passed: status 1 (exit port 0) and exactly one RESULT line.
expect_pass() {
	expect_status 1
	expect_line out '^RESULT: PASS$'
	if [ "$(grep -c '^RESULT:' "$TMP/out" 2>/dev/null)" != 1 ]; then fail "not exactly one RESULT line"; fi
}

# new_disk MB: a fresh sparse raw image at $TMP/disk.img.
new_disk() {
	rm -f "$TMP/disk.img"
	truncate -s "${1}M" "$TMP/disk.img"
}

# expect_blk_bench RING: a passing blk-bench run of mode=randread,randwrite,
# randread qd=1,32,128 ios=3000 verify=1 (every BENCH line present), after
# which the image at $TMP/disk.img still holds blk-test's pattern ($CHECK).
expect_blk_bench() {
	expect_pass
	expect_line out "^blk-bench: .*$1 ring.*clock kvmclock, verifying data"
	for m in randread randwrite; do
		for qd in 1 32 128; do
			expect_line out "^BENCH name=$m qd=$qd ios=3000 ns=[0-9]+ iops=[0-9]+\$"
		done
	done
	: >"$TMP/none"
	if ! python3 "$CHECK" "$TMP/disk.img" "$TMP/none" >"$TMP/check" 2>&1; then
		fail "host check: $(cat "$TMP/check")"
	fi
}

# The host-side check of the images the block guests leave.
CHECK=$(dirname "$0")/blk-check.py

# Host features the block tests need; a missing one skips its cases.
have_io_uring() {
	[ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" = 0 ]
}

have_odirect() { # on $TMP's file system
	dd if=/dev/zero of="$TMP/odirect" bs=4096 count=1 oflag=direct status=none 2>/dev/null
}

finish() {
	echo "$((CASES - FAILS)) passed, $FAILS failed, $SKIPS skipped"
	[ "$FAILS" = 0 ] || exit 1
	# Nothing ran but skips: the whole test is a skip for meson.
	[ "$CASES" = 0 ] && [ "$SKIPS" != 0 ] && exit 77
	exit 0
}

# start_vm NAME ARGS... : tern in the background, console in $CON, QMP at
# $SOCK, stderr in $VMERR, its pid (timeout(1)'s) in $VM_PID; waits until
# QMP answers (a stale socket may have been there first). VM_TIMEOUT
# bounds its life (default 120 s); VM_CONSOLE=virtio puts a virtio-console
# on stdout (into $CON) instead of --console file.
start_vm() {
	local name=$1
	shift
	SOCK=$TMP/$name.sock
	CON=$TMP/$name.log
	VMERR=$TMP/$name.err
	: >"$CON"
	if [ "${VM_CONSOLE:-}" = virtio ]; then
		# virtio-console on stdout; the UART prints there too.
		timeout -k 5 "${VM_TIMEOUT:-120}" "$TERN" run --console virtio --qmp "unix:$SOCK" "$@" \
			</dev/null >"$CON" 2>"$VMERR" &
	else
		timeout -k 5 "${VM_TIMEOUT:-120}" "$TERN" run --console "file=$CON" --qmp "unix:$SOCK" "$@" \
			</dev/null >"$TMP/out" 2>"$VMERR" &
	fi
	VM_PID=$!
	for _ in $(seq 100); do
		if [ -S "$SOCK" ] && timeout 5 "$TERN" qmp "$SOCK" query-version >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$VM_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "no QMP socket at $SOCK: $(cat "$VMERR")"
	return 1
}

wait_vm() {
	wait "$VM_PID"
	STATUS=$?
}
