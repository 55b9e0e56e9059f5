#!/usr/bin/env bash
# Builds the Go SDK client as one static binary (CGO_ENABLED=0: it also serves as a FROM-scratch image in the real
# cluster). Usage: build.sh OUT_FILE. Incremental: Go's build cache makes a rerun with nothing changed take a second.
# Any Go >= 1.21 bootstraps the pinned toolchain (azidentity 1.15 needs Go 1.25) through the Go module proxy; on a
# machine without one, scripts/cluster/go-toolchain.sh provides it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_FILE}
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
