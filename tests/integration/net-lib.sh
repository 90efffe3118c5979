# SPDX-License-Identifier: MIT
# The network namespace net.sh and net-qemu.sh run their guests in (source
# it after setting NS): tap0 is the guest's NIC, at 10.0.0.1/24 on the host
# side; tap1 (10.0.1.1/24, a permanent neighbour 10.0.1.2) is where the
# guest's routed frames leave, so a test can capture them.

ns_down() {
	ip -n "$NS" link del tap0 2>/dev/null
	ip -n "$NS" link del tap1 2>/dev/null
	ip netns del "$NS" 2>/dev/null
}

# ns_up MTU [multi_queue]: the namespace with tap0 and tap1, made afresh.
ns_up() {
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

in_ns() {
	ip netns exec "$NS" "$@"
}
