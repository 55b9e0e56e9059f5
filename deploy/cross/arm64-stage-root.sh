#!/usr/bin/env bash
# Makes the arm64 stand-in for a Dockerfile helper stage `FROM debian:bookworm` + `apt-get install
# --no-install-recommends PACKAGE...` and prints its path: the files of a Debian 12 arm64 minbase and of PACKAGES
# with their dependencies, unpacked but never configured (nothing of arm64 runs here), so that the stage's script
# (deploy/images/iptables-rootfs.sh, busybox-rootfs.sh, with AZWI_STAGE_ROOT set to it) takes arm64 files where the
# host stands in for the amd64 stage. No multiarch on the host: debootstrap --foreign resolves and downloads, each
# package is unpacked with dpkg-deb and recorded in the root's dpkg database (status and file list), so that
# `dpkg-query --root=ROOT` answers for it as dpkg would in the stage. Cached in AZWI_CACHE_DIR (default
# /var/cache/azwi), keyed by the package list; the downloaded .debs are kept in AZWI_CACHE_DIR/debs-arm64, which
# deploy/cross/arm64-sysroot.sh shares.
# Usage: arm64-stage-root.sh PACKAGE...
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
cache=${AZWI_CACHE_DIR:-/var/cache/azwi}
mirror=${AZWI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=$(printf '%s\n' "$@" | sort -u | paste -sd,)
key=$(printf 'bookworm arm64 stage %s v1' "$packages" | sha256sum | cut -c1-16)
root=$cache/stage-arm64-$key
if [ ! -f "$root/.complete" ]; then
  command -v debootstrap >/dev/null || { echo "arm64-stage-root: debootstrap is missing" >&2; exit 3; }
  rm -rf "$root.tmp"
  mkdir -p "$cache/debs-arm64"
  echo "arm64-stage-root: debootstrap arm64 with $packages into $root" >&2
  debootstrap --foreign --merged-usr --arch=arm64 --variant=minbase --include="$packages" \
    --cache-dir="$cache/debs-arm64" bookworm "$root.tmp" "$mirror" >"$root.log" 2>&1 ||
    { tail -20 "$root.log" >&2; exit 1; }
  admin=$root.tmp/var/lib/dpkg
  : >"$admin/status"
  echo 1 >"$admin/info/format"  # the multiarch layout of the lists (PACKAGE:ARCH.list), as dpkg 1.16.2 and later
  for deb in "$root.tmp"/var/cache/apt/archives/*.deb; do
    # --keep-directory-symlink: the merged-/usr links (/lib -> usr/lib, ...) stay links, as dpkg keeps them.
    dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$root.tmp"
    name=$(dpkg-deb -f "$deb" Package)
    # dpkg names the list of a Multi-Arch: same package with its architecture.
    [ "$(dpkg-deb -f "$deb" Multi-Arch)" = same ] && name+=:$(dpkg-deb -f "$deb" Architecture)
    dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's|/$||' -e 's|^\.$|/.|' -e 's|^\./|/|' >"$admin/info/$name.list"
    { dpkg-deb -f "$deb" | sed '1a Status: install ok unpacked'; echo; } >>"$admin/status"
  done
  rm -f "$root.tmp"/var/cache/apt/archives/*.deb
  touch "$root.tmp/.complete"
  mv "$root.tmp" "$root"
fi
echo "$root"
