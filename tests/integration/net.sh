# SPDX-License-Identifier: MIT
# virtio-net on a real tap, through the real binary: firmware/net-test.elf
# in tern, the host side (tests/integration/net-helper.py) in a network
# namespace of its own where tap0 is the guest's link (10.0.0.1/24) and
# tap1 a forwarding hop with its offloads off, so that what the guest
# sends with TSO or a partial checksum reaches it cut and checksummed by
# the host kernel. Then --net's bad input, vhost, fd=, and a state saved
# and restored with the NIC's filter in it.
#
# Skips (77) unless root (namespaces, taps), /dev/net/tun, ip, ping and
# python3 are there.
. "$(dirname "$0")/lib.sh"
need_kvm
[ "$(id -u)" = 0 ] || skip "network namespaces and taps need root"
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing"
for c in ip ping python3; do
	command -v $c >/dev/null 2>&1 || skip "$c not found (scripts/install-deps.sh --test installs it)"
done
HELPER="$(dirname "$0")/net-helper.py"
NS=tern-net-$$
. "$(dirname "$0")/net-lib.sh"
TUNE="$TMP/tune"

trap 'ns_down; rm -rf "$TMP"' EXIT

# guest NAME CMDLINE NET-OPTIONS HELPER-ARGS...: net-test in tern on tap0,
# the helper's scenario against it; console in $TMP/NAME.log.
guest() {
	local name=$1 cmdline=$2 net=$3
	shift 3
	local con=$TMP/$name.log sock=$TMP/$name.sock
	: >"$con"
	in_ns timeout -k 5 120 "$TERN" run --kernel "$FW/net-test.elf" --test-exit \
		--console "file=$con" --qmp "unix:$sock" --net "$net" \
		--cmdline "ip=10.0.0.2 $cmdline" </dev/null >"$TMP/out" 2>"$TMP/err" &
	local pid=$!
	if ! in_ns timeout -k 5 150 python3 "$HELPER" "$1" "$con" "$sock" "${@:2}" >"$TMP/helper" 2>&1; then
		fail "net-helper $1: $(grep -v '^  ok:' "$TMP/helper" | tail -5)"
		kill "$pid" 2>/dev/null
	fi
	wait "$pid"
	STATUS=$?
	cp "$con" "$TMP/out.console"
	cat "$TMP/helper"
}

begin "split ring, mergeable buffers, MTU 9000: ping, UDP 1..8972 bytes, TSO, partial checksum, filter, set_link"
if ns_up 9000; then
	guest jumbo "" "tap=tap0,mtu=9000" run --max-udp 8972
	expect_status 1
	expect_line out.console '^net-test: mac 52:54:00:12:34:56 mtu 9000, split ring, mergeable buffers, 1 queue pair'
	expect_line out.console '^RESULT: PASS$'
else
	fail "cannot set up the namespace"
fi
end

begin "packed ring, one buffer per frame (mrg=0), MTU 1500, own MAC"
if ns_up 1500; then
	guest packed "ring=packed mrg=0" "tap=tap0,mac=52:54:00:ab:cd:ef" run
	expect_status 1
	expect_line out.console '^net-test: mac 52:54:00:ab:cd:ef mtu 1500, packed ring, one buffer per frame'
	expect_line out.console '^RESULT: PASS$'
fi
end

begin "queues=4 on a multi-queue tap, MSI-X: 64 flows spread over more than one receive queue"
if ns_up 1500 multi_queue; then
	guest mq "queues=4 msix=1" "tap=tap0,queues=4" run --max-udp 300 --flows 64
	expect_status 1
	expect_line out.console '^net-test: .* 4 queue pair\(s\)'
	expect_line out.console '^RESULT: PASS$'
	busy=$(grep '^net-test: rx frames per queue:' "$TMP/out.console" | tr ' ' '\n' | grep -c '^[1-9]')
	grep "per queue" "$TMP/out.console"
	if [ "${busy:-0}" -lt 2 ]; then fail "traffic on $busy receive queue(s)"; fi
fi
end

begin "queues=4, a driver without MQ: its control queue is queue 2 (5.1.2), the filter commands are answered"
if ns_up 1500 multi_queue; then
	guest nomq "" "tap=tap0,queues=4" run --max-udp 300
	expect_status 1
	expect_line out.console '^net-test: .* 1 queue pair'
	expect_line out.console '^RESULT: PASS$'
fi
end

begin "state: the NIC's filter saved and restored into a --paused twin on the same tap; load then save identical"
if ns_up 1500; then
	guest saved "" "tap=tap0" save --path "$TMP/net.snap"
	expect_status 0
	con=$TMP/twin.log
	: >"$con"
	in_ns timeout -k 5 120 "$TERN" run --kernel "$FW/net-test.elf" --test-exit --paused \
		--console "file=$con" --qmp "unix:$TMP/twin.sock" --net tap=tap0 \
		--cmdline "ip=10.0.0.2" </dev/null >"$TMP/out" 2>"$TMP/err" &
	pid=$!
	if ! in_ns timeout -k 5 60 python3 "$HELPER" restore "$con" "$TMP/twin.sock" --path "$TMP/net.snap" >"$TMP/helper" 2>&1; then
		fail "restore: $(tail -3 "$TMP/helper")"
		kill "$pid" 2>/dev/null
	fi
	wait "$pid"
	STATUS=$?
	cat "$TMP/helper"
	cp "$con" "$TMP/out.console"
	expect_status 1
	expect_line out.console '^RESULT: PASS$'
