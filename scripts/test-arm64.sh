#!/usr/bin/env bash
# The linux/arm64 part of the test command. Cross-builds (deploy/cross) the proxy, the emulator and the unit tests of
# the libraries the proxy is made of into ${AZWI_ARM64_BUILD_DIR:-BUILD/arm64/tests} (BUILD: AZWI_BUILD_DIR, default
# build; as deep as deploy/images/build.sh's BUILD/deploy-images-arm64/static, so that ccache serves one from the
# other) and runs them with ctest under qemu-aarch64-static (CMAKE_CROSSCOMPILING_EMULATOR; binfmt_misc is not
# needed). The proxy's integration tests (tests/proxy: real processes, sockets, TLS) run the arm64 proxy against the
# arm64 emulator. The unit suites of certs, kube, cni and the webhook's mutation, configuration, review parsing and
# admission service run too; the webhook's and cli's process-level suites are left to the amd64 run. Then the images
# for both architectures (deploy/images/build.sh with AZWI_IMAGE_PLATFORMS="amd64 arm64", from the amd64 static
# binaries in BUILD/deploy-images): each two-architecture archive must give skopeo the image of the architecture asked
# for, and the arm64 binaries must run; then
# tests/arm64/images_test.py runs the arm64 azwi-proxy-init image (its iptables, and its azwi-proxy-init installing
# the rules in network namespaces with both backends) and azwi-app's busybox.
# Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${AZWI_ARM64_BUILD_DIR:-${AZWI_BUILD_DIR:-build}/arm64/tests}
targets=(azwi-proxy azwi-emulator common_test jwt_test http_test identity_test imds_test netredirect_test
         proxy_http_test proxy_token_test proxy_token_endpoint_test
         certs_test kube_test cni_test webhook_mutation_test webhook_config_test webhook_review_json_test
         webhook_service_test)
tests='^(common|jwt|http|identity|imds|proxy|certs|kube)\.|^ProxyInit(Backend|Command|Config|NatTable|Plan|Run)\.'
tests+='|^Cni(Spec|Pod|Plugin|Conflist|Installer)\.|^webhook\.(Mutation|.*/MutationTable|Config|JsonWrite|ReviewParsing|AdmissionService)'
# qemu-user runs posix_spawn's child as a fork, so a failed exec reaches the parent as exit 127, not as the errno
# this test asserts: a property of the emulator, not of arm64.
skip='^ProxyInitCommand\.MissingProgramIsReportedAsNotFound$|_NOT_BUILT$'
for tool in aarch64-linux-gnu-g++ qemu-aarch64-static skopeo; do
  command -v "$tool" >/dev/null ||
    { echo "test-arm64: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 3; }
done
sysroot=$(deploy/cross/arm64-sysroot.sh)
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAZWI_BUILD_BENCH=OFF \
    -DCMAKE_TOOLCHAIN_FILE="$PWD/deploy/cross/aarch64-linux-gnu.cmake" -DAZWI_SYSROOT="$sysroot" >/dev/null
fi
cmake --build "$build" --target "${targets[@]}" -- -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 300 -R "$tests" -E "$skip" "$@"

images=$build/oci-images
AZWI_IMAGE_PLATFORMS="amd64 arm64" deploy/images/build.sh "$images" "${AZWI_BUILD_DIR:-build}/deploy-images" >/dev/null
for name in azwi-proxy azwi-proxy-init azwi-webhook azwi-cni pause azwi-app; do
  for arch in amd64 arm64; do
    got=$(skopeo --override-arch "$arch" --override-os linux inspect --format '{{.Architecture}}' \
          "oci-archive:$images/$name.tar")
    [ "$got" = "$arch" ] || { echo "test-arm64: $name.tar gives $got for $arch" >&2; exit 1; }
  done
done
for b in azwi-proxy azwi-proxy-init azwi-webhook azwi-cni; do
  qemu-aarch64-static "${AZWI_BUILD_DIR:-build}/deploy-images-arm64/bin/$b" --version >/dev/null
done
echo "test-arm64: every image is one index of amd64 and arm64; arm64 binaries run:"
ls -l "${AZWI_BUILD_DIR:-build}/deploy-images-arm64/bin"
rc=0
timeout 300 python3 tests/arm64/images_test.py "$images" || rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || { echo "test-arm64: tests/arm64/images_test.py failed (exit $rc)" >&2; exit 1; }
