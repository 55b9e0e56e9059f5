#!/usr/bin/env bash
# azwi-webhook with 100,000 ServiceAccounts in 1,000 namespaces (bench/scale/accounts.py: shaped like a real
# cluster's, a third annotated) next to the same webhook with 10, in one run: time from exec to /readyz, resident
# memory, and admission latency at a fixed rate, as ratios to the 10-account webhook. The 100,000 come from the
# stand-in API server twice: in pages of 500 (as etcd reads are, and a webhook's list after 410 Gone), and in one page
# of about 125 MiB (as the API server answers the first list, resourceVersion 0, from its watch cache).
# Usage: bench/scale/run.sh [DURATION_SECONDS=10] [RATE=2000] [--cluster]   (about 4 minutes; --cluster adds about 10)
#   --cluster also measures the webhook on a real cluster (scripts/cluster.sh, AZWI_CLUSTER_NAME default azwiscale,
#   brought up and always down at the end) after creating the accounts in it: bench/scale/cluster.sh.
# Writes bench/results/scale.md and prints it. Loopback only; every wait and load run is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
cluster=0
args=()
for a in "$@"; do
  if [ "$a" = --cluster ]; then cluster=1; else args+=("$a"); fi
done
duration=${args[0]:-10}
rate=${args[1]:-2000}
accounts=100000
namespaces=1000
scripts/install-deps.sh
scripts/build.sh azwi-loadgen >/dev/null
# Measure the binary the container image ships: fully static (see deploy/build-static.sh).
deploy/build-static.sh "${AZWI_BUILD_DIR:-build}/shipped" >/dev/null
bin=${AZWI_BUILD_DIR:-build}/shipped/bin
loadgen=${AZWI_BUILD_DIR:-build}/bench/loadgen/azwi-loadgen
. bench/lib.sh

start_scratch azwi-bench-scale
(
  cd "$state"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 1 \
    -subj /CN=bench-ca
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.csr -subj /CN=localhost
  openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out tls.crt -days 1 -extfile san.ext
  mkdir certs && cp tls.crt tls.key certs/
) >/dev/null 2>&1

# The reviewed pod's account (bench/app) in every seed, besides 9 or 99,999 others.
app='{"metadata":{"name":"app","namespace":"bench","annotations":{"azure.workload.identity/client-id":"00000000-0000-0000-0000-000000000001"}}}'
echo "[$app]" >"$state/app.json"
python3 bench/scale/accounts.py seed "$state/many.json" $((accounts - 1)) "$namespaces" "$state/app.json"

# start_case NAME SEED [fake API server flags]: the API server, then the webhook, timed from exec to /readyz.
declare -A ready_ms cpu_ready rss_ready webhook_pid api_port
start_case() {
  local name=$1 seed=$2
  shift 2
  /usr/bin/python3 tests/kube/fake_apiserver.py --cert "$state/tls.crt" --key "$state/tls.key" --token bench-token \
    --seed "$seed" "$@" >"$state/apiserver-$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1200); do grep -q 'listening on' "$state/apiserver-$name.log" && break; sleep 0.1; done
  api_port[$name]=$(awk '/listening on/ {print $3}' "$state/apiserver-$name.log")
  [ -n "${api_port[$name]}" ] || { echo "API server $name did not start:" >&2; cat "$state/apiserver-$name.log" >&2; exit 1; }
  cat >"$state/kubeconfig-$name" <<YAML
apiVersion: v1
kind: Config
current-context: bench
contexts: [{name: bench, context: {cluster: bench, user: bench}}]
clusters: [{name: bench, cluster: {server: "https://127.0.0.1:${api_port[$name]}", certificate-authority: "$state/ca.crt"}}]
users: [{name: bench, user: {token: bench-token}}]
YAML
  local port hport mport
  port=$(free_port) hport=$(free_port) mport=$(free_port)
  echo "$port" >"$state/port-$name"
  local t0 t1
  t0=$(date +%s%N)
  AZURE_TENANT_ID=bench-tenant "$bin/azwi-webhook" --disable-cert-rotation --kubeconfig "$state/kubeconfig-$name" \
    --webhook-cert-dir "$state/certs" \
    --webhook-addr "127.0.0.1:$port" --health-addr "127.0.0.1:$hport" --metrics-addr "127.0.0.1:$mport" \
    2>"$state/webhook-$name.log" &
  webhook_pid[$name]=$!
  pids+=(${webhook_pid[$name]})
  for _ in $(seq 1200); do curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null && break; sleep 0.025; done
  t1=$(date +%s%N)
  curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null ||
    { echo "webhook $name not ready after 30 s:" >&2; tail -5 "$state/webhook-$name.log" >&2; exit 1; }
  ready_ms[$name]=$(( (t1 - t0) / 1000000 ))
  cpu_ready[$name]=$(cpu_ms "${webhook_pid[$name]}")
  rss_ready[$name]=$(rss_kib "${webhook_pid[$name]}")
  curl -sS --cacert "$state/ca.crt" -H 'Content-Type: application/json' --data-binary @bench/webhook/review.json \
    "https://localhost:$port/mutate-v1-pod" >"$state/answer-$name.json"
  grep -q '"allowed":true,"patchType":"JSONPatch"' "$state/answer-$name.json" ||
    { echo "unexpected answer from $name:" >&2; cat "$state/answer-$name.json" >&2; exit 1; }
}
start_case few "$state/app.json" --seed-count 9
start_case paged "$state/many.json" --page-any-version
start_case onepage "$state/many.json" --ignore-limit

