#!/usr/bin/env bash
# Assembles the root filesystem of the azwi-app image (deploy/docker/azwi-app.Dockerfile), the small application
# the test pods run, into DIR: Debian's busybox-static (/bin/busybox, one static binary) with a link in /bin for
# each of its applets (sh, wget, cat, sleep, env, ...), /etc/passwd and /etc/group naming root, the application
# user 1000 (home /tmp) and nobody, and a /tmp. Runs on Debian 12 with busybox-static installed: the Dockerfile's
# `app` stage, or the host when deploy/images/build.sh builds the image without Docker.
# AZWI_STAGE_ROOT: take busybox from this Debian root of another architecture instead of / (its packages unpacked,
# not configured; deploy/cross/arm64-stage-root.sh makes the arm64 one), run under qemu-user to list its applets.
# Usage: busybox-rootfs.sh DIR   (DIR is emptied first)
set -euo pipefail
dir=$1
[ -n "$dir" ] && [ "$dir" != / ] || { echo "busybox-rootfs: refusing to use '$dir'" >&2; exit 2; }
src=$(realpath "${AZWI_STAGE_ROOT:-/}")
[ "$src" = / ] && src=
query=(dpkg-query --root="${src:-/}")
"${query[@]}" -W -f='${Status}' busybox-static 2>/dev/null | grep -Eq 'install ok (installed|unpacked)' ||
  { echo "busybox-rootfs: Debian's busybox-static package is not installed in ${src:-/} (apt-get install" \
         "busybox-static)" >&2
    exit 3; }
emulator=()
if [ -n "$src" ]; then
  arch=$("${query[@]}" -W -f='${Architecture}' busybox-static)
  case $arch in
    arm64) emulator=(qemu-aarch64-static) ;;
    *) echo "busybox-rootfs: no emulator known for the $arch files of $src" >&2; exit 2 ;;
  esac
  command -v "${emulator[0]}" >/dev/null ||
    { echo "busybox-rootfs: ${emulator[0]} is missing (qemu-user-static)" >&2; exit 3; }
fi
bb=$("${query[@]}" -L busybox-static | grep -m1 '/bin/busybox$')
rm -rf "$dir"
mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp"
chmod 1777 "$dir/tmp"
# A merged-/usr root holds it under usr/bin (/bin is a link).
cp "$(realpath "$src$bb")" "$dir/bin/busybox"
chmod 0755 "$dir/bin/busybox"
for applet in $("${emulator[@]}" "$dir/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
done
for need in sh wget cat sleep env; do
  [ -L "$dir/bin/$need" ] || { echo "busybox-rootfs: busybox has no $need applet" >&2; exit 1; }
done
printf '%s\n' root:x:0:0:root:/root:/bin/sh app:x:1000:1000:app:/tmp:/bin/sh \
  nobody:x:65534:65534:nobody:/nonexistent:/bin/false >"$dir/etc/passwd"
printf 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n' >"$dir/etc/group"
echo "busybox-rootfs: busybox and $(find "$dir/bin" -type l | wc -l) applet links in $dir" >&2
