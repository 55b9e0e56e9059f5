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
