# SPDX-License-Identifier: MIT
# qemu-storage-daemon as a vhost-user-blk back-end, for vhost-user.sh and
# vhost-user-qemu.sh (source it after lib.sh, with QSD set to the binary).

# qsd_cmd SOCK IMAGE QUEUES: the daemon's command line (for a helper that
# restarts it); qsd_start SOCK IMAGE QUEUES: the daemon in the background,
# pid in $TMP/qsd.pid, returning once its socket accepts.
qsd_cmd() {
	echo "$QSD" --blockdev "driver=file,filename=$2,node-name=f" \
		--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$1,writable=on,num-queues=$3"
}
qsd_start() {
	rm -f "$1"
	# Split into words as the helpers get it: $TMP paths have no blanks.
	$(qsd_cmd "$1" "$2" "$3") </dev/null >"$TMP/qsd.log" 2>&1 &
	echo $! >"$TMP/qsd.pid"
	# The socket file appears at bind(), before listen(): connect to know.
	for _ in $(seq 50); do
		if python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	fail "qemu-storage-daemon made no socket: $(cat "$TMP/qsd.log")"
	return 1
}
qsd_stop() {
	if [ -s "$TMP/qsd.pid" ]; then
		kill "$(cat "$TMP/qsd.pid")" 2>/dev/null
		# Ours, so wait for it; one the helper started is not our child.
		wait "$(cat "$TMP/qsd.pid")" 2>/dev/null
		: >"$TMP/qsd.pid"
	fi
}
