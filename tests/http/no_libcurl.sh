#!/usr/bin/env bash
# Fails when one of the given binaries links libcurl, dynamically (a NEEDED entry) or statically (curl_ symbols):
# the production binaries make their outbound requests with the Asio client, and libcurl is the tests' own client.
set -euo pipefail
status=0
for bin in "$@"; do
  if [ ! -f "$bin" ]; then
    echo "no such binary: $bin" >&2
    status=1
    continue
  fi
  if readelf -d "$bin" | grep -q 'NEEDED.*libcurl'; then
    echo "$bin links libcurl dynamically" >&2
    status=1
  elif readelf -Ws "$bin" | grep -qE '\bcurl_(easy|global|multi)_'; then
    echo "$bin has libcurl linked in" >&2
    status=1
  fi
done
[ "$status" -ne 0 ] || echo "none of $# binaries links libcurl"
exit "$status"
