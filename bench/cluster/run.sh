#!/usr/bin/env bash
# What users feel, measured on a real single-node cluster (scripts/cluster.sh) of its own, each figure next to a
# reference from the same run: kubectl apply to the app's first token with the sidecar injected vs the same pod
# without it; the sidecar's working set for the first and the Nth pod vs the app's and the pause container's; the
# API server's admission-webhook latency during a burst of pod creations vs its own POST pods latency.
# Usage: bench/cluster/run.sh [RUNS=5] [PODS=10] [BURST=200] [CONCURRENCY=16]   (about 5 minutes)
# Writes bench/results/cluster.md and prints it. Needs root. The cluster (AZWI_CLUSTER_NAME, default azwibench) is
# brought up first and always down at the end; every wait in it is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
pods=${2:-10}
burst=${3:-200}
concurrency=${4:-16}
[ "$(id -u)" -eq 0 ] || { echo "bench/cluster/run.sh needs root (scripts/cluster.sh up)" >&2; exit 1; }
export AZWI_CLUSTER_NAME=${AZWI_CLUSTER_NAME:-azwibench}
scripts/cluster.sh down  # a cluster of this name left by an interrupted run
trap 'scripts/cluster.sh down' EXIT
scripts/cluster.sh up
mkdir -p bench/results
out=$(mktemp /tmp/azwi-bench-cluster.XXXXXX.md)
timeout 1800 python3 bench/cluster/bench.py --runs "$runs" --pods "$pods" --burst "$burst" --concurrency "$concurrency" \
  --command "bench/cluster/run.sh${*:+ $*}" --out "$out"
mv "$out" bench/results/cluster.md
cat bench/results/cluster.md
