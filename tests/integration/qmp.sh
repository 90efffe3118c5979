# SPDX-License-Identifier: MIT
# QMP against a running tern: the counter guest prints "counter: K" every
# ~50 ms, so stop/cont/system_reset show on its console; qmp-helper.py does
# what needs several connections or raw bytes.
. "$(dirname "$0")/lib.sh"
need_kvm
HELPER="$(dirname "$0")/qmp-helper.py"
command -v python3 >/dev/null || skip "python3 is not installed (scripts/install-deps.sh --test installs it)"
[ -f "$FW/counter.elf" ] || skip "$FW/counter.elf is missing: build the firmware first"

stop_vm() {
	kill "$VM_PID" 2>/dev/null
	wait "$VM_PID" 2>/dev/null
}

# q ARGS... : tern qmp $SOCK ARGS..., output in $TMP/q.out, status in $QS.
q() {
	timeout -k 2 20 "$TERN" qmp "$SOCK" "$@" </dev/null >"$TMP/q.out" 2>"$TMP/q.err"
	QS=$?
}

q_ok() {
	q "$@"
	if [ "$QS" != 0 ]; then fail "tern qmp $*: status $QS: $(cat "$TMP/q.out" "$TMP/q.err")"; fi
}

expect_q() {
	if ! grep -Eq -- "$1" "$TMP/q.out"; then fail "tern qmp output lacks '$1': $(cat "$TMP/q.out")"; fi
}

count() {
	grep -c '^counter: [0-9]' "$CON"
}

# wait_count N : until the counter printed N lines (10 s at most).
wait_count() {
	for _ in $(seq 200); do
		[ "$(count)" -ge "$1" ] && return 0
		sleep 0.05
	done
	fail "the counter did not reach $1 lines (at $(count))"
	return 1
}

helper() {
	if ! timeout -k 5 60 python3 "$HELPER" "$@" >"$TMP/helper.out" 2>&1; then
		fail "qmp-helper.py $1: $(cat "$TMP/helper.out")"
	fi
	cat "$TMP/helper.out"
}

begin "query-status through tern qmp; socket mode 0600"
if start_vm a --kernel "$FW/counter.elf" --name vm-a; then
	q_ok query-status
	expect_q '"status": "running"'
	expect_q '"running": true'
	q_ok query-name
	expect_q '"name": "vm-a"'
	q_ok query-cpus-fast
	expect_q '"cpu-index": 0'
	expect_q '"thread-id": [1-9]'
	q_ok query-block
	expect_q '"return": \[\]'
	mode=$(stat -c %a "$SOCK")
	[ "$mode" = 600 ] || fail "socket mode $mode, expected 600"
	q_ok quit
	wait_vm
	expect_status 0
	[ ! -e "$SOCK" ] || fail "the socket is left behind"
fi
end

begin "query-block lists each --disk as QEMU's BlockInfo for a raw file"
truncate -s 16M "$TMP/d0.img"
truncate -s 8M "$TMP/d1.img"
if start_vm blk --kernel "$FW/counter.elf" --disk "path=$TMP/d0.img" \
	--disk "path=$TMP/d1.img,readonly=on,cache=none"; then
	q_ok query-block
	expect_q '"device": "disk0"'
	expect_q '"device": "disk1"'
	expect_q "\"file\": \"$TMP/d0.img\""
	expect_q '"virtual-size": 16777216'
	expect_q '"virtual-size": 8388608'
	expect_q '"ro": true'
	expect_q '"direct": true'
	q_ok quit
	wait_vm
	expect_status 0
fi
end

begin "stop stops the guest, cont resumes it"
if start_vm b --kernel "$FW/counter.elf"; then
	wait_count 3
	q_ok stop
	n1=$(count)
	sleep 1
	n2=$(count)
	[ "$n1" = "$n2" ] || fail "the counter went on while stopped ($n1 -> $n2 lines)"
	q_ok query-status
	expect_q '"status": "paused"'
	q_ok cont
	wait_count $((n2 + 5))
	q_ok query-status
	expect_q '"status": "running"'
	q_ok quit
	wait_vm
	expect_status 0
fi
end

begin "system_reset restarts the guest"
if start_vm c --kernel "$FW/counter.elf"; then
	wait_count 5
	q_ok system_reset
	for _ in $(seq 100); do
		[ "$(grep -c '^counter: 0$' "$CON")" -ge 2 ] && break
		sleep 0.1
	done
	# The reset may cut a line mid-way: the new banner then follows the
	# old line's first half on the same line, so count banners, not lines.
	[ "$(grep -o 'counter: tsc' "$CON" | wc -l)" = 2 ] || fail "no second banner after system_reset"
	[ "$(grep -c '^counter: 0$' "$CON")" -ge 2 ] || fail "the counter did not start again from 0"
	q_ok quit
	wait_vm
	expect_status 0
fi
end

begin "events arrive on every connected client; quit ends tern with status 0"
if start_vm d --kernel "$FW/counter.elf"; then
	helper multi "$SOCK"
	wait_vm
	expect_status 0
fi
end

begin "malformed input, stuck and vanishing clients do not hurt the VM"
if start_vm e --kernel "$FW/counter.elf"; then
	wait_count 2
	helper malformed "$SOCK"
	n1=$(count)
	wait_count $((n1 + 5))
	q_ok quit
	wait_vm
	expect_status 0
	grep -Eq 'qmp: client [0-9]+: JSON message exceeds 1048576 bytes' "$VMERR" ||
		fail "no warning about the endless message: $(cat "$VMERR")"
