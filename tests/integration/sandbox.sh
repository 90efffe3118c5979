# SPDX-License-Identifier: MIT
# The sandbox through the real binary (docs/security.md), seen from outside
# in /proc: every thread under a seccomp filter with no capabilities; a
# forbidden call kills tern (on) or is reported and allowed (log), made by
# a preloaded shim (sandbox-violate.c) when QMP input asks for it; the QMP
# features that make system calls after set-up need nothing more (log mode
# reports nothing); --user/--group; --jail's root, namespaces, limits and
# capabilities, with a disk guest passing inside it.
# Run as: sandbox.sh TERN FW_DIR SHIM.so
. "$(dirname "$0")/lib.sh"
SHIM=${3:?usage: $0 TERN FW_DIR SHIM.so}
need_kvm
[ "$(id -u)" = 0 ] || skip "the jail and identity cases need root"

# ASan's leak check at exit reads /proc, which a jail does not have.
ASAN_JAIL=${ASAN_OPTIONS:-}
if ldd "$TERN" 2>/dev/null | grep -q libasan; then
	ASAN_JAIL="${ASAN_OPTIONS:-}:detect_leaks=0"
	echo "note: an ASan build: jailed runs without the leak check (no /proc in a jail)"
fi

# start_vm NAME ARGS...: tern in the background (timeout -> tern), QMP at
# $SOCK, console in $TMP/NAME.out, stderr in $VMERR; $VM_PID is timeout's,
# $TERN_PID tern's. Waits until QMP answers.
start_vm() {
	local name=$1
	shift
	SOCK=${SOCK_DIR:-$TMP}/$name.sock
	VMERR=$TMP/$name.err
	VMOUT=$TMP/$name.out
	timeout -k 5 120 "$TERN" run --qmp "unix:$SOCK" "$@" </dev/null >"$VMOUT" 2>"$VMERR" &
	VM_PID=$!
	for _ in $(seq 100); do
		if [ -S "$SOCK" ] && timeout 5 "$TERN" qmp "$SOCK" query-version >/dev/null 2>&1; then
			TERN_PID=$(cat "/proc/$VM_PID/task/$VM_PID/children" | tr -d ' ')
			return 0
		fi
		kill -0 "$VM_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "no QMP socket at $SOCK: $(cat "$VMERR")"
	return 1
}

qmp() {
	timeout 10 "$TERN" qmp "$SOCK" "$@"
}

stop_vm() {
	qmp quit >/dev/null 2>&1
	wait "$VM_PID"
	STATUS=$?
}

# field PID TID NAME: a line of /proc/PID/task/TID/status, value only.
field() {
	awk -v k="$3:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/task/$2/status"
}

# Every task of PID: its name, seccomp mode, CapEff, NoNewPrivs, Uid, Gid.
threads() {
	local pid=$1 t
	for t in /proc/"$pid"/task/*; do
		t=${t##*/}
		printf '%s seccomp=%s cap=%s nnp=%s uid=%s gid=%s groups=%s\n' \
			"$(cat /proc/"$pid"/task/"$t"/comm)" "$(field "$pid" "$t" Seccomp)" \
			"$(field "$pid" "$t" CapEff)" "$(field "$pid" "$t" NoNewPrivs)" \
			"$(field "$pid" "$t" Uid | tr '\t' ' ')" "$(field "$pid" "$t" Gid | tr '\t' ' ')" \
			"$(field "$pid" "$t" Groups)"
	done
}

# expect_confined PID UIDS: every thread of tern filtered, no capability,
# no_new_privs, running as UIDS ("0 0 0 0" unless --user).
expect_confined() {
	local list=$TMP/threads
	threads "$1" >"$list"
	echo "  threads:"; sed 's/^/    /' "$list"
	# io_uring's and KVM's kernel workers run no user code; their status
	# is the kernel's business.
	grep -Ev '^(iou-|kvm-)' "$list" >"$list.user"
	if grep -v ' seccomp=2 ' "$list.user" | grep -q .; then fail "a thread without a filter: $(grep -v ' seccomp=2 ' "$list.user")"; fi
	if grep -v ' cap=0000000000000000 ' "$list.user" | grep -q .; then fail "a thread with capabilities"; fi
	if grep -v ' nnp=1 ' "$list.user" | grep -q .; then fail "a thread without no_new_privs"; fi
	if grep -v " uid=$2 " "$list.user" | grep -q .; then fail "a thread not running as uid $2"; fi
	if grep -q '^gmain ' "$list"; then fail "glib's helper thread exists"; fi
}

