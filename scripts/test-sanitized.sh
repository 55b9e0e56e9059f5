#!/usr/bin/env bash
# The suite again, built by clang with AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer (the `sanitize`
# preset, build/sanitize), and every fuzz target for a bounded time. Passes only when every test passes and no
# process (test or binary a test started) wrote a sanitizer report. The test command runs it as the test
# `sanitized.suite` (tests/sanitize), alongside the cluster tests; arguments go to ctest (e.g. -R, -L fuzz).
# AZWI_FUZZ_SECONDS (default 15) sets each fuzz target's run.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build/sanitize
if [ ! -f "$dir/build.ninja" ]; then
  cmake --preset sanitize >/dev/null
fi
if [ -n "${AZWI_FUZZ_SECONDS:-}" ]; then
  cmake -S . -B "$dir" -DAZWI_FUZZ_SECONDS="$AZWI_FUZZ_SECONDS" >/dev/null
fi
cmake --build "$dir" -- -j"$(nproc)"
if [ "${1:-}" = "--build-only" ]; then
  exit 0
fi

# Reports go to files, not to the stderr a test may swallow: a leak at the exit of a binary an integration test
# started counts as much as one in a unit test. Tests run commands as other users, hence the sticky world-writable
# directory.
reports=$dir/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"
chmod 1777 "$reports"
# The symbolizer named, not searched for: on a fresh machine without it (clang-14 only recommends llvm-14) four
# processes left report files holding nothing but "invalid path to external symbolizer", failing the suite.
symbolizer=$(command -v llvm-symbolizer-14) ||
  { echo "test-sanitized: llvm-symbolizer-14 is missing (scripts/install-deps.sh installs llvm-14)" >&2; exit 3; }
export ASAN_SYMBOLIZER_PATH=$symbolizer
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:log_path=$PWD/$reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$PWD/$reports/ubsan"
export LSAN_OPTIONS="log_path=$PWD/$reports/lsan"
rm -rf "$dir/tests/fuzz/runs"

status=0
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 300 "$@" || status=$?

# Executions and coverage of each fuzz target.
cat "$dir"/tests/fuzz/runs/*/summary 2>/dev/null || true
if compgen -G "$reports/*" >/dev/null; then
  echo "sanitizer reports:" >&2
  for f in "$reports"/*; do
    echo "== $f" >&2
    head -80 "$f" >&2
  done
  status=1
fi
exit "$status"
