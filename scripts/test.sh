#!/bin/bash
# SPDX-License-Identifier: MIT
# Install, build with -Werror and run every test suite (unit, integration),
# then the same suites again on an AddressSanitizer + UBSan build, so a read
# outside a buffer or a leak fails the run instead of passing by luck, then
# every libFuzzer target on its seed corpus for a few seconds (a clang
# build, tests/fuzz; scripts/fuzz.sh runs them long).
# Ends with one line "N passed, N failed, N skipped" over the three runs.
# Arguments name tests; fuzz-* names go to the fuzz run, which runs whole
# when there are none (TERN_SKIP_FUZZ=1 leaves it out).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test || exit 1

# setup DIR ARGS...: configure (or reconfigure) a build directory.
setup() {
	local dir=$1
	shift
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}

build=${TERN_BUILD_DIR:-build-test}
asan=${TERN_ASAN_BUILD_DIR:-build-test-asan}
fuzz=${TERN_FUZZ_BUILD_DIR:-build-test-fuzz}
status=0 run_main=0 run_fuzz=0
tests=() fuzz_tests=()
for t in "$@"; do
	case $t in
	fuzz-*) fuzz_tests+=("$t") ;;
	*) tests+=("$t") ;;
	esac
done
if [ $# -eq 0 ] || [ ${#tests[@]} -gt 0 ]; then
	run_main=1
	setup "$build" -Dwerror_ci=true -Dtests=enabled && meson compile -C "$build" || exit 1
	meson test -C "$build" --print-errorlogs --num-processes 2 "${tests[@]}" || status=1
	if [ "${TERN_SKIP_ASAN:-0}" != 1 ]; then
		setup "$asan" -Dwerror_ci=true -Dtests=enabled -Db_sanitize=address,undefined \
			-Db_lundef=false && meson compile -C "$asan" || exit 1
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			meson test -C "$asan" --print-errorlogs --num-processes 2 "${tests[@]}" || status=1
	fi
fi
if [ "${TERN_SKIP_FUZZ:-0}" != 1 ] && { [ $# -eq 0 ] || [ ${#fuzz_tests[@]} -gt 0 ]; }; then
	# Only the fuzz targets and their instrumented core get built here.
	run_fuzz=1
	CC=clang setup "$fuzz" -Dfuzz=enabled -Dtests=disabled || exit 1
	meson test -C "$fuzz" --print-errorlogs --num-processes 2 --suite fuzz \
		"${fuzz_tests[@]}" || status=1
fi

python3 - "$build/meson-logs/testlog.json" "$asan/meson-logs/testlog.json" "${TERN_SKIP_ASAN:-0}" \
	"$fuzz/meson-logs/testlog.json" "$run_main" "$run_fuzz" <<'PY'
import json, os, sys
counts = {}
logs = []
failed = []
if sys.argv[5] == "1":
    logs.append((sys.argv[1], ""))
    if sys.argv[3] != "1":
        logs.append((sys.argv[2], "asan: "))
if sys.argv[6] == "1":
    logs.append((sys.argv[4], "fuzz: "))
for path, tag in logs:
    if not os.path.exists(path):
        continue
    for line in open(path):
        r = json.loads(line)
        counts[r['result']] = counts.get(r['result'], 0) + 1
        if r['result'] not in ('OK', 'SKIP'):
            failed.append((tag, r))
        skips = [l for l in r.get('stdout', '').splitlines() if l.startswith('SKIP')]
        if r['result'] == 'SKIP':
            print(f"skipped: {tag}{r['name']}: {skips[-1] if skips else '(no reason printed)'}")
        else:
            # Cases a passing test could not run here: shown, not hidden.
            for l in skips:
                print(f"skipped inside {tag}{r['name']}: {l}")
# Failures last, with the end of what each printed, so the tail of a CI
# log names the test that failed and why.
for tag, r in failed:
    print(f"FAILED: {tag}{r['name']} ({r['result']}, {r.get('duration', 0):.0f} s); its last lines:")
    out = (r.get('stdout') or '').splitlines() + (r.get('stderr') or '').splitlines()
    for l in out[-40:]:
        print(f"  | {l}")
ok = counts.get('OK', 0)
bad = sum(v for k, v in counts.items() if k not in ('OK', 'SKIP'))
print(f"{ok} passed, {bad} failed, {counts.get('SKIP', 0)} skipped")
PY
exit $status
