#!/usr/bin/env bash
# Builds the project's container images as OCI image archives, without Docker (Debian's umoci; no daemon, no
# registry): each deploy/docker/NAME.Dockerfile's last stage is read and interpreted (deploy/images/oci_build.py
# says which subset), so a Dockerfile and its image cannot drift.
# Usage: deploy/images/build.sh OUT_DIR [STATIC_DIR]
#   STATIC_DIR: where deploy/build-static.sh builds the static binaries (default: build-static in the repository;
#   an incremental CMake build, so a rerun with nothing changed takes seconds).
# Writes OUT_DIR/NAME.tar (azwi-proxy, azwi-proxy-init, azwi-webhook, pause, azwi-app), OUT_DIR/images.txt
# (`NAME.tar REFERENCE` per line, e.g. `azwi-proxy.tar ghcr.io/azwi/azwi-proxy:v0.1.0`) and OUT_DIR/sizes.txt,
# and prints each image's compressed (archive) and unpacked size. References: AZWI_IMAGE_REGISTRY (default
# ghcr.io/azwi) / NAME : AZWI_IMAGE_TAG (default v<project VERSION of CMakeLists.txt>), as the webhook's
# PROXY_IMAGE/PROXY_INIT_IMAGE defaults and the chart's values name them.
# Import: ctr -n k8s.io images import OUT_DIR/NAME.tar. Push: skopeo copy oci-archive:OUT_DIR/NAME.tar docker://...
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 OUT_DIR [STATIC_DIR]" >&2; exit 2; }
out=$(realpath -m "$1")
static=$(realpath -m "${2:-$root/build-static}")
for tool in umoci python3; do
  command -v "$tool" >/dev/null ||
    { echo "images: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 3; }
done
mkdir -p "$out"
"$root/deploy/build-static.sh" "$static" >"$out/build-static.log" 2>&1 ||
  { cat "$out/build-static.log" >&2; echo "images: deploy/build-static.sh failed" >&2; exit 1; }
exec python3 "$root/deploy/images/oci_build.py" "$out" --static-dir "$static"
