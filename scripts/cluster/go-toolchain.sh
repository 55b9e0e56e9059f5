#!/usr/bin/env bash
# Prints the GOROOT of the Go toolchain the cluster's Kubernetes build is pinned to, fetching it first if needed.
# A fresh Debian 12 has only Go 1.19 (package golang-go), which cannot build Kubernetes 1.33 but can fetch the pinned
# toolchain from the Go module proxy as the module golang.org/toolchain (what `GOTOOLCHAIN=goX.Y.Z` does on Go >= 1.21).
set -euo pipefail
version=go1.24.13  # k8s.io/kubernetes v1.33.13's go.mod asks for go 1.24
cache=${AZWI_CACHE:-/var/cache/azwi}/go
goroot=$cache/$version
if [ -x "$goroot/bin/go" ] && "$goroot/bin/go" version 2>/dev/null | grep -q "$version "; then
  echo "$goroot"
  exit 0
fi
bootstrap=$(command -v go || true)
if [ -z "$bootstrap" ]; then
  echo "go-toolchain: no go on PATH; installing Debian's golang-go to fetch $version" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq --no-install-recommends golang-go >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends golang-go >/dev/null; }; } ||
    { echo "go-toolchain: cannot install golang-go with apt-get" >&2; exit 1; }
  bootstrap=$(command -v go)
fi
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
module=golang.org/toolchain@v0.0.1-$version.linux-amd64
echo "go-toolchain: fetching $module through the Go module proxy with $("$bootstrap" version)" >&2
dir=$(cd "$tmp" && GOMODCACHE=$tmp/mod GOFLAGS=-modcacherw GOTOOLCHAIN=local GO111MODULE=on \
  timeout 600 "$bootstrap" mod download -json "$module" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] && [ -f "$dir/bin/go" ] || { echo "go-toolchain: the download of $module failed" >&2; exit 1; }
mkdir -p "$cache"
rm -rf "$goroot.partial"
cp -a "$dir" "$goroot.partial"
chmod -R u+w "$goroot.partial"
# Module zips keep no file modes: the toolchain's programs need their executable bits back.
chmod +x "$goroot.partial"/bin/* "$goroot.partial"/pkg/tool/*/*
rm -rf "$goroot"
mv "$goroot.partial" "$goroot"
"$goroot/bin/go" version >&2
echo "$goroot"