# The reference for the one-page list: curl downloading the same answer from the same server.
list_bytes=$(curl -s --cacert "$state/ca.crt" -H 'Authorization: Bearer bench-token' -o /dev/null \
  -w '%{size_download}' "https://127.0.0.1:${api_port[onepage]}/api/v1/serviceaccounts?limit=500")
curl_ms=$(curl -s --cacert "$state/ca.crt" -H 'Authorization: Bearer bench-token' -o /dev/null -w '%{time_total}' \
  "https://127.0.0.1:${api_port[onepage]}/api/v1/serviceaccounts?limit=500" | awk '{printf "%d", $1 * 1000}')
synced_count() { sed -n 's/.*"msg":"service account cache synced".*"count":\([0-9]*\).*/\1/p' "$state/webhook-$1.log"; }

# Admission latency at a fixed rate: 3 alternating rounds over the three webhooks, medians.
rounds=3
cases=(few paged onepage)
for r in $(seq "$rounds"); do
  for c in "${cases[@]}"; do
    "$loadgen" --url "https://localhost:$(cat "$state/port-$c")/mutate-v1-pod" --cacert "$state/ca.crt" \
      --body-file bench/webhook/review.json --connections 16 --rate "$rate" --duration "$duration" --warmup 2 \
      >"$state/open-$c-$r.txt"
  done
done
median() {  # CASE KEY
  for r in $(seq "$rounds"); do sed -n 's/^RESULT .*'"$2"'=\([^ ]*\).*/\1/p' "$state/open-$1-$r.txt"; done |
    python3 -c 'import statistics, sys; v = [float(x) for x in sys.stdin]; k = sys.argv[1]
print(int(sum(v)) if k in ("non2xx", "failed_connections", "unanswered") else f"{statistics.median(v):.3f}")' "$2"
}
rows=""
for c in "${cases[@]}"; do
  pid=${webhook_pid[$c]}
  errors=$(( $(median "$c" non2xx) + $(median "$c" failed_connections) + $(median "$c" unanswered) ))
  rows+="$c ${ready_ms[$c]} ${cpu_ready[$c]} ${rss_ready[$c]} $(rss_kib "$pid") $(hwm_kib "$pid") $(median "$c" p50_ms) $(median "$c" p99_ms) $errors $(synced_count "$c")"$'\n'
done

cluster_md=""
if ((cluster)); then
  cluster_md=$(bench/scale/cluster.sh "$accounts" "$namespaces")
fi

mkdir -p bench/results
python3 - "$rows" "$cluster_md" >bench/results/scale.md <<PY
import sys
rows = {l.split()[0]: l.split()[1:] for l in sys.argv[1].splitlines() if l.strip()}
label = {"few": "10 accounts", "paged": "$accounts accounts, pages of 500", "onepage": "$accounts accounts, one page"}
print("# azwi-webhook with $accounts service accounts")
print()
print("Command: \`bench/scale/run.sh $*\` on $(nproc) cores ($(uname -m)), $(date -u +%Y-%m-%d).")
print("Accounts: bench/scale/accounts.py, $accounts in $namespaces namespaces, shaped like a real cluster's (uid,")
print("creationTimestamp, managedFields, Helm labels and annotations, for a quarter kubectl's last-applied-configuration,")
print("secrets and imagePullSecrets on some), a third with azure.workload.identity/client-id and tenant-id; the one-page")
print(f"list answer is {int('$list_bytes') / 1048576:.1f} MiB. Served by tests/kube/fake_apiserver.py (Python) over")
print("TLS on loopback, in pages of 500 (as the API server reads etcd) and all in one page (as it answers the webhook's")
print("first list, resourceVersion 0, from its watch cache). The webhook")
print("is the static binary the image ships. Ready: exec to the first 200 of /readyz (the list, the API server's")
print("version, the certificates); it includes the Python server encoding its answers. Latency: azwi-loadgen, open")
print("loop, $rate admissions/s over 16 TLS connections, ${duration} s after 2 s warm-up, $rounds alternating rounds,")
print("medians; the same AdmissionReview as bench/webhook (its account is in every cache).")
print()
print("| webhook | accounts cached | ready s | CPU s to ready | RSS ready MiB | RSS after load MiB | peak MiB "
      "| p50 ms | p99 ms | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in ("few", "paged", "onepage"):
    ready, cpu, rss, after, peak, p50, p99, err, count = rows[c]
    print(f"| {label[c]} | {count} | {int(ready) / 1000:.2f} | {int(cpu) / 1000:.2f} | {int(rss) / 1024:.1f} | "
          f"{int(after) / 1024:.1f} | {int(peak) / 1024:.1f} | {p50} | {p99} | {err} |")
print()
few = rows["few"]
for c in ("paged", "onepage"):
    r = rows[c]
    print(f"- {label[c]} vs 10: ready in {int(r[0]) / 1000:.2f} s (target <= 20 s) using {int(r[1]) / 1000:.2f} s of "
          f"CPU, peak RSS **{int(r[4]) / int(few[4]):.2f}x** ({int(r[4]) / 1024:.1f} MiB, target <= 32 MiB), "
          f"p50 **{float(r[5]) / float(few[5]):.2f}x**, p99 **{float(r[6]) / float(few[6]):.2f}x** at $rate/s")
print(f"- reference for the one-page list: curl downloads the same answer from the same server in "
      f"{int('$curl_ms') / 1000:.2f} s; the webhook is ready {int(rows['onepage'][0]) / int('$curl_ms'):.2f}x that")
if sys.argv[2].strip():
    print()
    print(sys.argv[2])
PY
cat bench/results/scale.md
