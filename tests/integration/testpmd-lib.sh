# SPDX-License-Identifier: MIT
# DPDK testpmd as a vhost-user-net back-end (the net_vhost driver, server
# side, MACs swapped on every frame), for tests/integration/vhost-user-net.sh
# and scripts/bench/vhost-user.sh. Source it with TESTPMD set to the binary;
# it needs only bash and coreutils, and works under set -e.
#
# --no-huge -m 1024: no hugepages here; the mbufs live in plain memory.
# --stats-period: without -i testpmd otherwise waits for a key on stdin
# and ends at once on /dev/null. It starts in about 5 s on a loaded host.

# tp_cmd SOCK: the back-end's command line (one word per line is not
# needed: no path of ours has blanks). The file prefix keeps two
# instances' runtime files apart. TP_QUEUES (1) queue pairs: the vdev's
# queues= and as many testpmd receive and transmit queues, so that
# macswap answers each frame on the queue pair it came in on.
tp_cmd() {
	local q=${TP_QUEUES:-1}
	echo "$TESTPMD" --no-huge -m 1024 --no-pci --file-prefix="tern-$$-$RANDOM" \
		--vdev "net_vhost0,iface=$1,queues=$q,client=0" -- \
		--forward-mode=macswap --auto-start --total-num-mbufs=8192 --stats-period=60 \
		--rxq="$q" --txq="$q"
}

# tp_start SOCK LOG PIDFILE: testpmd in the background (a stale socket
# file would make its bind() fail), pid in PIDFILE; returns once the
# socket exists (bind and listen are back to back in DPDK), 1 with the
# log on stderr when it does not come within 30 s.
tp_start() {
	rm -f "$1"
	# shellcheck disable=SC2046
	$(tp_cmd "$1") </dev/null >"$2" 2>&1 &
	echo $! >"$3"
	for _ in $(seq 300); do
		if [ -S "$1" ]; then
			sleep 0.2
			return 0
		fi
		kill -0 "$(cat "$3")" 2>/dev/null || break
		sleep 0.1
	done
	echo "testpmd made no socket at $1:" >&2
	tail -n 20 "$2" >&2
	return 1
}

# tp_stop PIDFILE: end the testpmd whose pid is there (ours, or one a
# helper started, which we cannot wait for: poll until it is gone).
tp_stop() {
	local pid
	if [ -s "$1" ]; then
		pid=$(cat "$1")
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		: >"$1"
	fi
}

# tp_cleanup: the runtime files (/var/run/dpdk/PREFIX) of this shell's
# instances, which a killed testpmd leaves behind.
tp_cleanup() {
	rm -rf "${XDG_RUNTIME_DIR:-/var/run}/dpdk/tern-$$-"* 2>/dev/null
	return 0
}
