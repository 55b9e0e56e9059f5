#!/usr/bin/env bash
# Makes real helm (3.17) and kubectl (1.31) available to tests/deploy (strict lint, helm template of every value
# combination, the manifest drift check, offline decoding by kubectl): scripts/kube-tools.sh fetches them once
# into its cache. When they cannot be fetched the tests that need them are skipped (exit 77) with the reason, so
# this only warns.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rc=0
"$root/scripts/kube-tools.sh" install >/dev/null || rc=$?
if [ "$rc" -eq 3 ]; then
  echo "tests/deploy/setup.sh: WARNING: helm and kubectl cannot be fetched (above); the tests that need them will be skipped" >&2
elif [ "$rc" -ne 0 ]; then
  echo "tests/deploy/setup.sh: WARNING: scripts/kube-tools.sh failed (exit $rc); the tests that need helm and kubectl will fail" >&2
fi
exit 0
