#!/usr/bin/env bash
# The linux/arm64 part of the test command: cross-builds (deploy/cross) the proxy, the emulator and the unit tests
# of the libraries the proxy is made of into ${AZWI_ARM64_BUILD_DIR:-build-arm64}, and runs them with ctest under
# qemu-aarch64-static (CMAKE_CROSSCOMPILING_EMULATOR; binfmt_misc is not needed). The proxy's integration tests
# (tests/proxy: real processes, sockets, TLS) run the arm64 proxy against the arm64 emulator. The webhook's, kube's
# and cli's suites are left to the amd64 run: their build under a cross compiler doubles this step's cold cost.
# Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${AZWI_ARM64_BUILD_DIR:-build-arm64}
targets=(azwi-proxy azwi-emulator common_test jwt_test http_test identity_test imds_test netredirect_test
         proxy_http_test proxy_token_test proxy_token_endpoint_test)
tests='^(common|jwt|http|identity|imds|proxy)\.|^ProxyInit(Backend|Command|Config|NatTable|Plan|Run)\.'
for tool in aarch64-linux-gnu-g++ qemu-aarch64-static; do
  command -v "$tool" >/dev/null ||
    { echo "test-arm64: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 3; }
done
sysroot=$(deploy/cross/arm64-sysroot.sh)
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAZWI_BUILD_BENCH=OFF \
    -DCMAKE_TOOLCHAIN_FILE="$PWD/deploy/cross/aarch64-linux-gnu.cmake" -DAZWI_SYSROOT="$sysroot" >/dev/null
fi
cmake --build "$build" --target "${targets[@]}" -- -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 300 -R "$tests" "$@"
