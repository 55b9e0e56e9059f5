#!/usr/bin/env bash
# One bounded libFuzzer run: fuzz_report.sh FUZZER CORPUS WORK_DIR SECONDS
# New inputs go to WORK_DIR/corpus (the committed CORPUS is only read; `-merge=1` of WORK_DIR/corpus into it keeps
# what is worth keeping); a crash leaves its input in WORK_DIR and fails the test. Prints one summary line:
# executions, coverage (edges), features and corpus size, which scripts/test-sanitized.sh collects.
set -euo pipefail
fuzzer=$1 corpus=$2 work=$3 seconds=$4
name=$(basename "$fuzzer")
mkdir -p "$work/corpus"
log=$work/fuzz.log
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" "$corpus" >"$log" 2>&1 || status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
summary="fuzz-summary: $name executions=${runs:-0} seconds=$seconds cov=${cov:-0} ft=${ft:-0} corpus=${corp:-?} exit=$status"
echo "$summary" | tee "$work/summary"
if ((status != 0)); then
  tail -60 "$log"
  exit 1
fi
