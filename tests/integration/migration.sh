# SPDX-License-Identifier: MIT
# Live migration and snapshots through the real binary (docs/migration.md):
# pre-copy and post-copy of the counter and mig-test guests over unix:,
# tcp: on loopback and between two network namespaces joined by a veth
# pair; a virtio-blk disk with I/O in flight; snapshots; the failures (a
# link cut in pre-copy and in post-copy, a corrupted stream, a cancel,
# another machine, a dropped veth); tern migrate; and the same QMP session
# against QEMU (shapes of every reply and event).
. "$(dirname "$0")/lib.sh"
need_kvm
HELPER="$(dirname "$0")/migration-helper.py"
command -v python3 >/dev/null || skip "python3 is not installed (scripts/install-deps.sh --test installs it)"

# case NAME SCENARIO ARGS...: one helper scenario as one case.
case_() {
	local name=$1
	shift
	begin "$name"
	timeout -k 5 240 python3 "$HELPER" "$1" "$TERN" "$FW" "$TMP" "${@:2}" >"$TMP/helper.out" 2>&1
	local rc=$?
	cat "$TMP/helper.out"
	if [ $rc = 77 ]; then
		CASES=$((CASES - 1))
		skip_case "$name" "$(grep '^SKIP' "$TMP/helper.out" | head -1)"
		return
	fi
	[ $rc = 0 ] || fail "$(grep -E '^FAIL' "$TMP/helper.out" | head -1)"
	end
}

have_userfaultfd() {
	[ -e /dev/userfaultfd ] || [ "$(id -u)" = 0 ] ||
		[ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null)" = 1 ]
}

case_ "pre-copy of counter over unix: states, events, the count goes on" basic
case_ "pre-copy of counter between two netns joined by a veth" basic netns precopy
for t in unix tcp netns; do
	case_ "pre-copy of mig-test over $t: every page's generation verified after the switch" migtest precopy $t
done
if have_userfaultfd; then
	case_ "post-copy of counter between two netns joined by a veth" basic netns postcopy
	case_ "post-copy of mig-test over tcp: every page verified, faults served" migtest postcopy tcp
	# After a pass: the pages of the frame being built when post-copy
	# interrupts the second pass must go (once, they were left stale).
	case_ "post-copy after the first pass over netns: no page stale" migtest postcopy-late netns
	case_ "post-copy: link cut, both postcopy-paused, migrate-recover + resume, no page lost" break-postcopy
	case_ "post-copy of a virtio-blk disk with I/O in flight: every block verified" disk postcopy
	case_ "post-copy from the start to a destination that populated its RAM while waiting: every page verified" warm postcopy
else
	skip_case "post-copy" "no userfaultfd for this user (root, or vm.unprivileged_userfaultfd=1)"
fi
case_ "pre-copy to a destination that populated its RAM while waiting: every page verified" warm precopy
case_ "pre-copy of a virtio-blk disk with I/O in flight: every block verified" disk precopy
case_ "pause-before-switchover: pre-switchover until migrate-continue, then device, completed" switchover
case_ "auto-converge: a guest dirtying faster than the link is throttled until it fits" autoconverge
case_ "snapshot: migrate file: of a running guest, --incoming file: goes on verifying" snapshot
case_ "failure: link cut in pre-copy: the source runs on, the destination exits non-zero" break-precopy
case_ "failure: a corrupted stream is refused, the source runs on" corrupt
case_ "failure: migrate_cancel: the source runs on" cancel
case_ "failure: another machine (--memory) is refused, both sides say why" wrong-machine
case_ "failure: the veth drops in pre-copy: noticed, the source runs on" veth-drop
case_ "tern migrate: progress, exit 0 when completed, 1 when refused, 2 for bad usage" client
case_ "QMP conformance: the same migration session against QEMU 7.2 -M microvm and tern" conformance

finish
