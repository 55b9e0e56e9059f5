#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing, the demo and the benchmarks need.
# Idempotent and quiet when everything is already there.
set -euo pipefail
packages=(
  # build
  g++ cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev
  libyaml-cpp-dev  # azwi-webhook reads kubeconfig files
  clang-14 libclang-rt-14-dev  # the sanitize preset: ASan, UBSan, LSan and libFuzzer (scripts/test-sanitized.sh)
  llvm-14  # llvm-symbolizer-14, for the sanitizers' stacks (clang-14 only recommends it)
  # tests and demo: real processes, TLS tools, network namespaces, iptables
  openssl curl ca-certificates iproute2 iptables procps python3
  util-linux  # setpriv: netns tests run commands as other UIDs and without NET_ADMIN
  python3-jsonpatch  # webhook tests: an independent RFC 6902 implementation applies the webhook's patches
  python3-yaml  # tests/deploy read the chart, its helm renderings and the manifests (helm: scripts/kube-tools.sh)
  umoci busybox-static  # deploy/images/build.sh: OCI images without Docker (busybox-static: the azwi-app image)
  runc containerd  # tests/deploy: the built images run with runc; one is imported into a containerd of the test's own
  # the real local cluster (scripts/cluster.sh) and its tests (tests/cluster, pytest)
  containernetworking-plugins etcd-server conntrack python3-pytest
  skopeo  # tests/cluster/test_runbook.py runs docs/install.md's push (skopeo copy; here to a local OCI layout)
  # linux/arm64 (deploy/cross, scripts/test-arm64.sh): the cross toolchain, the sysroot's maker, the emulator
  crossbuild-essential-arm64 debootstrap qemu-user-static
  # benchmarks
  nginx-light wrk libbenchmark-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
