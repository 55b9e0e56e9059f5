#!/usr/bin/env python3
"""Soak of azwi-webhook against the real cluster's kube-apiserver (scripts/cluster.sh): AdmissionReviews at a fixed
rate for --minutes while ServiceAccounts are created, annotated, re-annotated and deleted without pause and, on a
schedule, the API server restarts (gracefully and as a crash) and the webhook's connections to it are cut; at the
end the webhook's view is compared with the server's, and its memory and descriptors are judged by their slope.

Usage: bench/soak/webhook_soak.py [--minutes 10] [--rate 200] [--cycles 1] [--background 0] [--no-faults]
       [--webhook build/install/bin/azwi-webhook] [--out FILE]
  --no-faults: the same load without the schedule, as a reference
  --cycles N: the schedule below N times over, each in 1/N of the run: memory that only reaches a high-water mark
              ends each cycle at the same figure, a leak ends each higher
  --background N: N more annotated ServiceAccounts in a namespace of their own, alive through the run, so that each
              list after a restart carries them (a cluster's weight, not the churn's)

Memory is judged by two figures sampled every 5 s: the resident set (/proc) and the heap in use, the bytes the
webhook has allocated and not freed (its azwi_heap_in_use_bytes metric, malloc's own count). Allocator memory kept
for reuse after a burst raises the first and not the second; a leak raises both.

The webhook runs as a process of this machine inside the cluster's network namespace (the API server's only
address, 10.242.0.1, is there), with a kubeconfig as the cluster admin whose server is a TCP relay of this script
on 127.0.0.1 in that namespace: the relay can reset every connection (a watch dropped by the network) or refuse
connections for a while (the webhook cut off while the API server keeps taking writes). It does not run as a pod
because its resident set and descriptors are read from /proc, and because a restart of the API server is the
fault under test, not a rescheduling of the webhook.

The cluster named by AZWI_CLUSTER_NAME (default azwisoak) is used when it is up, else brought up and taken down at
the end. Needs root. Every wait and loop is bounded; network traffic stays in the cluster's namespace.

The schedule, in shares of the run (of a cycle; one fault at a time: a fault due while another lasts waits for it): connections
reset at 0.08, 0.30, 0.62 and 0.93; the API server restarted with SIGTERM (its graceful shutdown holds open watches
up to 60 s) at 0.15 and 0.70, with SIGKILL (5 s down) at 0.40 and 0.85; the relay refusing connections for 0.07 of
the run, at least 42 s (longer than the webhook's 30 s backoff ceiling) at 0.50 while the writes go on. A
restart makes the webhook list again (its resourceVersion is older than the new API server's watch cache: 410);
the refusal does not, so the reset after it shows how soon a broken watch that had worked is opened again.

Admissions during the run go to the stable accounts and to churned ones that have existed 60 s (time for the
webhook to have learned them from its watch or a GET even across a fault); each must be allowed. An answer naming
an older client ID than the latest acknowledged write is counted as stale, with how long it had been stale. At the
end (churn stopped) every ServiceAccount name the run used is admitted again until the answers equal what the
server holds (a deleted account is refused with 400), at most 120 s: an answer still differing then is a lost update.
"""
import argparse
import base64
import collections
import ctypes
import http.client
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from fixture import free_port, webhook_certificate, write_kubeconfig  # bench/soak/fixture.py
from samples import proc_sample, rss_parts, slope_per_minute  # bench/soak/samples.py

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLIENT_ID = "azure.workload.identity/client-id"
API_HOST, API_PORT = "10.242.0.1", 6443  # scripts/cluster.sh's node address
WARMUP = 60  # seconds before memory is judged, and the age of a churned account before it gets admissions
SETTLE_LIMIT = 120


def log(*a):
    print("soak:", *a, file=sys.stderr, flush=True)


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"soak: {what} within {seconds} s")