begin "every thread runs under its role's filter, without capabilities (io_uring, threads and aio disks, rng)"
truncate -s 16M "$TMP/d1.img" "$TMP/d2.img"
if have_odirect; then aio="path=$TMP/d3.img,engine=aio"; truncate -s 16M "$TMP/d3.img"; else aio=; fi
if start_vm all --kernel "$FW/counter.elf" --rng --disk "path=$TMP/d1.img" \
	--disk "path=$TMP/d2.img,engine=threads" ${aio:+--disk "$aio"}; then
	expect_confined "$TERN_PID" "0 0 0 0"
	threads "$TERN_PID" >"$TMP/names"
	for want in tern tern-console tern-io-rng tern-io-blk0 tern-io-blk1 tern-blk-worker tern-vcpu0; do
		grep -q "^$want " "$TMP/names" || fail "no thread $want"
	done
	stop_vm
	expect_status 0
fi
end

begin "--sandbox off: no filter, capabilities kept"
if start_vm off --kernel "$FW/counter.elf" --sandbox off; then
	threads "$TERN_PID" >"$TMP/off"
	if grep -q ' seccomp=2 ' "$TMP/off"; then fail "a filter with --sandbox off"; fi
	if grep -q '^tern .*cap=0000000000000000 ' "$TMP/off"; then
		fail "root's capabilities dropped: $(grep '^tern ' "$TMP/off")"
	fi
	stop_vm
fi
end

begin "--sandbox on: a forbidden call (getsid on the main thread) kills tern with SIGSYS"
if LD_PRELOAD=$SHIM ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
	start_vm violate-on --kernel "$FW/counter.elf"; then
	qmp x-sandbox-violate >/dev/null 2>&1
	wait "$VM_PID"
	STATUS=$?
	expect_status 159
	if [ -S "$SOCK" ]; then rm -f "$SOCK"; fi
fi
end

begin "--sandbox log: the same call is reported on stderr and allowed; tern goes on"
if LD_PRELOAD=$SHIM ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
	start_vm violate-log --kernel "$FW/counter.elf" --sandbox log; then
	qmp x-sandbox-violate >/dev/null 2>&1
	qmp query-status >"$TMP/after" 2>&1 || fail "QMP no longer answers: $(cat "$TMP/after")"
	stop_vm
	expect_status 0
	cp "$VMERR" "$TMP/err"
	expect_line err "^tern: sandbox: tern: system call getsid \\(124\\) is outside its role's filter; args .*; allowed by --sandbox log\$"
	grep '^tern: sandbox:' "$TMP/err"
fi
end

begin "--sandbox log: QMP features that make system calls after set-up need nothing more (stop, state save/load, reset, cont, quit)"
truncate -s 16M "$TMP/d4.img"
if start_vm features --kernel "$FW/counter.elf" --sandbox log --rng --disk "path=$TMP/d4.img"; then
	for c in stop "x-tern-state-save path=$TMP/state.bin" "x-tern-state-load path=$TMP/state.bin" \
		system_reset cont query-cpus-fast query-block query-kvm; do
		qmp $c >"$TMP/reply" 2>&1 || fail "$c: $(cat "$TMP/reply")"
	done
	stop_vm
	expect_status 0
	cp "$VMERR" "$TMP/err"
	expect_no_line err '^tern: sandbox:'
fi
end

begin "--user 65534 --group 65534: every thread changes identity; state files are the new user's"
# The new user must reach its socket and state files: $TMP is root's 0700.
chmod o+x "$TMP"
mkdir -m 1777 "$TMP/shared"
truncate -s 16M "$TMP/d5.img"
if SOCK_DIR=$TMP/shared start_vm user --kernel "$FW/counter.elf" --user 65534 --group 65534 \
	--disk "path=$TMP/d5.img"; then
	expect_confined "$TERN_PID" "65534 65534 65534 65534"
	threads "$TERN_PID" >"$TMP/ids"
	if grep -v '^\(iou-\|kvm-\)' "$TMP/ids" | grep -v ' gid=65534 65534 65534 65534 groups=$' | grep -q .; then
		fail "a thread not in group 65534 alone: $(cat "$TMP/ids")"
	fi
	qmp stop >/dev/null
	qmp x-tern-state-save path="$TMP/shared/ok.bin" >"$TMP/reply" 2>&1 || fail "save where nobody may write: $(cat "$TMP/reply")"
	[ "$(stat -c %u "$TMP/shared/ok.bin" 2>/dev/null)" = 65534 ] || fail "the state file is not the new user's"
	if qmp x-tern-state-save path="$TMP/root-only.bin" >"$TMP/reply" 2>&1; then
		fail "saved into a directory only root may write"
	fi
	grep -q 'Permission denied' "$TMP/reply" || fail "no permission error: $(cat "$TMP/reply")"
	stop_vm
	expect_status 0
	[ -e "$SOCK" ] && fail "the QMP socket was not removed at exit"
fi
end

# jail_pid: the jailed tern, child of the parent tern (child of timeout).
jail_pid() {
	local parent
	parent=$(cat "/proc/$VM_PID/task/$VM_PID/children" | tr -d ' ')
	cat "/proc/$parent/task/$parent/children" | tr -d ' '
}

