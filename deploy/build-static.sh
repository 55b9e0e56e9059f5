#!/usr/bin/env bash
# Builds the binaries the container images ship, into ${1:-build-static}/bin: azwi-proxy, azwi-proxy-init and
# azwi-webhook, fully static (glibc, libstdc++, OpenSSL from Debian's libssl.a/libcrypto.a, Boost, yaml-cpp): they
# run on an empty image. None of them links libcurl (outbound HTTPS is Asio + OpenSSL, src/http/asio_client.hpp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-build-static}")
cmake -S "$root" -B "$out/static" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAZWI_BUILD_TESTS=OFF -DAZWI_BUILD_BENCH=OFF \
  -DAZWI_STATIC=ON -DOPENSSL_USE_STATIC_LIBS=ON -DCMAKE_EXE_LINKER_FLAGS=-static >/dev/null
cmake --build "$out/static" --target azwi-proxy azwi-proxy-init azwi-webhook
mkdir -p "$out/bin"
for b in azwi-proxy azwi-proxy-init azwi-webhook; do
  cp "$out/static/cmd/$b/$b" "$out/bin/$b"
done
strip "$out"/bin/*
ls -l "$out"/bin
