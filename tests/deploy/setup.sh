#!/usr/bin/env bash
# Makes Debian's kubectl (package kubernetes-client) available to tests/deploy's offline manifest validation.
# It is installed with apt-get, except where /usr/bin/kubectl already belongs to another package (a cloud SDK's
# kubectl, say): the two packages would conflict, so Debian's is unpacked into /var/cache/azwi/kubernetes-client.
set -euo pipefail
dest=/var/cache/azwi/kubernetes-client
installed() { dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null | grep -q 'install ok installed'; }
if installed || [ -x "$dest/usr/bin/kubectl" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "tests/deploy/setup.sh: not root, so Debian's kubectl is not installed; its validation test will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if [ ! -e /usr/bin/kubectl ]; then
  apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null; } ||
    echo "tests/deploy/setup.sh: WARNING: cannot install kubernetes-client; the kubectl validation tests will be skipped" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get download kubernetes-client >/dev/null 2>&1 &&
  ! { apt-get update -qq && apt-get download kubernetes-client >/dev/null 2>&1; }; then
  echo "tests/deploy/setup.sh: WARNING: cannot download kubernetes-client; the kubectl validation tests will be skipped" >&2
  exit 0
fi
dpkg-deb -x kubernetes-client_*.deb unpacked
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv unpacked "$dest"
echo "tests/deploy/setup.sh: Debian's kubectl unpacked into $dest (/usr/bin/kubectl belongs to another package)" >&2
