#!/usr/bin/env bash
# Makes the Debian 12 arm64 sysroot that the cross build (deploy/cross/aarch64-linux-gnu.cmake) compiles and links
# against, and prints its path. Debian's arm64 -dev packages are not all co-installable with the amd64 ones
# (yaml-cpp's, Boost's headers), and multiarch would change the host's dpkg; so the sysroot is a directory of its
# own: debootstrap --foreign resolves and downloads the packages, and each is unpacked, never configured (nothing of
# it runs at build time). Cached in AZWI_CACHE_DIR (default /var/cache/azwi), keyed by the package list below; the
# downloaded .debs in AZWI_CACHE_DIR/debs-arm64, shared with deploy/cross/arm64-stage-root.sh.
set -euo pipefail
cache=${AZWI_CACHE_DIR:-/var/cache/azwi}
mirror=${AZWI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=libstdc++-12-dev,libc6-dev,libboost1.81-dev,libboost-json1.81-dev,libboost-url1.81-dev,libssl-dev
packages+=,libyaml-cpp-dev,libgtest-dev,libgmock-dev,libcurl4-openssl-dev
key=$(printf 'bookworm arm64 %s v1' "$packages" | sha256sum | cut -c1-16)
root=$cache/sysroot-arm64-$key
if [ ! -f "$root/.complete" ]; then
  command -v debootstrap >/dev/null || { echo "arm64-sysroot: debootstrap is missing" >&2; exit 3; }
  rm -rf "$root.tmp"
  mkdir -p "$cache/debs-arm64"
  echo "arm64-sysroot: debootstrap arm64 into $root" >&2
  debootstrap --foreign --arch=arm64 --variant=minbase --include="$packages" \
    --cache-dir="$cache/debs-arm64" bookworm "$root.tmp" "$mirror" \
    >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
  # --foreign unpacks only the base; the included packages are downloaded, and unpacked here.
  for deb in "$root.tmp"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$root.tmp"; done
  # Absolute symlinks (libm.so -> /lib/...) would point into the host: make them relative to the sysroot.
  find "$root.tmp" -type l -lname '/*' -print0 | while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$root.tmp$target")" "$link"
  done
  rm -rf "$root.tmp"/var/cache/apt/archives/*.deb
  # No /etc: qemu-aarch64-static -L prefers the sysroot's files, and a test under it must see the host's (the
  # resolv.conf a test mounts over /etc/resolv.conf, for one). Nothing in /etc is read at build time.
  rm -rf "$root.tmp/etc"
  touch "$root.tmp/.complete"
  mv "$root.tmp" "$root"
fi
echo "$root"
