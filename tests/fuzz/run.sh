#!/bin/bash
# SPDX-License-Identifier: MIT
# Run one libFuzzer target: every input of its checked-in seed corpus and of
# what earlier runs found, then new inputs for SECONDS.
#
#   run.sh BINARY SEEDS WORKDIR SECONDS [libFuzzer flags...]
#
# New inputs go to WORKDIR/corpus (never into the source tree's SEEDS), a
# crashing input to WORKDIR/artifacts/. Exits non-zero on a crash, a leak,
# a UBSan report or a time-out, so a regression on a known input fails the
# test suite. The last lines say how many inputs ran and the edges covered.
set -uo pipefail
if [ $# -lt 4 ]; then
	echo "usage: $0 BINARY SEEDS WORKDIR SECONDS [libFuzzer flags...]" >&2
	exit 2
fi
bin=$1 seeds=$2 work=$3 seconds=$4
shift 4
mkdir -p "$work/corpus" "$work/artifacts" || exit 1
log="$work/last-run.log"

# Sanitizer reports stop the run; leaks are reported per input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

"$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" \
	"$work/corpus" "$seeds" >"$log" 2>&1
status=$?
if [ $status -ne 0 ]; then
	tail -n 60 "$log"
	echo "$(basename "$bin"): FAILED (exit $status); the input is in $work/artifacts/"
	exit 1
fi
# "#123456 DONE cov: 789 ft: ..." and the final stats.
grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1
grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log"
exit 0
