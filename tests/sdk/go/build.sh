#!/usr/bin/env bash
# Builds the Go SDK client as one static binary (CGO_ENABLED=0: it runs in any container; the cluster test copies
# it into a busybox pod). Usage: build.sh OUT_FILE. A binary newer than every source of the module is left as it
# is; otherwise Go's build cache keeps a rebuild short.
# Any Go >= 1.21 bootstraps the pinned toolchain (azidentity 1.15 needs Go 1.25) through the Go module proxy; on a
# machine without one, scripts/cluster/go-toolchain.sh provides it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:?usage: build.sh OUT_FILE}")
# Up to date: nothing of the module is newer than the binary (every case of the SDK matrix asks).
if [ -x "$out" ] && [ -z "$(find "$here" -newer "$out" -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \))" ]; then
  exit 0
fi
go_minor() { "$1" env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p'; }
go=$(command -v go || true)
if [ -z "$go" ] || [ "$(go_minor "$go")" -lt 21 ] 2>/dev/null || [ -z "$(go_minor "$go")" ]; then
  go="$("$here/../../../scripts/cluster/go-toolchain.sh")/bin/go"
fi
mkdir -p "$(dirname "$out")"
cd "$here"
exec 9>"$out.lock"
flock 9
GOTOOLCHAIN=go1.25.0 CGO_ENABLED=0 "$go" build -trimpath -ldflags='-s -w' -o "$out.tmp" .
mv "$out.tmp" "$out"