def enter_netns(path):
    """This thread (and every thread and process started from it later) into the network namespace at path."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise SystemExit(f"soak: setns({path}): {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


class Relay:
    """TCP relay 127.0.0.1:port -> the API server. reset() ends every relayed connection with a RST on both sides;
    refuse(seconds) closes the listening socket for that long (connections are refused) after a reset."""

    def __init__(self):
        self.port = free_port()
        self.lock = threading.Lock()
        self.pairs = set()
        self.accepted = 0
        self.listener = None
        self.stop = threading.Event()
        self.listening = threading.Event()
        self.listening.set()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def listen(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.2)
        return s

    def serve(self):
        while not self.stop.is_set():
            if not self.listening.is_set():
                time.sleep(0.1)
                continue
            if self.listener is None:
                self.listener = self.listen()
            try:
                down, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                continue
            try:
                up = socket.create_connection((API_HOST, API_PORT), timeout=3)
                up.settimeout(None)
            except OSError:
                down.close()  # the API server is down: so is the relayed connection
                continue
            pair = (down, up)
            with self.lock:
                self.pairs.add(pair)
                self.accepted += 1
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self.pump, args=(a, b, pair), daemon=True).start()

    def pump(self, src, dst, pair):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)  # the half-close passes on
        except OSError:
            pass
        with self.lock:
            self.pairs.discard(pair)

    def reset(self):
        with self.lock:
            pairs = list(self.pairs)
            self.pairs.clear()
        for pair in pairs:
            for s in pair:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.shutdown(socket.SHUT_RD)  # wakes the pump blocked in recv; sends nothing
                    s.close()  # with a zero linger: RST
                except OSError:
                    pass
        return len(pairs)

    def refuse(self, seconds):
        self.listening.clear()
        time.sleep(0.3)  # the accept loop notices
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        n = self.reset()
        time.sleep(seconds)
        self.listening.set()
        return n


class Api:
    """The API server as the cluster admin (client certificate), straight, not through the relay."""

    def __init__(self, state):
        self.ctx = ssl.create_default_context(cafile=f"{state}/pki/ca.crt")
        self.ctx.load_cert_chain(f"{state}/pki/admin.crt", f"{state}/pki/admin.key")
        self.conn = None

    def call(self, method, path, body=None, content_type="application/json"):
        """(status, parsed body); status 0 with the error text when no answer came."""
        for attempt in range(2):  # a keep-alive connection the server closed: once more on a new one
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(API_HOST, API_PORT, context=self.ctx, timeout=10)
            try:
                self.conn.request(method, path, json.dumps(body) if body is not None else None,
                                  {"Content-Type": content_type, "Accept": "application/json"})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, json.loads(data) if data else {}
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.conn.close()
                self.conn = None
                if attempt == 1 or not isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError)):
                    return 0, str(e)
        return 0, "unreachable"

    def service_accounts(self):
        status, body = self.call("GET", "/api/v1/serviceaccounts?limit=0")
        if status != 200:
            raise RuntimeError(f"list service accounts: {status} {body}")
        return {(i["metadata"]["namespace"], i["metadata"]["name"]):
                (i["metadata"].get("annotations") or {}).get(CLIENT_ID) for i in body["items"]}


class Book:
    """What the churn wrote and the server acknowledged: per account, its client IDs in order with the time each
    write was acknowledged (None: no annotation), and which accounts admissions may go to."""

    def __init__(self):
        self.lock = threading.Lock()
        self.history = {}  # name -> [(client ID or None, acknowledged at)]
        self.created = {}  # name -> when its creation was acknowledged (live accounts only)
        self.stable = []
        self.eligible = []  # names admissions pick from
        self.ever = set()

    def pick(self):
        with self.lock:
            return random.choice(self.eligible) if self.eligible else None


def review(ns, sa):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"generateName": "soak-", "namespace": ns, "labels": {"azure.workload.identity/use": "true"}},
           "spec": {"serviceAccountName": sa, "containers": [{"name": "app", "image": "app"}]}}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": str(uuid.uuid4()), "kind": {"group": "", "version": "v1", "kind": "Pod"},
                                   "resource": {"group": "", "version": "v1", "resource": "pods"},
                                   "namespace": ns, "operation": "CREATE", "object": pod}})


def answer_of(status, body):
    """('ok', client ID or None) for an allowed admission, ('denied', 'CODE message') or ('error', text)."""
    if status != 200:
        return "error", f"HTTP {status}: {body[:200]!r}"
    try:
        response = json.loads(body)["response"]
    except (ValueError, KeyError, TypeError):
        return "error", f"not an AdmissionReview: {body[:200]!r}"
    if not response.get("allowed"):
        st = response.get("status", {})
        return "denied", f"{st.get('code')} {st.get('message', '')}"
    client_id = None
    for op in json.loads(base64.b64decode(response.get("patch", "") or "W10=")):
        values = op.get("value") if isinstance(op.get("value"), list) else [op.get("value")]
        for v in values:
            if isinstance(v, dict) and v.get("name") == "AZURE_CLIENT_ID":
                client_id = v.get("value")
            # a whole container (env added with it): look inside
            if isinstance(v, dict) and isinstance(v.get("env"), list):
                for e in v["env"]:
                    if e.get("name") == "AZURE_CLIENT_ID":
                        client_id = e.get("value")
    return "ok", client_id


class Admitter:
    def __init__(self, port, ca):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=ca)
        self.conn = None

    def admit(self, ns, sa):
        body = review(ns, sa)
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
            try:
                self.conn.request("POST", "/mutate-v1-pod", body, {"Content-Type": "application/json"})
                r = self.conn.getresponse()
                return answer_of(r.status, r.read())
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    return "error", f"connection: {e}"
        return "error", "unreachable"


def create_background(api, ns, count):
    status, body = api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                            "metadata": {"name": ns}})
    if status != 201:
        raise SystemExit(f"soak: cannot create namespace {ns}: {status} {body}")
    t0 = time.monotonic()
    for i in range(count):
        status, body = api.call("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                                {"apiVersion": "v1", "kind": "ServiceAccount",
                                 "metadata": {"name": f"app-{i}", "labels": {"app": f"app-{i % 50}"},
                                              "annotations": {CLIENT_ID: str(uuid.uuid4()),
                                                              "azure.workload.identity/tenant-id": str(uuid.uuid4())}}})
        if status != 201:
            raise SystemExit(f"soak: cannot create background account {i}: {status} {body}")
    log(f"{count} background accounts created in {ns} in {time.monotonic() - t0:.0f} s")


def metrics(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=int, default=200, help="admissions per second, over 4 keep-alive connections")
    ap.add_argument("--churn-rate", type=float, default=10, help="ServiceAccount writes per second")
    ap.add_argument("--stable", type=int, default=100, help="accounts that live through the run (re-annotated)")
    ap.add_argument("--churned", type=int, default=150, help="churned accounts alive at a time")
    ap.add_argument("--no-faults", action="store_true", help="the same load without the schedule (a reference)")
    ap.add_argument("--cycles", type=int, default=1, help="the fault schedule this many times over the run")
    ap.add_argument("--background", type=int, default=0,
                    help="annotated accounts in a namespace of their own, alive through the run")
    ap.add_argument("--webhook", default="build/install/bin/azwi-webhook")
    ap.add_argument("--out", default="bench/results/webhook-soak.md")
    a = ap.parse_args()
    if a.cycles < 1 or a.background < 0:
        ap.error("--cycles must be at least 1 and --background at least 0")
    if os.geteuid() != 0:
        raise SystemExit("soak: needs root (the cluster, its network namespace)")
    duration = a.minutes * 60
    name = os.environ.setdefault("AZWI_CLUSTER_NAME", "azwisoak")
    cluster_sh = os.path.join(ROOT, "scripts", "cluster.sh")
    state = f"/var/lib/{name}-cluster"
    ours = subprocess.run([cluster_sh, "status"], capture_output=True).returncode != 0
    if ours:
        subprocess.run([cluster_sh, "down"], check=False)
        subprocess.run([cluster_sh, "up"], check=True, timeout=1800)
    webhook_bin = os.path.abspath(a.webhook)
    scratch = tempfile.mkdtemp(prefix="azwi-webhook-soak-")
    procs = []
    try:
        return run(a, duration, cluster_sh, state, name, webhook_bin, scratch, procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if ours:
            subprocess.run([cluster_sh, "down"], check=False)


def heap_and_cache(port):
    """The webhook's azwi_heap_in_use_bytes and the number of accounts in its cache (what the heap holds grows with
    it: the churn keeps up to --churned more alive), None when the scrape fails."""
    try:
        m = metrics(port)
        heap, cached = m.get("azwi_heap_in_use_bytes"), m.get("azwi_webhook_serviceaccount_cache_size")
        return (heap, cached) if heap is not None and cached is not None else None
    except (OSError, http.client.HTTPException, ValueError):
        return None


def run(a, duration, cluster_sh, state, name, webhook_bin, scratch, procs):
    enter_netns(f"/run/netns/{name}-node")
    webhook_certificate(scratch, "soak")
    relay = Relay()
    write_kubeconfig(f"{scratch}/kubeconfig", f"https://127.0.0.1:{relay.port}", f"{state}/pki/ca.crt",
                     f'{{client-certificate: "{state}/pki/admin.crt", client-key: "{state}/pki/admin.key"}}')
    api = Api(state)
    ns = f"soak-{int(time.time())}"
    status, body = api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                            "metadata": {"name": ns}})
    if status != 201:
        raise SystemExit(f"soak: cannot create namespace {ns}: {status} {body}")
    background_ns = f"{ns}-background"
    if a.background:
        create_background(api, background_ns, a.background)
    book = Book()
    for i in range(a.stable):
        sa, cid = f"stable-{i}", str(uuid.uuid4())
        status, body = api.call("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                                {"apiVersion": "v1", "kind": "ServiceAccount",
                                 "metadata": {"name": sa, "annotations": {CLIENT_ID: cid}}})
        if status != 201:
            raise SystemExit(f"soak: cannot create {sa}: {status} {body}")
        book.history[sa] = [(cid, time.monotonic())]
        book.stable.append(sa)
        book.ever.add(sa)
    book.eligible = list(book.stable)

    port, hport, mport = free_port(), free_port(), free_port()
    wlog = open(f"{scratch}/webhook.log", "w")
    webhook = subprocess.Popen([webhook_bin, "--disable-cert-rotation", "--kubeconfig", f"{scratch}/kubeconfig",
                                "--webhook-cert-dir", f"{scratch}/certs", "--webhook-addr", f"127.0.0.1:{port}",
                                "--health-addr", f"127.0.0.1:{hport}", "--metrics-addr", f"127.0.0.1:{mport}"],
                               env=dict(os.environ, AZURE_TENANT_ID="soak-tenant"), stdout=wlog, stderr=wlog)
    procs.append(webhook)

    def ready():
        c = http.client.HTTPConnection("127.0.0.1", hport, timeout=2)
        c.request("GET", "/readyz")
        ok = c.getresponse().status == 200
        c.close()
        return ok
    wait_for(ready, 30, "the webhook was not ready")
    cache_at_start = metrics(mport).get("azwi_webhook_serviceaccount_cache_size")
    log(f"webhook ready (pid {webhook.pid}), namespace {ns}, {duration:.0f} s at {a.rate}/s")

    stop = threading.Event()
    start = time.monotonic()
    lock = threading.Lock()
    counts = collections.Counter()
    failures = collections.Counter()
    first_failures = []
    latencies = []
    stale = []  # (seconds into the run, seconds stale)
    unknown = collections.Counter()

    def admission_client(index, connections):
        admitter = Admitter(port, f"{scratch}/tls.crt")
        interval = connections / a.rate
        next_at = start + index * interval / connections
        while not stop.is_set():
            now = time.monotonic()
            if now < next_at:
                time.sleep(next_at - now)
            next_at += interval
            sa = book.pick()
            if sa is None:
                continue
            t0 = time.monotonic()
            kind, value = admitter.admit(ns, sa)
            t1 = time.monotonic()
            with lock:
                counts["admissions"] += 1
                latencies.append(t1 - t0)
                if kind != "ok":
                    failures[value[:120]] += 1
                    if len(first_failures) < 10:
                        first_failures.append(f"{t0 - start:.1f} s {sa}: {value[:160]}")
                    continue
            with book.lock:
                hist = list(book.history.get(sa, []))
            values = [v for v, _ in hist]
            if not hist or value == values[-1]:
                continue
            # The answer is an older value: stale since the next acknowledged write (the last one it could be).
            idx = max((i for i, v in enumerate(values) if v == value), default=None)
            with lock:
                if idx is None:
                    unknown[sa] += 1
                else:
                    stale.append((t0 - start, t0 - hist[idx + 1][1]))

    churn_stats = collections.Counter()

    def churn():
        rng = random.Random(1)
        pending_delete = collections.deque()  # (delete at, name): out of the admission pool 2 s before
        live = []
        serial = 0
        interval = 1 / a.churn_rate
        next_at = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if now < next_at:
                time.sleep(next_at - now)
            next_at = max(next_at + interval, time.monotonic() - 1)
            now = time.monotonic()
            if pending_delete and pending_delete[0][0] <= now:
                _, sa = pending_delete[0]
                status, _ = api.call("DELETE", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}")
                if status in (200, 404):
                    pending_delete.popleft()
                    churn_stats["deleted"] += 1
                    with book.lock:
                        book.created.pop(sa, None)
                else:
                    churn_stats["write refused or lost"] += 1
                continue
            with book.lock:  # accounts old enough join the admission pool
                for sa in live:
                    if sa not in book.eligible and now - book.created[sa] >= WARMUP:
                        book.eligible.append(sa)
            choice = rng.random()
            if len(live) < a.churned and choice < 0.3:
                serial += 1
                sa = f"churn-{serial}"
                status, _ = api.call("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                                     {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}})
                if status in (201, 409):
                    live.append(sa)
                    churn_stats["created"] += 1
                    with book.lock:
                        book.history[sa] = [(None, time.monotonic())]
                        book.created[sa] = time.monotonic()
                        book.ever.add(sa)
                else:
                    serial -= 1
                    churn_stats["write refused or lost"] += 1
                continue
            if live and choice > 0.93:  # the oldest goes
                sa = live.pop(0)
                with book.lock:
                    if sa in book.eligible:
                        book.eligible.remove(sa)
                pending_delete.append((now + 2, sa))
                continue
            pool = book.stable if choice < 0.55 or not live else live
            sa = rng.choice(pool)
            cid = str(uuid.uuid4())
            status, _ = api.call("PATCH", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}",
                                 {"metadata": {"annotations": {CLIENT_ID: cid}}}, "application/merge-patch+json")
            if status == 200:
                churn_stats["annotated"] += 1
                with book.lock:
                    book.history[sa].append((cid, time.monotonic()))
            else:
                churn_stats["write refused or lost"] += 1
        for _, sa in pending_delete:
            api.call("DELETE", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}")

    events = []

    def restart(*args):
        t0 = time.monotonic()
        out = subprocess.run([cluster_sh, "restart-apiserver", *args], capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise SystemExit(f"soak: restart-apiserver failed: {out.stderr}")
        return f"API server down and back in {time.monotonic() - t0:.0f} s"

    cycle = duration / a.cycles
    refuse_for = max(42, round(0.07 * cycle))  # longer than the webhook's 30 s backoff ceiling however short the cycle
    schedule = [(0.08, "connections reset", lambda: f"{relay.reset()} connections"),
                (0.15, "API server restart, SIGTERM", lambda: restart()),
                (0.30, "connections reset", lambda: f"{relay.reset()} connections"),
                (0.40, "API server restart, SIGKILL", lambda: restart("--kill", "--down", "5")),
                (0.50, f"relay refusing connections for {refuse_for} s",
                 lambda: f"{relay.refuse(refuse_for)} connections reset"),
                (0.62, "connections reset", lambda: f"{relay.reset()} connections"),
                (0.70, "API server restart, SIGTERM", lambda: restart()),
                (0.85, "API server restart, SIGKILL", lambda: restart("--kill", "--down", "5")),
                (0.93, "connections reset", lambda: f"{relay.reset()} connections")]

    def faults():
        for at, what, act in ([] if a.no_faults else [(k * cycle + share * cycle, what, act)
                                                        for k in range(a.cycles) for share, what, act in schedule]):
            while time.monotonic() - start < at:
                if stop.wait(0.5):
                    return
            t = time.monotonic() - start
            log(f"{t:.0f} s: {what}")
            detail = act()
            events.append(f"{t:.0f} s {what} ({detail})")

    threads = [threading.Thread(target=admission_client, args=(i, 4), daemon=True) for i in range(4)]
    threads += [threading.Thread(target=churn, daemon=True), threading.Thread(target=faults, daemon=True)]
    for t in threads:
        t.start()
    samples = []
    parts_after_warmup = None
    while time.monotonic() - start < duration:
        if webhook.poll() is not None:
            raise SystemExit(f"soak: the webhook exited ({webhook.returncode}); its log: {scratch}/webhook.log")
        samples.append((time.monotonic() - start, proc_sample(webhook.pid), heap_and_cache(mport)))
        if parts_after_warmup is None and samples[-1][0] >= WARMUP:
            parts_after_warmup = rss_parts(webhook.pid)
        time.sleep(5)
    stop.set()
    for t in threads:
        t.join(330)
    log("run over; comparing the webhook's view with the server's")

    # The end: every name the run used, admitted until the answers match the server's objects.
    admitter = Admitter(port, f"{scratch}/tls.crt")
    settle_start = time.monotonic()
    mismatches, server, first_mismatches = [], {}, None
    while True:
        server = api.service_accounts()
        mismatches = []
        for sa in sorted(book.ever):
            kind, value = admitter.admit(ns, sa)
            want = server.get((ns, sa), "absent")
            if want == "absent":
                if not (kind == "denied" and value.startswith("400")):
                    mismatches.append(f"{sa}: deleted on the server, the webhook answered {kind} {value}")
            elif kind != "ok" or value != want:
                mismatches.append(f"{sa}: the server holds {want}, the webhook answered {kind} {value}")
        if first_mismatches is None:
            first_mismatches = len(mismatches)
        if not mismatches or time.monotonic() - settle_start > SETTLE_LIMIT:
            break
        time.sleep(5)
    settled_after = time.monotonic() - settle_start
    m = metrics(mport)
    cache_size = m.get("azwi_webhook_serviceaccount_cache_size")
    samples.append((time.monotonic() - start, proc_sample(webhook.pid), heap_and_cache(mport)))
    parts_at_end = rss_parts(webhook.pid)
    webhook.send_signal(signal.SIGTERM)
    webhook.wait(15)
    api.call("DELETE", f"/api/v1/namespaces/{ns}")  # its accounts go with it: the next run starts from as many
    if a.background:
        api.call("DELETE", f"/api/v1/namespaces/{background_ns}")
    kube_lines = collections.Counter()
    with open(f"{scratch}/webhook.log") as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("logger") == "kube":
                kube_lines[f"{e.get('level')}: {e.get('msg')}"] += 1

    lat = sorted(latencies)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0
    settled = [(t, s, h) for t, s, h in samples if t >= WARMUP] or samples
    rss = [(t, s[0]) for t, s, _ in settled]
    fds = [(t, s[1]) for t, s, _ in settled]
    heap = [(t, h[0] / 1024) for t, _, h in settled if h is not None]
    heap_second_half = [(t, v) for t, v in heap if t >= duration / 2]
    at_cycle_ends = [max((i for i, (t, _, _) in enumerate(samples) if t <= (k + 1) * cycle), default=0)
                     for k in range(a.cycles)]
    second_half = [(t, v) for t, v in rss if t >= duration / 2]
    quarters = [next((v for t, v in rss if t >= q * duration), rss[-1][1]) for q in (0.25, 0.5, 0.75)]
    restarts = {k.split('"')[1]: int(v) for k, v in m.items()
                if k.startswith("azwi_webhook_serviceaccount_watch_restarts_total{")}
    stale_long = sorted((s for s in stale), key=lambda x: -x[1])
    failed = sum(failures.values())
    report = f"""# azwi-webhook soak

