"""A parallel client for bench/cluster/run.sh: creates COUNT pods with POST /api/v1/namespaces/NS/pods over
CONCURRENCY keep-alive HTTPS connections as fast as the API server answers, and prints a JSON line with the wall
time, each request's latency (ms) and the status codes. Runs inside the node's network namespace (nsenter).
  burst.py SERVER CA CERT KEY NAMESPACE POD_TEMPLATE_JSON COUNT CONCURRENCY PREFIX"""
import http.client
import json
import ssl
import sys
import threading
import time

server, ca, cert, key, ns, template_file, count, concurrency, prefix = sys.argv[1:10]
count, concurrency = int(count), int(concurrency)
host, port = server.rsplit(":", 1)
with open(template_file) as f:
    template = json.load(f)
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
bodies = []
for i in range(count):
    pod = json.loads(json.dumps(template))
    pod["metadata"]["name"] = f"{prefix}-{i:04d}"
    bodies.append(json.dumps(pod).encode())
lock = threading.Lock()
next_index = 0
latencies, codes, errors = [], {}, []
start = threading.Event()


def worker():
    global next_index
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
    conn.connect()  # the TLS handshake before the clock starts
    start.wait()
    while True:
        with lock:
            i = next_index
            next_index += 1
        if i >= count:
            break
        t = time.perf_counter()
        try:
            conn.request("POST", f"/api/v1/namespaces/{ns}/pods", body=bodies[i],
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            code = resp.status
        except Exception as e:  # noqa: BLE001 - counted and reported
            with lock:
                errors.append(repr(e))
            conn.close()
            conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
            continue
        ms = (time.perf_counter() - t) * 1000
        with lock:
            latencies.append(ms)
            codes[str(code)] = codes.get(str(code), 0) + 1
    conn.close()


threads = [threading.Thread(target=worker) for _ in range(concurrency)]
for th in threads:
    th.start()
time.sleep(0.5)
t0 = time.perf_counter()
start.set()
for th in threads:
    th.join(timeout=120)
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "latencies_ms": latencies, "codes": codes, "errors": errors[:5],
                  "error_count": len(errors), "unfinished": sum(th.is_alive() for th in threads)}))
