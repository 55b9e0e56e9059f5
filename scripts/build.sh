#!/usr/bin/env bash
# Configures and builds into ${AZWI_BUILD_DIR:-build}.
# With no arguments: everything, then installs the binaries into ${AZWI_BUILD_DIR}/install/bin.
# With target names (e.g. azwi-proxy azwi-emulator): only those, left in the build tree (the demo needs no tests).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${AZWI_BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
if (($#)); then
  cmake --build "$build" --target "$@" -- -j"$(nproc)"
else
  cmake --build "$build" -- -j"$(nproc)"
  cmake --install "$build" --prefix "$build/install" >/dev/null
fi
