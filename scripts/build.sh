#!/usr/bin/env bash
# Configures and builds everything into ${AZWI_BUILD_DIR:-build} and installs the binaries into ${AZWI_BUILD_DIR}/install/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${AZWI_BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -- -j"$(nproc)"
cmake --install "$build" --prefix "$build/install" >/dev/null
