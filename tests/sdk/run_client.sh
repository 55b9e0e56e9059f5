#!/usr/bin/env bash
# One ctest entry per SDK client: runs that client's cases of sdk_clients_test (one pod each) side by side, since
# they mostly wait (the SDKs' retry back-off, interpreters starting), and reports each case's outcome.
# Usage: run_client.sh SDK_CLIENTS_TEST CLIENT   (CLIENT: a name from clients_test.cpp's clients(), e.g. go_adal_msi)
set -uo pipefail
bin=${1:?usage: run_client.sh SDK_CLIENTS_TEST CLIENT}
client=${2:?usage: run_client.sh SDK_CLIENTS_TEST CLIENT}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# --gtest_list_tests prints "Matrix/SdkClient." then "  Case/<client>_<case>  # GetParam() = ...".
mapfile -t cases < <("$bin" --gtest_list_tests --gtest_filter="Matrix/*" |
  sed -n "s/^  Case\/\(${client}_[A-Za-z]*\)\( .*\)\{0,1\}$/\1/p" |
  while read -r name; do [ "${name%_*}" = "$client" ] && echo "$name"; done)
[ ${#cases[@]} -gt 0 ] || { echo "no cases for client $client in $bin"; exit 1; }
# A language's first setup installs (the others wait on its lock), hence the generous bound.
pids=()
for name in "${cases[@]}"; do
  { timeout 550 "$bin" --gtest_filter="Matrix/SdkClient.Case/$name" >"$logs/$name.log" 2>&1; echo $? >"$logs/$name.rc"; } &
  pids+=($!)
done
wait "${pids[@]}" 2>/dev/null
passed=0 failed=0 skipped=0
for name in "${cases[@]}"; do
  rc=$(cat "$logs/$name.rc" 2>/dev/null || echo 1)
  if [ "$rc" = 0 ] && grep -q '\[  SKIPPED \]' "$logs/$name.log"; then
    skipped=$((skipped + 1)); echo "SKIPPED $name: $(grep -m1 'skipped' "$logs/$name.log")"
  elif [ "$rc" = 0 ]; then
    passed=$((passed + 1)); echo "PASSED  $name"
  else
    failed=$((failed + 1)); echo "FAILED  $name"; sed 's/^/    /' "$logs/$name.log"
  fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] || exit 1
[ "$passed" -gt 0 ] || exit 77
