#!/usr/bin/env bash
# Installs the Python SDK client's packages (requirements.txt, pinned) into tests/sdk/python/.venv, idempotently:
# pip runs only when requirements.txt changed since the last install. The venv is made from Debian's python3 so
# that another UID (the e2e pod's application) can run it.
set -euo pipefail
cd "$(dirname "$0")"
exec 9>.setup.lock
flock 9
python=/usr/bin/python3
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { echo "sdk/python/setup: install Debian's python3 and python3-venv" >&2; exit 1; }
  echo "sdk/python/setup: installing Debian's python3-venv" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null; }
fi
if [ ! -f .venv/.azwi-installed ] || ! cmp -s requirements.txt .venv/.azwi-installed; then
  echo "sdk/python/setup: installing requirements.txt into .venv" >&2
  rm -rf .venv
  "$python" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -r requirements.txt
  cp requirements.txt .venv/.azwi-installed
fi