begin "--jail: a new root holding only what tern needs, new mount/PID/IPC/net namespaces, no capabilities, limits"
mkdir "$TMP/jail"
truncate -s 16M "$TMP/j.img"
if ASAN_OPTIONS=$ASAN_JAIL start_vm jail --kernel "$FW/counter.elf" --jail "$TMP/jail" --disk "path=$TMP/j.img"; then
	PARENT=$TERN_PID
	JAILED=$(jail_pid)
	echo "  parent $PARENT, jailed $JAILED"
	[ "$(stat -L -c %d:%i "/proc/$JAILED/root")" = "$(stat -c %d:%i "$TMP/jail")" ] || fail "the root is not $TMP/jail"
	(cd "/proc/$JAILED/root" && find . | sort) >"$TMP/tree"
	echo "  the jail holds: $(tr '\n' ' ' <"$TMP/tree")"
	for p in /dev/kvm /dev/null "$(realpath "$FW/counter.elf")" "$(realpath "$TMP/j.img")"; do
		grep -qx -- ".$p" "$TMP/tree" || fail "$p is not in the jail"
	done
	if grep -q '^\./\(etc\|usr\|proc\|home\|root\)$' "$TMP/tree"; then fail "host directories in the jail"; fi
	for ns in mnt pid ipc net; do
		[ "$(readlink "/proc/$JAILED/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ] || fail "no new $ns namespace"
	done
	grep -q "^NSpid:.*[[:space:]]1\$" "/proc/$JAILED/status" || fail "not PID 1 of its namespace: $(grep NSpid "/proc/$JAILED/status")"
	expect_confined "$JAILED" "0 0 0 0"
	[ "$(field "$PARENT" "$PARENT" CapEff)" = 0000000000000020 ] ||
		fail "the waiting parent keeps more than CAP_KILL: $(field "$PARENT" "$PARENT" CapEff)"
	grep -q '^Max file size .* [0-9]\+ \+[0-9]\+ \+bytes' "/proc/$JAILED/limits" || fail "no RLIMIT_FSIZE"
	grep '^Max file size\|^Max open files' "/proc/$JAILED/limits" | sed 's/^/  /'
	nofile=$(awk '/^Max open files/ {print $4}' "/proc/$JAILED/limits")
	[ "$nofile" -lt 1024 ] || fail "RLIMIT_NOFILE not lowered: $nofile"
	qmp query-cpus-fast >"$TMP/cpus"
	grep -q '"thread-id": [0-9]' "$TMP/cpus" || fail "no thread id: $(cat "$TMP/cpus")"
	qmp stop >/dev/null
	qmp x-tern-state-save path=/state.bin >"$TMP/reply" 2>&1 || fail "save inside the jail: $(cat "$TMP/reply")"
	[ -s "$TMP/jail/state.bin" ] || fail "/state.bin is not DIR/state.bin"
	stop_vm
	expect_status 0
	[ -e "$SOCK" ] && fail "the parent did not remove the QMP socket"
	grep -q '^counter: ' "$VMOUT" || fail "the guest did not run"
fi
end

begin "--jail --user 65534 --group 65534: blk-test passes (io_uring and threads engines)"
for engine in io_uring threads; do
	truncate -s 8M "$TMP/jb.img"
	ASAN_OPTIONS=$ASAN_JAIL run_tern 120 run --kernel "$FW/blk-test.elf" --test-exit --jail "$TMP/jail" \
		--user 65534 --group 65534 --cmdline "queues=1" --disk "path=$TMP/jb.img,engine=$engine"
	expect_pass
	expect_line out '^blk-test: flush OK$'
done
end

begin "--jail: SIGTERM to the parent ends the jailed VM with status 0"
if ASAN_OPTIONS=$ASAN_JAIL start_vm jail-term --kernel "$FW/counter.elf" --jail "$TMP/jail"; then
	JAILED=$(jail_pid)
	kill -TERM "$TERN_PID"
	wait "$VM_PID"
	STATUS=$?
	expect_status 0
	kill -0 "$JAILED" 2>/dev/null && fail "the jailed tern survived"
	[ -e "$SOCK" ] && fail "the QMP socket was left behind"
fi
end

begin "--jail refuses what it cannot use: exit 2 naming the option"
run_tern 30 run --jail "$TMP/nope"
expect_status 2
expect_line err "^tern run: --jail '$TMP/nope': No such file or directory\$"
: >"$TMP/plain"
run_tern 30 run --jail "$TMP/plain"
expect_status 2
expect_line err "^tern run: --jail '$TMP/plain': expected a directory other than /\$"
run_tern 30 run --jail /
expect_status 2
expect_line err "^tern run: --jail '/': expected a directory other than /\$"
run_tern 30 run --jail relative/dir
expect_status 2
expect_line err "^tern run: --jail 'relative/dir': expected an absolute directory path\$"
end

finish
