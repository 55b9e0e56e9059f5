#!/usr/bin/env bash
# Builds the binaries the container images ship, into ${1:-build-static}/bin: azwi-proxy, azwi-proxy-init,
# azwi-webhook, azwi-cni and pause (the pod sandbox, deploy/images/pause/pause.c), fully static (glibc, libstdc++, OpenSSL
# from Debian's libssl.a/libcrypto.a, Boost, yaml-cpp): they run on an empty image. None of them links libcurl
# (outbound HTTPS is Asio + OpenSSL, src/http/asio_client.hpp). deploy/images/build.sh makes the OCI images.
# Usage: deploy/build-static.sh [OUT_DIR [ARCH]]   ARCH: amd64 (default, the host) or arm64, cross-built with
# Debian's aarch64-linux-gnu toolchain against the sysroot of deploy/cross/arm64-sysroot.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-build-static}")
arch=${2:-amd64}
cross=()
case $arch in
  amd64) strip=strip cc=gcc ;;
  arm64)
    strip=aarch64-linux-gnu-strip cc=aarch64-linux-gnu-gcc
    sysroot=$("$root/deploy/cross/arm64-sysroot.sh")
    cross=(-DCMAKE_TOOLCHAIN_FILE="$root/deploy/cross/aarch64-linux-gnu.cmake" -DAZWI_SYSROOT="$sysroot")
    command -v "$cc" >/dev/null ||
      { echo "build-static: $cc is missing (scripts/install-deps.sh installs crossbuild-essential-arm64)" >&2; exit 3; }
    ;;
  *) echo "build-static: unknown ARCH $arch (amd64 or arm64)" >&2; exit 2 ;;
esac
cmake -S "$root" -B "$out/static" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAZWI_BUILD_TESTS=OFF -DAZWI_BUILD_BENCH=OFF \
  -DAZWI_STATIC=ON -DOPENSSL_USE_STATIC_LIBS=ON -DCMAKE_EXE_LINKER_FLAGS=-static "${cross[@]}" >/dev/null
cmake --build "$out/static" --target azwi-proxy azwi-proxy-init azwi-webhook azwi-cni
mkdir -p "$out/bin"
# Each binary is replaced by a rename, and only when it changed: a running copy (tests run them) is left alone.
publish() {
  "$strip" "$1.tmp"
  if cmp -s "$1.tmp" "$1"; then rm -f "$1.tmp"; else mv -f "$1.tmp" "$1"; fi
}
for b in azwi-proxy azwi-proxy-init azwi-webhook azwi-cni; do
  cp "$out/static/cmd/$b/$b" "$out/bin/$b.tmp"
  publish "$out/bin/$b"
done
# pause is one C file: built here, not by CMake (the project's languages are C++ only).
version=$(sed -n 's/^project(azwi VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
if [ ! -x "$out/bin/pause" ] || [ "$root/deploy/images/pause/pause.c" -nt "$out/bin/pause" ] ||
   [ "$root/CMakeLists.txt" -nt "$out/bin/pause" ]; then
  "$cc" -static -Os -Wall -Wextra -Werror -DAZWI_VERSION="\"$version\"" -o "$out/bin/pause.tmp" \
    "$root/deploy/images/pause/pause.c"
  publish "$out/bin/pause"
  touch "$out/bin/pause"
fi
ls -l "$out"/bin
