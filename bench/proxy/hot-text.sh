#!/usr/bin/env bash
# Regenerates cmd/azwi-proxy/hot-text.ld, the list of code sections the static azwi-proxy runs from its start to its
# first token (exchanged with azwi-emulator on loopback), which the link places together before the rest of the code.
# Usage: bench/proxy/hot-text.sh [ROUNDS=8]
# First the IFUNC resolvers (all run at start-up) and the functions callgrind sees run; then, for at most ROUNDS
# relinks, the functions in which the relinked binary still takes a page fault outside the hot code (perf: callgrind
# misses the string functions glibc picks for the real CPU). One stray page in the cold code costs much more than a
# page: the kernel maps the 64 KiB around a fault, and the whole folio when the page cache holds the file in large
# folios (a file written in one go, as strip and an image unpack do). Needs valgrind and perf (Debian: valgrind
# linux-perf).
# Run it when the sidecar's code changes much: a stale list costs memory, not correctness (bench/proxy/run.sh
# reports the resident set).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-8}
for tool in valgrind perf; do
  command -v "$tool" >/dev/null || { echo "hot-text: $tool is missing (apt-get install valgrind linux-perf)" >&2; exit 3; }
done
build=${AZWI_BUILD_DIR:-build}
scripts/build.sh azwi-emulator >/dev/null
emulator=$build/cmd/azwi-emulator/azwi-emulator
static=$build/shipped/static
proxy=$static/cmd/azwi-proxy/azwi-proxy
script=cmd/azwi-proxy/hot-text.ld
[ -f "$static/build.ninja" ] || deploy/build-static.sh "$build/shipped" >/dev/null
relink() { cmake --build "$static" --target azwi-proxy >/dev/null; }
. bench/lib.sh

start_scratch azwi-hot-text
start_token_emulator "$emulator"
relink
# run_proxy WRAPPER...: the unstripped static proxy under WRAPPER, through start-up and one token, then SIGTERM.
run_proxy() {
  local port
  port=$(free_port)
  "$@" "$proxy" --proxy-port="$port" 2>>"$state/proxy.log" &
  local pid=$!
  first_token "$proxy" "$port"
  kill -TERM "$pid"
  wait "$pid" || true
}

run_proxy valgrind --tool=callgrind --demangle=no --callgrind-out-file="$state/callgrind.out"
python3 bench/proxy/hot_text.py --map "$proxy.map" --binary "$proxy" --callgrind "$state/callgrind.out" --out "$script"
for round in $(seq "$rounds"); do
  relink
  before=$(grep -c '^    \*' "$script")
  # perf forwards the SIGTERM to the proxy it started.
  run_proxy perf record -q -c 1 -e page-faults -d -o "$state/faults.data"
  perf script -i "$state/faults.data" -F addr 2>/dev/null >"$state/faults.txt"
  python3 bench/proxy/hot_text.py --map "$proxy.map" --binary "$proxy" --faults "$state/faults.txt" --keep "$script" \
    --out "$script"
  after=$(grep -c '^    \*' "$script")
  echo "hot-text: round $round: $((after - before)) sections added"
  ((after > before)) || break
done
relink
echo "hot-text: wrote $script; deploy/build-static.sh builds the image's binary with it"
