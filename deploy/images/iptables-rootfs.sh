#!/usr/bin/env bash
# Assembles the root filesystem of the azwi-proxy-init image (deploy/docker/azwi-proxy-init.Dockerfile) into DIR:
# the files of Debian's iptables package (both backends: iptables-nft-* and iptables-legacy-*, their xtables
# extensions), the shared libraries they load (found with ldd on every ELF file of the package, extensions included,
# and followed through symlinks), the dynamic loader, the `iptables`, `iptables-save` and `iptables-restore` names as
# Debian's update-alternatives sets them by default (auto mode: nft, priority 20 over legacy's 10), and a minimal
# /etc (passwd, group, nsswitch.conf). Runs on Debian 12 with the iptables package installed: the Dockerfile's
# `iptables` stage, or the host when deploy/images/build.sh builds the image without Docker. No documentation, no
# package database.
# AZWI_STAGE_ROOT: take the files from this Debian root of another architecture instead of /, one whose packages are
# unpacked but not configured (deploy/cross/arm64-stage-root.sh makes the arm64 one): deploy/images/build.sh's arm64
# stand-in for the stage. Its loader then lists the libraries under qemu-user, as ldd does natively.
# Usage: iptables-rootfs.sh DIR   (DIR is emptied first)
set -euo pipefail
dir=$1
[ -n "$dir" ] && [ "$dir" != / ] || { echo "iptables-rootfs: refusing to use '$dir'" >&2; exit 2; }
src=$(realpath "${AZWI_STAGE_ROOT:-/}")
[ "$src" = / ] && src=
query=(dpkg-query --root="${src:-/}")
"${query[@]}" -W -f='${Status}' iptables 2>/dev/null | grep -Eq 'install ok (installed|unpacked)' ||
  { echo "iptables-rootfs: Debian's iptables package is not installed in ${src:-/} (apt-get install iptables)" >&2
    exit 3; }
arch=$("${query[@]}" -W -f='${Architecture}' iptables)
if [ -z "$src" ]; then
  command -v ldd >/dev/null || { echo "iptables-rootfs: ldd is missing (libc-bin)" >&2; exit 3; }
  libraries() { ldd "$1"; }
  emulator=()
else
  case $arch in
    arm64) qemu=qemu-aarch64-static loader=/lib/ld-linux-aarch64.so.1 ;;
    *) echo "iptables-rootfs: no emulator known for the $arch files of $src" >&2; exit 2 ;;
  esac
  command -v "$qemu" >/dev/null || { echo "iptables-rootfs: $qemu is missing (qemu-user-static)" >&2; exit 3; }
  # The loader names itself by its host path: back to the root's own.
  libraries() { "$qemu" -L "$src" "$src$loader" --list "$1" | sed "s|$src/|/|g"; }
  emulator=("$qemu" -L "$dir")
fi
rm -rf "$dir"
mkdir -p "$dir"
dir=$(realpath "$dir")
# The merged-/usr layout of Debian 12: /bin, /sbin, /lib, /lib64 are links into /usr.
mkdir -p "$dir/usr/bin" "$dir/usr/sbin" "$dir/usr/lib" "$dir/usr/lib64" "$dir/etc/alternatives" "$dir/tmp" "$dir/run"
chmod 1777 "$dir/tmp"
for top in bin sbin lib lib64; do ln -s "usr/$top" "$dir/$top"; done

# add PATH: copies PATH of the source root (a file or a symlink, with every link it goes through) to the same place
# under DIR.
add() {
  local p=$1 parent real
  parent=$(realpath "$src$(dirname "$p")")
  case $parent/ in "$src"/*) parent=${parent#"$src"} ;; *) echo "iptables-rootfs: $p leaves $src" >&2; exit 1 ;; esac
  real=$parent/$(basename "$p")
  [ -e "$dir$real" ] || [ -L "$dir$real" ] && return 0
  mkdir -p "$dir$parent"
  if [ -L "$src$real" ]; then
    cp -P "$src$real" "$dir$real"
    local target
    target=$(readlink "$src$real")
    case $target in
      /*) add "$target" ;;
      *) add "$parent/$target" ;;
    esac
  else
    cp -p "$src$real" "$dir$real"
  fi
}

elves=()
while read -r f; do
  case $f in
    /usr/share/doc/* | /usr/share/man/* | /usr/share/lintian/*) continue ;;
    */iptables-apply | */ip6tables-apply) continue ;;  # shell scripts; the image has no shell
  esac
  [ -d "$src$f" ] && [ ! -L "$src$f" ] && continue
  [ -e "$src$f" ] || [ -L "$src$f" ] || continue
  add "$f"
  if [ -f "$src$f" ] && [ ! -L "$src$f" ] && [ "$(head -c4 "$src$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then
    elves+=("$f")
  fi
done < <("${query[@]}" -L iptables)

# Shared libraries: ldd on the binaries and on the extensions (dlopen'ed, so not in the binaries' own list).
for f in "${elves[@]}"; do
  libraries "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
done | sort -u | while read -r lib; do add "$lib"; done

# The names Debian gives through update-alternatives (default: the nft backend).
for name in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  flavour=${name/tables/tables-nft}
  [ -e "$dir/usr/sbin/$flavour" ] || { echo "iptables-rootfs: $flavour is not in the iptables package" >&2; exit 1; }
  ln -sfn "/usr/sbin/$flavour" "$dir/etc/alternatives/$name"
  ln -sfn "/etc/alternatives/$name" "$dir/usr/sbin/$name"
done

# No /etc/protocols or /etc/services (netbase, not in the stage's base image): iptables knows tcp, udp and the
# other protocol names itself, and azwi-proxy-init gives ports as numbers.
printf 'passwd: files\ngroup: files\nhosts: files\nprotocols: files\nservices: files\n' >"$dir/etc/nsswitch.conf"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n' >"$dir/etc/passwd"
printf 'root:x:0:\n' >"$dir/etc/group"

# The programs must find their libraries inside DIR alone (chroot needs root; the Dockerfile's RUN is root). Foreign
# ones run under qemu-user with DIR as their root (-L, no root needed): the two multi-call programs behind every name.
if [ ${#emulator[@]} -gt 0 ]; then
  for tool in iptables-nft-save iptables-legacy-save; do
    real=$dir/usr/sbin/xtables-${tool#iptables-} real=${real%-save}-multi
    out=$("${emulator[@]}" -0 "$tool" "$real" --version 2>&1) ||
      { echo "iptables-rootfs: $tool ($arch) does not run from $dir: $out" >&2; exit 1; }
  done
elif [ "$(id -u)" -eq 0 ]; then
  for tool in iptables iptables-nft-save iptables-legacy-save iptables-nft-restore iptables-legacy-restore; do
    out=$(chroot "$dir" "/usr/sbin/$tool" --version 2>&1) ||
      { echo "iptables-rootfs: /usr/sbin/$tool does not run in $dir: $out" >&2; exit 1; }
  done
fi
n=$(find "$dir" -type f | wc -l)
echo "iptables-rootfs: $n files, $(du -sh --apparent-size "$dir" | cut -f1) in $dir" >&2
