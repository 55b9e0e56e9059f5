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
# AZWI_IMAGE_PLATFORMS="amd64 arm64" (default amd64) also cross-builds the static binaries for arm64 (into
# STATIC_DIR-arm64) and makes each image one OCI image index of both architectures; the arm64 iptables and busybox
# files of azwi-proxy-init and azwi-app come from Debian's arm64 packages (deploy/cross/arm64-stage-root.sh).
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
args=(--static-dir "$static")
for platform in ${AZWI_IMAGE_PLATFORMS:-amd64}; do
  case $platform in
    amd64) ;;
    arm64)
      "$root/deploy/build-static.sh" "$static-arm64" arm64 >"$out/build-static-arm64.log" 2>&1 ||
        { cat "$out/build-static-arm64.log" >&2; echo "images: deploy/build-static.sh (arm64) failed" >&2; exit 1; }
      args+=(--arm64-static-dir "$static-arm64") ;;
    *) echo "images: AZWI_IMAGE_PLATFORMS: unknown platform $platform (amd64, arm64)" >&2; exit 2 ;;
  esac
done
exec python3 "$root/deploy/images/oci_build.py" "$out" "${args[@]}"