fi
end

begin "--net fd=N: a tap a launcher opened and handed over"
if ns_up 1500; then
	: >"$TMP/fd.log"
	in_ns timeout -k 5 60 python3 "$HELPER" fd "$TERN" run --kernel "$FW/net-test.elf" --test-exit \
		--console "file=$TMP/fd.log" --net fd=FD --cmdline "ip=10.0.0.2 timeout=30" \
		</dev/null >"$TMP/out" 2>"$TMP/err" &
	pid=$!
	for _ in $(seq 100); do grep -q 'net-test: ready' "$TMP/fd.log" 2>/dev/null && break; sleep 0.1; done
	if ! in_ns ping -c 2 -W 2 10.0.0.2 >/dev/null; then fail "no ping answer through the handed-over fd"; fi
	# A launcher's tap left as made has no send limit: the pair moves its
	# frames through an io_uring (docs/devices.md), as on tern's own taps.
	rings=0
	for t in $(pgrep -x tern); do
		grep -qa "$TMP/fd.log" "/proc/$t/cmdline" 2>/dev/null || continue
		rings=$(find "/proc/$t/fd" -lname 'anon_inode:\[io_uring\]' 2>/dev/null | wc -l)
	done
	echo "  tern holds $rings io_uring fd(s)"
	[ "$rings" -ge 1 ] || fail "no io_uring in tern for the queue pair: one system call per frame"
	in_ns python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"quit", ("10.0.0.2", 9))'
	wait "$pid"
	STATUS=$?
	cp "$TMP/fd.log" "$TMP/out.console"
	expect_status 1
	expect_line out.console '^RESULT: PASS$'
fi
end

# ---- bad input: exit 2 naming --net ----

bad() { # WHAT EXPECTED-STDERR NET-SPEC [RUNNER...]
	local what=$1 msg=$2 spec=$3
	shift 3
	begin "--net $what: exit 2 naming the option"
	"$@" timeout -k 5 20 "$TERN" run --net "$spec" </dev/null >"$TMP/out" 2>"$TMP/err"
	STATUS=$?
	expect_status 2
	expect_line err "$msg"
	end
}
bad "queues=0" "--net 'tap=x,queues=0': queues='0': expected a decimal number of queue pairs from 1 to 16" "tap=x,queues=0"
bad "a bad MAC" "--net 'tap=x,mac=52:54:00:zz:00:01': mac=.*expected a unicast MAC" "tap=x,mac=52:54:00:zz:00:01"
bad "a multicast MAC" "expected a unicast MAC address" "tap=x,mac=01:00:5e:00:00:01"
bad "without a tap" "expected exactly one of tap=NAME and fd=N" "mtu=1500"
begin "--net fd= of a file that is not a tap: exit 2 naming the option"
timeout -k 5 20 "$TERN" run --net fd=5 5</dev/null </dev/null >"$TMP/out" 2>"$TMP/err"
STATUS=$?
expect_status 2
expect_line err "--net 'fd=5': fd 5 is not a tap"
end
if ns_up 1500; then
	bad "queues=2 on a tap made without multi_queue" \
		"--net 'tap=tap0,queues=2': tap 'tap0': an interface of that name exists but is not a multi-queue tap" \
		"tap=tap0,queues=2" in_ns
	bad "a new tap without CAP_NET_ADMIN" \
		"--net 'tap=tern-nocap0': tap 'tern-nocap0': no permission to create or attach it" \
		"tap=tern-nocap0" in_ns setpriv --inh-caps=-net_admin --bounding-set=-net_admin
fi

if [ -e /dev/vhost-net ]; then
	skip_case "--net vhost=on without /dev/vhost-net" "this host has /dev/vhost-net"
	skip_case "--net vhost=auto falls back" "this host has /dev/vhost-net"
else
	if ns_up 1500; then
		bad "vhost=on without /dev/vhost-net" \
			"--net 'tap=tap0,vhost=on': vhost=on: cannot use /dev/vhost-net: this host has none" \
			"tap=tap0,vhost=on" in_ns
		begin "--net vhost=auto without /dev/vhost-net: one log line, tern's own data path"
		guest auto "" "tap=tap0,vhost=auto" run --max-udp 100
		expect_status 1
		expect_line out.console '^RESULT: PASS$'
		if [ "$(grep -c 'vhost=auto: /dev/vhost-net is not usable' "$TMP/err")" != 1 ]; then
			fail "not exactly one vhost=auto line: $(cat "$TMP/err")"
		fi
		end
	fi
fi

finish
