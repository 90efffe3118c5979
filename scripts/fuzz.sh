#!/bin/bash
# SPDX-License-Identifier: MIT
# Run one libFuzzer target long (docs/security.md, "Fuzzing"):
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]
#   scripts/fuzz.sh list
#
# Builds build-fuzz (clang, -Dfuzz=enabled) if needed, then runs the target
# at nice 10 on its seed corpus plus what earlier long runs found (kept in
# build-fuzz/fuzz-long/TARGET/corpus), with the same flags CI gives it
# (max_len, dictionary). A crashing input lands in
# build-fuzz/fuzz-long/TARGET/artifacts/; reproduce it with
#   build-fuzz/tests/fuzz/fuzz-TARGET FILE
# Extra flags go to libFuzzer, e.g. -runs=10000000 instead of a time limit
# (SECONDS then bounds it), or -seed=N. An input may take 300 s here, not
# CI's 25: libFuzzer counts wall time, and a long run at nice 19 on a busy
# host can wait that long for a CPU (-timeout=N after it overrides).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${TERN_FUZZ_BUILD_DIR:-build-fuzz}

if [ ! -d "$build" ]; then
	CC=clang meson setup "$build" -Dfuzz=enabled -Dtests=disabled >/dev/null || exit 1
fi
# Each target's flags, as its CI test is declared in tests/fuzz/meson.build.
targets=$(meson introspect --tests "$build" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if any(s.split(":")[-1] == "fuzz" for s in t["suite"]):
        # run.sh BINARY SEEDS WORKDIR SECONDS FLAGS...
        print(t["name"][len("fuzz-"):], " ".join(t["cmd"][6:]))
')
if [ $# -lt 1 ] || [ "$1" = list ] || [ $# -lt 2 ]; then
	echo "usage: $0 TARGET SECONDS [libFuzzer flags...]; targets:" >&2
	echo "$targets" | cut -d' ' -f1 | sed 's/^/  /' >&2
	[ "${1:-}" = list ]
	exit $?
fi
target=$1 seconds=$2
shift 2
flags=$(echo "$targets" | awk -v t="$target" '$1 == t { $1 = ""; print }')
if ! echo "$targets" | cut -d' ' -f1 | grep -qx "$target"; then
	echo "$0: no fuzz target '$target' (scripts/fuzz.sh list)" >&2
	exit 2
fi
meson compile -C "$build" "tests/fuzz/fuzz-$target" >/dev/null || exit 1

work="$build/fuzz-long/$target"
TIMEFORMAT="fuzz-$target: %R s elapsed, %U s user + %S s system CPU"
# shellcheck disable=SC2086 # flags are words
time nice -n 10 bash tests/fuzz/run.sh "$build/tests/fuzz/fuzz-$target" \
	"tests/fuzz/corpus/$target" "$work" "$seconds" $flags -timeout=300 "$@"
