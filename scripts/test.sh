#!/usr/bin/env bash
# The test command: installs what it needs (Debian packages, the npm packages of the SDK tests), builds, and runs
# every test: unit, integration (real processes and TLS), and network-namespace tests (those need root), and the
# suite again under ASan+UBSan+LSan with bounded fuzz runs (scripts/test-sanitized.sh, as the test sanitized.suite).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
for setup in tests/*/setup.sh; do
  [ -x "$setup" ] && "$setup"
done
scripts/build.sh
# The sanitized build (clang, ASan+UBSan, fuzz targets) is built here; the test sanitized.suite runs it.
scripts/test-sanitized.sh --build-only
build=${AZWI_BUILD_DIR:-build}
# linux/arm64 (scripts/test-arm64.sh) is the test arm64.suite, also run alongside the cluster tests.
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 300 "$@"
