#!/usr/bin/env bash
# Builds azwi-kube (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy in one binary)
# from the Go module k8s.io/kubernetes at the release pinned in scripts/cluster/kube/go.mod, and prints its path.
# The output is cached under ${AZWI_CACHE:-/var/cache/azwi}/kube/<release>-<hash of the sources>; the Go build and
# module caches make a rebuild after a change incremental.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$here/kube
release=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$src/go.mod")
[ -n "$release" ] || { echo "build-kube: no k8s.io/kubernetes version in $src/go.mod" >&2; exit 1; }
key=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)
out=${AZWI_CACHE:-/var/cache/azwi}/kube/$release-$key
if [ -x "$out/azwi-kube" ]; then
  echo "$out/azwi-kube"
  exit 0
fi
goroot=$("$here/go-toolchain.sh")
# The version the components report (/version, the node's kubeletVersion): the webhook decides on native sidecars by it.
minor=${release#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$release -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
mkdir -p "$out"
echo "build-kube: building Kubernetes $release components into $out (the first build takes 15-25 minutes on 2 cores)" >&2
start=$(date +%s)
(cd "$src" && GOROOT=$goroot GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -modcacherw" CGO_ENABLED=1 \
  "$goroot/bin/go" build -trimpath -ldflags "$ldflags" -o "$out/azwi-kube.partial" .)
mv "$out/azwi-kube.partial" "$out/azwi-kube"
echo "build-kube: built in $(($(date +%s) - start)) s: $(du -h "$out/azwi-kube" | cut -f1)" >&2
echo "$out/azwi-kube"
