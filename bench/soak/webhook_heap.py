#!/usr/bin/env python3
"""What the webhook's own allocations do over repeated rounds of the soak's operations, measured by heaptrack rather
than by malloc's counters: a leak grows the program's live allocations with every round; malloc's bookkeeping (chunks
parked in per-thread caches, which mallinfo2 counts as in use) can drift without one.

Usage: bench/soak/webhook_heap.py [--rounds 5] [--webhook build/install/bin/azwi-webhook]

The webhook runs under heaptrack against the stand-in API server (tests/kube/fake_apiserver.py) on loopback. After a
warm-up round, each round does what a soak does to the webhook: /metrics scrapes and /readyz probes (a connection
each), 3000 admissions on one keep-alive TLS connection and 100 on a connection each, 100 ServiceAccounts created and
deleted (watch events), 100 admissions naming accounts that do not exist (a GET each, answered 404), 3 watches broken
off and 2 compactions (410 Gone: a relist); the webhook asks for watches that the server ends after 10 s, so that
watches also end as the API server's timeout ends them. After the last round the webhook is killed (SIGKILL, so that nothing is
freed at exit): heaptrack's "memory leaked" is then what the program held at that moment. Run it twice, with
--rounds 1 and --rounds 5: equal figures mean the rounds leave nothing behind. Needs heaptrack (Debian: heaptrack).
Every wait is bounded; traffic stays on 127.0.0.1.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import uuid

from fixture import free_port, webhook_certificate, write_kubeconfig  # bench/soak/fixture.py

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Probe:
    def __init__(self, scratch, api_port, port, hport, mport):
        self.ctx = ssl.create_default_context(cafile=f"{scratch}/tls.crt")
        self.api_port, self.port, self.hport, self.mport = api_port, port, hport, mport
        self.serial = 0

    def call(self, port, path, tls=False, method="GET", body=None):
        c = (http.client.HTTPSConnection("127.0.0.1", port, context=self.ctx, timeout=10) if tls
             else http.client.HTTPConnection("127.0.0.1", port, timeout=10))
        try:
            c.request(method, path, body, {"Content-Type": "application/json", "Authorization": "Bearer soak"})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def heap_in_use(self):
        text = self.call(self.mport, "/metrics")[1].decode()
        return int(float(re.search(r"^azwi_heap_in_use_bytes (\S+)$", text, re.M).group(1)))

    @staticmethod
    def review(sa):
        return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "namespace": "ns",
            "object": {"metadata": {"name": "p", "labels": {"azure.workload.identity/use": "true"}},
                       "spec": {"serviceAccountName": sa, "containers": [{"name": "c", "image": "i"}]}}}})

    def put_account(self, name):
        body = json.dumps({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
            "namespace": "ns", "name": name, "annotations": {"azure.workload.identity/client-id": str(uuid.uuid4())}}})
        self.call(self.api_port, "/__test__/serviceaccounts", True, "POST", body)

    def round(self):
        for _ in range(100):
            self.call(self.mport, "/metrics")
            self.call(self.hport, "/readyz")
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
        for _ in range(3000):
            c.request("POST", "/mutate-v1-pod", self.review("sa"), {"Content-Type": "application/json"})
            c.getresponse().read()
        c.close()
        for _ in range(100):
            self.call(self.port, "/mutate-v1-pod", True, "POST", self.review("sa"))
        for _ in range(100):
            self.serial += 1
            self.put_account(f"churn-{self.serial}")
            self.call(self.api_port, f"/__test__/serviceaccounts/ns/churn-{self.serial}", True, "DELETE")
        for _ in range(100):
            self.serial += 1
            self.call(self.port, "/mutate-v1-pod", True, "POST", self.review(f"missing-{self.serial}"))
        for _ in range(3):
            self.call(self.api_port, "/__test__/break-watches", True, "POST", "{}")
            time.sleep(1.2)  # the webhook opens its watch again
        for _ in range(2):
            self.call(self.api_port, "/__test__/compact", True, "POST", "{}")
            time.sleep(1.5)  # the relist


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--webhook", default="build/install/bin/azwi-webhook")
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    for tool in ("heaptrack", "heaptrack_print", "openssl"):
        if not shutil.which(tool):
            raise SystemExit(f"webhook_heap: {tool} is missing (apt-get install heaptrack openssl)")
    scratch = tempfile.mkdtemp(prefix="azwi-webhook-heap-")
    webhook_certificate(scratch, "heap")
    api_port, port, hport, mport = free_port(), free_port(), free_port(), free_port()
    procs = []
    try:
        api = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests/kube/fake_apiserver.py"), "--port",
                                str(api_port), "--cert", f"{scratch}/tls.crt", "--key", f"{scratch}/tls.key",
                                "--token", "soak"], stdout=subprocess.PIPE, stderr=open(f"{scratch}/api.log", "w"),
                               text=True)
        procs.append(api)
        api.stdout.readline()  # "listening on PORT"
        write_kubeconfig(f"{scratch}/kubeconfig", f"https://127.0.0.1:{api_port}", f"{scratch}/tls.crt", "{token: soak}")
        webhook = os.path.abspath(a.webhook)
        trace = f"{scratch}/heaptrack"
        hook = subprocess.Popen(["heaptrack", "-o", trace, webhook, "--disable-cert-rotation", "--kubeconfig",
                                 f"{scratch}/kubeconfig", "--webhook-cert-dir", f"{scratch}/certs",
                                 "--webhook-addr", f"127.0.0.1:{port}", "--health-addr", f"127.0.0.1:{hport}",
                                 "--metrics-addr", f"127.0.0.1:{mport}", "--watch-timeout-seconds", "10"],
                                env=dict(os.environ, AZURE_TENANT_ID="heap"),
                                stdout=open(f"{scratch}/webhook.log", "w"), stderr=subprocess.STDOUT)
        procs.append(hook)
        probe = Probe(scratch, api_port, port, hport, mport)
        deadline = time.monotonic() + 60
        while True:
            try:
                if probe.call(hport, "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"webhook_heap: the webhook was not ready within 60 s; its log: {scratch}/webhook.log")
            time.sleep(0.2)
        probe.put_account("sa")
        time.sleep(1)
        probe.round()  # warm-up: first uses of every path
        heap = [probe.heap_in_use()]
        for _ in range(a.rounds):
            probe.round()
            heap.append(probe.heap_in_use())
        pid = int(subprocess.run(["pgrep", "-f", f"^{webhook} --disable-cert-rotation"], capture_output=True,
                                 text=True).stdout.split()[0])
        os.kill(pid, signal.SIGKILL)
        hook.wait(120)  # heaptrack writes its file once the program has gone
        files = [f for f in os.listdir(scratch) if f.startswith("heaptrack")]
        summary = subprocess.run(["heaptrack_print", "-f", os.path.join(scratch, files[0]), "--print-peaks", "0",
                                  "--print-allocators", "0", "--print-temporary", "0", "--print-leaks", "0"],
                                 capture_output=True, text=True, timeout=300).stdout
        live = re.search(r"total memory leaked: (\S+)", summary).group(1)
        calls = re.search(r"calls to allocation functions: (\d+)", summary).group(1)
        print(f"rounds after warm-up: {a.rounds}")
        print(f"azwi_heap_in_use_bytes after warm-up and each round (KiB): "
              f"{' '.join(f'{h / 1024:.0f}' for h in heap)}")
        print(f"heaptrack: allocations {calls}, held by the program when killed: {live}")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