`bench/soak/webhook_soak.py --minutes {a.minutes:g} --rate {a.rate}{f' --cycles {a.cycles}' if a.cycles > 1 else ''}{f' --background {a.background}' if a.background else ''}{' --no-faults' if a.no_faults else ''}`: {duration:.0f} s of AdmissionReviews at {a.rate}/s over
4 keep-alive TLS connections to the webhook (a process in the cluster's network namespace, the cluster admin's
kubeconfig through a TCP relay that can cut its connections) against the real kube-apiserver of
`scripts/cluster.sh`, while {a.stable} stable ServiceAccounts were re-annotated and up to {a.churned} others created, annotated,
re-annotated and deleted, {a.churn_rate:g} writes/s{f', with {a.background} more annotated accounts in a namespace of their own' if a.background else ''}.
Faults{f' (the schedule {a.cycles} times, once every {cycle:.0f} s)' if a.cycles > 1 and not a.no_faults else ''}: {'; '.join(events) or 'none'}.
Machine: {os.cpu_count()} cores shared with other work; {time.strftime('%Y-%m-%d')}.

| measure | value |
|---|---|
| admissions | {counts['admissions']} |
| failed admissions | {failed}{' (' + '; '.join(f'{n}x {r}' for r, n in failures.most_common(5)) + ')' if failed else ''} |
| latency p50 / p99 / max | {pct(0.5):.2f} / {pct(0.99):.2f} / {pct(1.0):.2f} ms |
| stale answers (an older client ID than the last acknowledged write) | {len(stale)}, the longest {stale_long[0][1] if stale else 0:.1f} s stale (at {stale_long[0][0] if stale else 0:.0f} s into the run) |
| answers naming a client ID never acknowledged | {sum(unknown.values())} |
| ServiceAccount writes acknowledged | {churn_stats['created']} created, {churn_stats['annotated']} annotated, {churn_stats['deleted']} deleted |
| writes refused or unanswered (API server down) | {churn_stats['write refused or lost']} |
| watch restarts (webhook metric, by reason) | {', '.join(f'{k} {v}' for k, v in sorted(restarts.items())) or 'none'} |
| webhook log lines of its API client | {'; '.join(f'{n}x {k}' for k, n in kube_lines.most_common()) or 'none'} |
| end: names compared / differing from the server | {len(book.ever)} / {len(mismatches)} ({first_mismatches} at the first comparison; answers equal the server's after {settled_after:.1f} s{'' if not mismatches else ': NOT within ' + str(SETTLE_LIMIT) + ' s'}) |
| end: accounts on the server / in the webhook's cache | {len(server)} / {cache_size:.0f} |
| RSS after {WARMUP} s / at the end | {rss[0][1]} / {rss[-1][1]} KiB |
| RSS anonymous / file-backed after {WARMUP} s, at the end | {' / '.join(map(str, parts_after_warmup or (0, 0)))}, {' / '.join(map(str, parts_at_end))} KiB |
| RSS at 1/4, 1/2, 3/4 of the run | {' / '.join(str(v) for v in quarters)} KiB |
| RSS slope after {WARMUP} s / over the second half | {slope_per_minute(rss):+.2f} / {slope_per_minute(second_half):+.2f} KiB/min |
| accounts in the webhook's cache at the start / at the end | {cache_at_start:.0f} / {cache_size:.0f} |
| RSS every minute | {' '.join(str(s[0]) for t, s, _ in samples[::12])} KiB |
| heap in use after {WARMUP} s / at the end | {heap[0][1] if heap else 0:.0f} / {heap[-1][1] if heap else 0:.0f} KiB |
| heap in use slope after {WARMUP} s / over the second half | {slope_per_minute(heap):+.2f} / {slope_per_minute(heap_second_half):+.2f} KiB/min |
| heap in use every minute | {' '.join(f'{h[0] / 1024:.0f}' for t, s, h in samples[::12] if h is not None)} KiB |
| RSS KiB / heap in use KiB / accounts cached, at the end of each cycle | {' · '.join(f'{samples[i][1][0]} / {(samples[i][2] or (0, 0))[0] / 1024:.0f} / {(samples[i][2] or (0, 0))[1]:.0f}' for i in at_cycle_ends)} |
| open descriptors after {WARMUP} s / at the end | {fds[0][1]} / {fds[-1][1]} |
| descriptor slope after {WARMUP} s | {slope_per_minute(fds):+.3f} /min |
"""
    if first_failures:
        report += "\nFirst failures: " + "; ".join(first_failures) + "\n"
    if mismatches:
        report += "\nDiffering at the end (first 10): " + "; ".join(mismatches[:10]) + "\n"
    if stale_long:
        report += "\nLongest stale answers (seconds into the run, seconds stale): " + ", ".join(
            f"{t:.0f} s {s:.1f} s" for t, s in stale_long[:8]) + "\n"
    print(report)
    os.makedirs(os.path.dirname(os.path.join(ROOT, a.out)), exist_ok=True)
    with open(os.path.join(ROOT, a.out), "w") as f:
        f.write(report)
    log(f"webhook log kept in {scratch}/webhook.log")
    return 1 if failed or mismatches or (cache_size != len(server)) else 0


if __name__ == "__main__":
    sys.exit(main())
