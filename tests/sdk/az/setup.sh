#!/usr/bin/env bash
# Installs Debian's azure-cli when `az` is missing (bookworm: 2.45.0; about 4 minutes on the 2-core machine).
set -euo pipefail
command -v az >/dev/null 2>&1 && exit 0
[ "$(id -u)" -eq 0 ] || { echo "sdk/az/setup: install Debian's azure-cli" >&2; exit 1; }
exec 9>/tmp/azwi-sdk-az-setup.lock
flock 9
command -v az >/dev/null 2>&1 && exit 0
echo "sdk/az/setup: installing Debian's azure-cli" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends azure-cli >/dev/null 2>&1 ||
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends azure-cli >/dev/null; }
