#!/usr/bin/env bash
# ctest's entry to the real-cluster tests: one cluster (AZWI_CLUSTER_NAME, default azwit, so that a cluster someone
# runs by hand is never touched) for every test file here, made by `run.sh up` and removed by `run.sh down`.
#   run.sh up | down | test FILE.py [pytest args]
# Exit 77 (ctest: skipped) when not root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export AZWI_CLUSTER_NAME=${AZWI_CLUSTER_NAME:-azwit}
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the real-cluster tests need root (network namespace, cgroups, containerd)"
  exit 77
fi
case $1 in
  up)
    "$root/scripts/cluster.sh" down  # a cluster of this name left by an interrupted run
    # The API server's audit log of service account lists and watches: test_service_account_cache reads it.
    state=${AZWI_CLUSTER_STATE:-/var/lib/$AZWI_CLUSTER_NAME-cluster}
    AZWI_CLUSTER_APISERVER_ARGS="--audit-policy-file=$here/audit-policy.yaml --audit-log-path=$state/logs/kube-apiserver-audit.log" \
      "$root/scripts/cluster.sh" up
    ;;
  down) "$root/scripts/cluster.sh" down ;;
  test)
    shift
    file=$1
    shift
    "$root/scripts/cluster.sh" status >/dev/null || { echo "the test cluster is not up (cluster.Up failed?)"; exit 1; }
    exec /usr/bin/python3 -m pytest -v -p no:cacheprovider --rootdir "$here" "$here/$file" "$@"
    ;;
  *) echo "usage: $0 up|down|test FILE.py" >&2; exit 2 ;;
esac
