#!/usr/bin/env bash
# bench/scale/run.sh --cluster: a real cluster (scripts/cluster.sh; AZWI_CLUSTER_NAME, default azwiscale) brought up
# with this checkout's images, N service accounts in M namespaces created in it (bench/scale/accounts.py create), the
# webhook installed and restarted (bench/scale/cluster.py); the cluster is always brought down at the end.
# Usage: bench/scale/cluster.sh N M   (about 10 minutes for 100,000; needs root). Prints a markdown section.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "bench/scale/cluster.sh needs root (scripts/cluster.sh up)" >&2; exit 1; }
export AZWI_CLUSTER_NAME=${AZWI_CLUSTER_NAME:-azwiscale}
# This checkout's images, in a directory of this run's (not the shared cache other checkouts' clusters import).
images=$(mktemp -d /tmp/azwi-bench-scale-images.XXXXXX)
deploy/images/build.sh "$images" "${AZWI_BUILD_DIR:-build}/shipped" >/dev/null
scripts/cluster.sh down >&2  # a cluster of this name left by an interrupted run
trap 'scripts/cluster.sh down >&2; rm -rf "$images"' EXIT
AZWI_IMAGES_DIR=$images scripts/cluster.sh up >&2
eval "$(scripts/cluster.sh env)"
created=$(nsenter --net="/run/netns/$AZWI_CLUSTER_NETNS" timeout 1800 python3 bench/scale/accounts.py create "$1" "$2")
timeout 1200 python3 bench/scale/cluster.py --create "$created"
