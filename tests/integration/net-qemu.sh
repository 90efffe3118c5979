# SPDX-License-Identifier: MIT
# firmware/net-test.elf under unmodified QEMU, on the same kind of tap and
# namespace as tests/integration/net.sh, with the same host-side checks
# (net-helper.py run): this proves the guest and the checks right before
# tern is judged by them. q35 with qboot, a modern-only virtio-net-pci on
# `-netdev tap,...,vhost=off` (these machines have no /dev/vhost-net).
#
# Skips (77) without QEMU, qboot.rom, /dev/kvm, root, /dev/net/tun, ip,
# ping or python3.
. "$(dirname "$0")/lib.sh"

QEMU=${QEMU:-qemu-system-x86_64}
QBOOT=/usr/share/qemu/qboot.rom
command -v "$QEMU" >/dev/null 2>&1 || skip "$QEMU not found (Debian: apt-get install qemu-system-x86)"
[ -f "$QBOOT" ] || skip "$QBOOT not found (it comes with qemu-system-x86)"
need_kvm
[ "$(id -u)" = 0 ] || skip "network namespaces and taps need root"
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing"
for c in ip ping python3; do
	command -v $c >/dev/null 2>&1 || skip "$c not found (scripts/install-deps.sh --test installs it)"
done
HELPER="$(dirname "$0")/net-helper.py"
NS=tern-netq-$$

ns_down() {
	ip -n "$NS" link del tap0 2>/dev/null
	ip -n "$NS" link del tap1 2>/dev/null
	ip netns del "$NS" 2>/dev/null
}
trap 'ns_down; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT

ns_up() { # MTU [multi_queue]
	ns_down
	ip netns add "$NS" &&
		ip -n "$NS" link set lo up &&
		ip -n "$NS" tuntap add dev tap0 mode tap ${2:-} &&
		ip -n "$NS" link set tap0 mtu "$1" up &&
		ip -n "$NS" addr add 10.0.0.1/24 dev tap0 &&
		ip -n "$NS" tuntap add dev tap1 mode tap &&
		ip -n "$NS" link set tap1 up &&
		ip -n "$NS" addr add 10.0.1.1/24 dev tap1 &&
		ip -n "$NS" neigh add 10.0.1.2 lladdr 02:00:00:00:01:02 dev tap1 nud permanent &&
		ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1
}

# qemu_guest NAME CMDLINE NETDEV-EXTRA DEVICE-EXTRA HELPER-ARGS...
qemu_guest() {
	local name=$1 cmdline=$2 ndx=$3 dx=$4
	shift 4
	local con=$TMP/$name.log sock=$TMP/$name.sock
	: >"$con"
	ip netns exec "$NS" timeout -k 5 120 "$QEMU" -accel kvm -cpu host,-cx16,-arch-capabilities \
		-M q35 -bios "$QBOOT" -m 128M -display none -no-reboot -monitor none \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial "file:$con" \
		-qmp "unix:$sock,server=on,wait=off" \
		-netdev "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off$ndx" \
		-device "virtio-net-pci,netdev=n0,id=net0,disable-legacy=on$dx" \
		-kernel "$FW/net-test.elf" -append "ip=10.0.0.2 $cmdline" \
		</dev/null >"$TMP/err" 2>&1 &
	local pid=$!
	if ! ip netns exec "$NS" timeout -k 5 150 python3 "$HELPER" run "$con" "$sock" "$@" \
		>"$TMP/helper" 2>&1; then
		fail "net-helper: $(grep -v '^  ok:' "$TMP/helper" | tail -5)"
		kill "$pid" 2>/dev/null
	fi
	wait "$pid"
	STATUS=$?
	cp "$con" "$TMP/out"
	cat "$TMP/helper"
}

begin "QEMU: split ring, mergeable buffers, MTU 9000: ping, UDP 1..8972 bytes, TSO, partial checksum, filter, set_link"
if ns_up 9000; then
	qemu_guest jumbo "" "" ",host_mtu=9000" --max-udp 8972
	expect_pass
	expect_line out '^net-test: mac 52:54:00:12:34:56 mtu 9000, split ring, mergeable buffers'
else
	fail "cannot set up the namespace"
fi
end

begin "QEMU: packed ring, one buffer per frame (mrg=0)"
if ns_up 1500; then
	qemu_guest packed "ring=packed mrg=0" "" ",packed=on,mrg_rxbuf=off"
	expect_pass
	expect_line out '^net-test: .* packed ring, one buffer per frame'
fi
end

begin "QEMU: four queue pairs on a multi-queue tap, MSI-X: flows over more than one receive queue"
if ns_up 1500 multi_queue; then
	qemu_guest mq "queues=4 msix=1" ",queues=4" ",mq=on,vectors=10" --max-udp 300 --flows 64
	expect_pass
	expect_line out '^net-test: .* 4 queue pair\(s\)'
	grep "per queue" "$TMP/out"
	busy=$(grep '^net-test: rx frames per queue:' "$TMP/out" | tr ' ' '\n' | grep -c '^[1-9]')
	if [ "${busy:-0}" -lt 2 ]; then fail "traffic on $busy receive queue(s)"; fi
fi
end

finish