fi
end

begin "hostile clients: memory is bounded while they stay and given back when they go"
if start_vm mem --kernel "$FW/counter.elf"; then
	# VM_PID is timeout's; tern is its child.
	tern_pid=$(cat "/proc/$VM_PID/task/$VM_PID/children" 2>/dev/null)
	if [ -n "$tern_pid" ]; then
		helper memory "$SOCK" "$tern_pid"
	else
		fail "cannot find tern's process under $VM_PID"
	fi
	q_ok quit
	wait_vm
	expect_status 0
fi
end

begin "a connection storm past the client cap: a few warnings, then how many were suppressed"
if start_vm storm --kernel "$FW/counter.elf"; then
	helper storm "$SOCK" 2000
	q_ok quit
	wait_vm
	expect_status 0
	n=$(grep -c 'qmp: refusing a connection' "$VMERR")
	# One burst per 5 s interval; the storm takes a second or two.
	[ "$n" -le 30 ] || fail "$n warnings for 2000 refused connections"
	grep -Eq 'similar lines (before it )?suppressed' "$VMERR" ||
		fail "no line says how many warnings were suppressed: $(tail -3 "$VMERR")"
fi
end

begin "--paused: prelaunch until cont, then the guest's reset sends SHUTDOWN"
if start_vm f --paused; then
	sleep 0.5
	grep -q 'tern hello' "$CON" && fail "the guest ran before cont"
	helper paused-guest "$SOCK"
	wait_vm
	expect_status 0
	grep -q '^tern hello' "$CON" || fail "the guest did not run after cont"
fi
end

begin "two --qmp sockets serve the same VM"
if start_vm g --kernel "$FW/counter.elf" --qmp "unix:$TMP/g2.sock"; then
	mode=$(stat -c %a "$TMP/g2.sock")
	[ "$mode" = 600 ] || fail "second socket mode $mode"
	q_ok stop
	SOCK=$TMP/g2.sock q_ok query-status
	expect_q '"status": "paused"'
	SOCK=$TMP/g2.sock q_ok quit
	wait_vm
	expect_status 0
	[ ! -e "$TMP/g2.sock" ] && [ ! -e "$TMP/g.sock" ] || fail "sockets left behind"
fi
end

begin "--qmp fd=N: a listening socket passed by a manager"
helper fd "$TERN" --kernel "$FW/counter.elf" --console none
end

begin "an existing socket: stale is replaced, live is refused"
if start_vm h --kernel "$FW/counter.elf"; then
	run_tern 30 run --kernel "$FW/counter.elf" --console none --qmp "unix:$SOCK"
	expect_status 2
	expect_line err "^tern run: --qmp 'unix:$SOCK': another process is listening"
	q_ok query-status
	expect_q '"running": true'
	q_ok quit
	wait_vm
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TMP/stale.sock"
	[ -S "$TMP/stale.sock" ] || fail "could not make a stale socket"
	if start_vm stale --kernel "$FW/counter.elf"; then
		q_ok query-status
		q_ok quit
		wait_vm
		expect_status 0
	fi
fi
end

begin "bad --qmp values exit 2 naming the option"
touch "$TMP/plain-file"
for spec in "tcp:localhost:4444" "unix:" "fd=x" "fd=1" "fd=200" \
	"unix:$TMP/no-such-dir/x.sock" "unix:$TMP/plain-file"; do
	run_tern 30 run --console none --qmp "$spec"
	expect_status 2
	expect_line err "^tern run: --qmp '?$spec"
done
[ -f "$TMP/plain-file" ] || fail "a file in the way was removed"
run_tern 30 run --console none --qmp "unix:$TMP/x.sock" --qmp "unix:$TMP/x.sock"
expect_status 2
expect_line err "given twice"
end

begin "tern qmp: error replies exit 1, arguments, piped commands with events"
if start_vm i --kernel "$FW/counter.elf"; then
	q no-such-command
	[ "$QS" = 1 ] || fail "an error reply gave status $QS"
	expect_q '"class": "CommandNotFound"'
	q query-status '{"verbose": true}'
	[ "$QS" = 1 ] || fail "an unexpected argument gave status $QS"
	expect_q "Parameter 'verbose' is unexpected"
	q query-status 'not json'
	[ "$QS" = 2 ] || fail "malformed arguments gave status $QS"
	timeout 20 "$TERN" qmp "$TMP/missing.sock" query-status >/dev/null 2>&1
	[ "$?" = 2 ] || fail "a missing socket did not give status 2"
	timeout 20 "$TERN" qmp >/dev/null 2>&1
	[ "$?" = 2 ] || fail "no arguments did not give status 2"
	printf 'stop\nquery-status\n{"execute": "cont", "id": "c1"}\nquit\n' |
		timeout 20 "$TERN" qmp "$SOCK" >"$TMP/q.out" 2>"$TMP/q.err"
	[ "$?" = 0 ] || fail "the piped session failed: $(cat "$TMP/q.err")"
	expect_q '"event": "STOP"'
	expect_q '"status": "paused"'
	expect_q '"event": "RESUME"'
	expect_q '"id": "c1"'
	wait_vm
	expect_status 0
fi
end

begin "tern qmp: a server that is not QMP, a hostile reply, an unwritable stdout"
helper client "$TERN"
end

finish
