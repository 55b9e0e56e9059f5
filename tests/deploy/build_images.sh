#!/usr/bin/env bash
# Test fixture: what the Dockerfiles' build stage does, without Docker (no engine runs on these machines).
#  1. The build stage must be the same in every file that has one (one cached stage serves them all), and the
#     files it COPYs must be enough: they are copied alone into an empty context, which must configure.
#  2. deploy/build-static.sh builds the static binaries into OUT/bin (azwi-proxy, -proxy-init, -webhook, -cni, pause).
# Usage: build_images.sh OUT
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
stage() { sed -n '/^FROM .* AS build$/,/^RUN deploy\/build-static.sh/p' "$1"; }
first=$root/deploy/docker/azwi-proxy.Dockerfile
for f in "$root"/deploy/docker/*.Dockerfile; do
  grep -q '^FROM .* AS build$' "$f" || continue  # an image of Debian files only (azwi-app) builds nothing
  if ! diff <(stage "$first") <(stage "$f") >/dev/null; then
    echo "build_images: the build stage of $f differs from $first" >&2
    exit 1
  fi
done
ctx=$out/context
rm -rf "$ctx"
mkdir -p "$ctx"
stage "$first" | awk '$1 == "COPY" && $2 !~ /^--/ {print $2, $3}' | while read -r src dst; do
  if [ "${dst: -1}" = / ]; then
    mkdir -p "$ctx/$dst"
  else
    mkdir -p "$(dirname "$ctx/$dst")"
  fi
  cp -r "$root/$src" "$ctx/$dst"
done
cmake -S "$ctx" -B "$out/context-build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAZWI_BUILD_TESTS=OFF -DAZWI_BUILD_BENCH=OFF \
  -DAZWI_STATIC=ON -DOPENSSL_USE_STATIC_LIBS=ON -DCMAKE_EXE_LINKER_FLAGS=-static >/dev/null ||
  { echo "build_images: the files the build stage copies do not configure" >&2; exit 1; }
[ -x "$ctx/deploy/build-static.sh" ] || { echo "build_images: the stage does not copy deploy/build-static.sh" >&2; exit 1; }
"$root/deploy/build-static.sh" "$out"
