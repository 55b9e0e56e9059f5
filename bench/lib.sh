# Shared helpers for the benchmark scripts (sourced).
. scripts/lib.sh
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
# cpu_ms PID: user + system CPU time the process has used, in ms (what a loaded machine does not inflate).
cpu_ms() { awk -v tck="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%d", ($12 + $13) * 1000 / tck}' "/proc/$1/stat"; }
# wrk_field FILE: prints "req_per_s p50_ms p99_ms" from wrk --latency output.
wrk_fields() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    n, u = float(m.group(1)), m.group(2)
    return n / 1000 if u == "us" else n * 1000 if u == "s" else n
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {errors.group(1) if errors else 0}")
PY
}
# nginx_conf DIR PORT LOCATION FILE CONTENT_TYPE [extra server directives]: a one-worker nginx serving FILE at LOCATION.
nginx_conf() {
  local dir=$1 port=$2 location=$3 file=$4 ctype=$5 extra=${6:-}
  mkdir -p "$dir/logs"
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 1024; }
http {
  access_log $dir/logs/access.log;
  keepalive_requests 10000000;
  keepalive_timeout 60s;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port $extra;
    location = $location { default_type "$ctype"; alias $file; }
  }
}
CONF
}
# start_token_emulator EMULATOR: starts azwi-emulator on loopback (its PID joins pids, its files go under $state/emu)
# and exports the workload-identity environment that makes azwi-proxy exchange tokens with it.
start_token_emulator() {
  local tenant=bench-tenant client=bench-client
  "$1" serve --listen 127.0.0.1:0 --state-dir "$state/emu" --ready-file "$state/url" \
    --tenant-id "$tenant" --client-id "$client" >"$state/emulator.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$state/url" ] && break; sleep 0.1; done
  "$1" mint-token --state-dir "$state/emu" --out "$state/token" >/dev/null 2>&1
  export AZURE_TENANT_ID=$tenant AZURE_CLIENT_ID=$client AZURE_FEDERATED_TOKEN_FILE=$state/token
  export AZURE_AUTHORITY_HOST=$(cat "$state/url") SSL_CERT_FILE=$state/emu/ca.crt
}
# first_token PROXY PORT [ANSWER_FILE]: waits (at most 20 s: under valgrind start-up is slow) until the azwi-proxy on PORT
# answers PROXY --probe, then asks it for one token (an error answer fails).
first_token() {
  local i
  for i in $(seq 100); do
    "$1" --probe --proxy-port="$2" --log-level=error 2>/dev/null && break
    ((i < 100)) || { echo "azwi-proxy on port $2 is not ready" >&2; return 1; }
    sleep 0.2
  done
  curl -fsS -m 60 -H 'Metadata: true' \
    "http://127.0.0.1:$2/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net" \
    >"${3:-/dev/null}"
}
