#!/usr/bin/env bash
# Builds the binaries the container images ship, into ${1:-build-static}/bin:
#   azwi-proxy, azwi-proxy-init  fully static (glibc, libstdc++, OpenSSL from Debian's libssl.a/libcrypto.a):
#                                they run on an empty image.
#   azwi-webhook                 dynamic: Debian's libcurl cannot be linked statically (its libgssapi_krb5,
#                                libldap, libssh2, libnghttp2, libpsl, librtmp and libzstd have no static archives
#                                in Debian 12), so it runs on debian:bookworm-slim with libcurl4 (yaml-cpp is linked in);
#                                libstdc++ comes from that image too.
# Two build trees: OpenSSL must be static for the first two and shared for the webhook (libcurl loads the shared
# libssl; two copies of OpenSSL in one process would not share state).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-build-static}")
common=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DAZWI_BUILD_TESTS=OFF)
cmake -S "$root" -B "$out/static" "${common[@]}" -DAZWI_STATIC=ON -DOPENSSL_USE_STATIC_LIBS=ON \
  -DCMAKE_EXE_LINKER_FLAGS=-static >/dev/null
cmake --build "$out/static" --target azwi-proxy azwi-proxy-init
mkdir -p "$out/bin"
for b in azwi-proxy azwi-proxy-init; do
  cp "$out/static/cmd/$b/$b" "$out/bin/$b"
done
# AZWI_WEBHOOK_BIN: an azwi-webhook already built with the default (Release) settings, e.g. by the tests' build,
# which is the same binary this would build again.
if [ -n "${AZWI_WEBHOOK_BIN:-}" ]; then
  cp "$AZWI_WEBHOOK_BIN" "$out/bin/azwi-webhook"
else
  cmake -S "$root" -B "$out/dynamic" "${common[@]}" >/dev/null
  cmake --build "$out/dynamic" --target azwi-webhook
  cp "$out/dynamic/cmd/azwi-webhook/azwi-webhook" "$out/bin/azwi-webhook"
fi
strip "$out"/bin/*
ls -l "$out"/bin
