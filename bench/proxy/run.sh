#!/usr/bin/env bash
# Benchmark of azwi-proxy's cached-token path, side by side with nginx serving the same answer bytes, in one run.
# Usage: bench/proxy/run.sh [DURATION_SECONDS=10] [CONNECTIONS=64] [REFERENCE_PROXY]
# REFERENCE_PROXY (e.g. an earlier build's azwi-proxy) gets its memory after the first token measured too, in the same
# run, for a before/after comparison.
# Writes bench/results/proxy.md and prints it. Loopback only; every load run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
connections=${2:-64}
reference=${3:-}
scripts/install-deps.sh
scripts/build.sh >/dev/null
bin=${AZWI_BUILD_DIR:-build}/install/bin
# Measure the binary the container image ships: fully static (see deploy/build-static.sh).
deploy/build-static.sh "${AZWI_BUILD_DIR:-build}/shipped" >/dev/null
proxy=${AZWI_BUILD_DIR:-build}/shipped/bin/azwi-proxy
. bench/lib.sh

start_scratch azwi-bench
chmod 755 "$state"  # nginx's worker (nobody) reads the answer file from here

start_token_emulator "$bin/azwi-emulator"

# Time from exec to ready: median of 7 starts.
ready=()
for i in $(seq 7); do
  port=$(free_port)
  read -r ms pid < <(python3 bench/proxy/ready_time.py "$port" "$state/ready-$i.log" -- "$proxy" --proxy-port="$port")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  ready+=("$ms")
done
ready_ms=$(printf '%s\n' "${ready[@]}" | sort -n | sed -n 4p)

port=$(free_port)
"$proxy" --proxy-port="$port" 2>"$state/proxy.log" &
proxy_pid=$!
pids+=($proxy_pid)
first_token "$proxy" "$port" "$state/answer.json"
path=/metadata/identity/oauth2/token
query="api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net"
sleep 1
idle_kib=$(rss_kib "$proxy_pid")
bench/proxy/footprint.py "$proxy_pid" --markdown "azwi-proxy (this build)" >"$state/footprint.md"
if [ -n "$reference" ]; then
  rport=$(free_port)
  "$reference" --proxy-port="$rport" 2>"$state/reference.log" &
  reference_pid=$!
  pids+=($reference_pid)
  first_token "$reference" "$rport"
  sleep 1
  bench/proxy/footprint.py "$reference_pid" --markdown "reference: $reference" >>"$state/footprint.md"
  kill "$reference_pid"
fi

nport=$(free_port)
nginx_conf "$state/nginx" "$nport" "$path" "$state/answer.json" "application/json; charset=utf-8"
nginx -c "$state/nginx/nginx.conf" -p "$state/nginx" 2>"$state/nginx.err" &
pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$nport$path" && break; sleep 0.1; done

run_wrk() {  # URL OUT
  wrk -t1 -c"$connections" -d"${duration}s" --timeout 5s --latency -s bench/proxy/metadata.lua "$1" >"$2"
}
run_wrk "http://127.0.0.1:$nport$path?$query" "$state/wrk-nginx.txt"
run_wrk "http://127.0.0.1:$port$path?$query" "$state/wrk-proxy.txt"
read -r n_rps n_p50 n_p99 n_err < <(wrk_fields "$state/wrk-nginx.txt")
read -r p_rps p_p50 p_p99 p_err < <(wrk_fields "$state/wrk-proxy.txt")
peak_kib=$(hwm_kib "$proxy_pid")
exchanges=$(grep -c 'successfully acquired token' "$state/proxy.log" || true)
bytes=$(wc -c <"$state/answer.json")

mkdir -p bench/results
python3 - "$state" >bench/results/proxy.md <<PY
n_rps, p_rps = $n_rps, $p_rps
print("# azwi-proxy benchmark: cached token path vs nginx")
print()
print("Command: \`bench/proxy/run.sh $duration $connections\` on $(nproc) cores ($(uname -m)), $(date -u +%Y-%m-%d).")
print("Load: wrk, 1 thread, $connections keep-alive connections, ${duration} s per server, loopback; both servers log every request to a file.")
print("nginx: 1 worker, serving the proxy's own $bytes-byte answer as a static file. azwi-proxy: one serving thread,")
print("the static binary the container image ships (deploy/build-static.sh).")
print()
print("| server | req/s | p50 ms | p99 ms | non-2xx |")
print("|---|---:|---:|---:|---:|")
print("| nginx | $n_rps | $n_p50 | $n_p99 | $n_err |")
print("| azwi-proxy | $p_rps | $p_p50 | $p_p99 | $p_err |")
print()
print(f"- throughput ratio azwi-proxy / nginx: **{p_rps / n_rps:.2f}x** (target >= 0.8x)")
print("- azwi-proxy p99 at $connections connections: **$p_p99 ms** (target <= 2 ms)")
print(f"- azwi-proxy RSS idle (after one token): **{$idle_kib / 1024:.1f} MiB** (target <= 6), peak under load: **{$peak_kib / 1024:.1f} MiB** (target <= 12)")
print("- exec to ready (median of 7 starts): **$ready_ms ms** (target <= 50)")
print("- token exchanges with Entra during the run: $exchanges (every other request was a cache hit)")
print()
print("Resident memory after the first token, idle, from /proc/PID/smaps (KiB; bench/proxy/footprint.py). The binary's")
print("pages are clean and file-backed: shared with every other sidecar of the node running the same image, they are")
print("Private here only because this process is the one mapping them.")
print()
print("| binary | mappings | Rss | Pss | Private | Anonymous |")
print("|---|---|---:|---:|---:|---:|")
print(open("$state/footprint.md").read(), end="")
PY
cat bench/results/proxy.md
