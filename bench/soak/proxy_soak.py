#!/usr/bin/env python3
"""Soak of azwi-proxy: a fixed request rate for DURATION seconds while the emulator (standing in for Entra ID)
injects faults on a schedule, and the proxy's resident memory and open descriptors sampled throughout.

Usage: bench/soak/proxy_soak.py [--duration 600] [--rate 20] [--bin build/install/bin] [--out FILE]

The schedule, in shares of the duration (seconds for the default 600 s), with tokens that live 240 s, are refreshed
after 60 s and handed out until 216 s: a 503 outage of 0.2 (120 s: longer than the 60 s refresh margin, shorter than
a token's life) from 0.12; a 429 storm of 0.1 from 0.42; answers slowed by 3 s from 0.62 to 0.72; 20 failed (503)
exchanges at 0.77. A valid token exists throughout, so every request must succeed. Prints the report (failed requests, latency,
RSS and descriptor counts with their least-squares slope) and writes it to --out. Loopback only; every wait bounded.
"""
import argparse
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from fixture import free_port  # bench/soak/fixture.py
from samples import proc_sample, slope_per_minute  # bench/soak/samples.py

TENANT, CLIENT = "soak-tenant", "soak-client"
QUERY = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net"


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise SystemExit(f"soak: {what} within {seconds} s")


class Emulator:
    def __init__(self, bin_dir, state):
        self.state = state
        ready = os.path.join(state, "url")
        self.log = open(os.path.join(state, "emulator.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, "azwi-emulator"), "serve", "--listen", "127.0.0.1:0", "--state-dir",
             os.path.join(state, "emu"), "--ready-file", ready, "--tenant-id", TENANT, "--client-id", CLIENT,
             "--token-lifetime", "240", "--refresh-in", "60"], stdout=self.log, stderr=self.log)
        wait_for(lambda: os.path.exists(ready) and open(ready).read(), 20, "the emulator did not start")
        self.url = open(ready).read().strip()
        self.ctx = ssl.create_default_context(cafile=os.path.join(state, "emu", "ca.crt"))

    def faults(self, settings):
        host, port = self.url[len("https://"):].rstrip("/").split(":")
        c = http.client.HTTPSConnection(host, int(port), context=self.ctx, timeout=10)
        c.request("PUT", "/_emulator/faults", json.dumps(settings), {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        c.close()
        if r.status != 200:
            raise SystemExit(f"soak: the emulator refused the faults {settings}: {r.status}")

    def token_requests(self):
        host, port = self.url[len("https://"):].rstrip("/").split(":")
        c = http.client.HTTPSConnection(host, int(port), context=self.ctx, timeout=10)
        c.request("GET", "/_emulator/stats")
        stats = json.loads(c.getresponse().read())
        c.close()
        return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=600)
    ap.add_argument("--rate", type=int, default=20, help="requests per second, over 4 keep-alive connections")
    ap.add_argument("--bin", default="build/install/bin")
    ap.add_argument("--out", default="bench/results/soak.md")
    a = ap.parse_args()
    state = tempfile.mkdtemp(prefix="azwi-soak-")
    emulator = Emulator(a.bin, state)
    token = os.path.join(state, "token")
    minter = subprocess.Popen([os.path.join(a.bin, "azwi-emulator"), "mint-token", "--state-dir",
                               os.path.join(state, "emu"), "--out", token, "--lifetime", "600", "--keep-fresh"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: os.path.exists(token), 10, "the token was not minted")
    port = free_port()
    env = dict(os.environ, AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT, AZURE_FEDERATED_TOKEN_FILE=token,
               AZURE_AUTHORITY_HOST=emulator.url, SSL_CERT_FILE=os.path.join(state, "emu", "ca.crt"))
    proxy_log = open(os.path.join(state, "proxy.log"), "w")
    proxy = subprocess.Popen([os.path.join(a.bin, "azwi-proxy"), f"--proxy-port={port}", "--imds-endpoint=http://127.0.0.1:1"],
                             env=env, stdout=proxy_log, stderr=proxy_log)
    try:
        wait_for(lambda: subprocess.run([os.path.join(a.bin, "azwi-proxy"), "--probe", f"--proxy-port={port}",
                                         "--log-level=error"], env=env).returncode == 0, 20, "the proxy did not start")
        schedule = [(0.12, "outage 503", {"outage_seconds": int(0.2 * a.duration)}),
                    (0.42, "429 storm", {"outage_seconds": int(0.1 * a.duration), "outage_status": 429,
                                         "retry_after": 5}),
                    (0.62, "slow answers", {"latency_ms": 3000}),
                    (0.72, "faults cleared", {}),
                    (0.77, "20 failed exchanges", {"fail_next": 20, "fail_status": 503})]
        results, lock, stop = [], threading.Lock(), threading.Event()
        start = time.monotonic()

        def client(index, connections):
            interval = connections / a.rate
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            next_at = start + index * interval / connections
            while not stop.is_set():
                now = time.monotonic()
                if now < next_at:
                    time.sleep(next_at - now)
                next_at += interval
                t0 = time.monotonic()
                try:
                    conn.request("GET", QUERY, headers={"Metadata": "true"})
                    r = conn.getresponse()
                    body = r.read()
                    ok = r.status == 200 and b"access_token" in body
                    status = r.status
                except (OSError, http.client.HTTPException) as e:
                    ok, status = False, str(e)
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                with lock:
                    results.append((t0 - start, time.monotonic() - t0, ok, status))

        threads = [threading.Thread(target=client, args=(i, 4)) for i in range(4)]
        for t in threads:
            t.start()
        samples, events, pending = [], [], list(schedule)
        while time.monotonic() - start < a.duration:
            elapsed = time.monotonic() - start
            while pending and elapsed >= pending[0][0] * a.duration:
                _, name, settings = pending.pop(0)
                emulator.faults(settings)
                events.append(f"{elapsed:.0f} s: {name}")
            if proxy.poll() is not None:
                raise SystemExit("soak: the proxy exited")
            samples.append((elapsed, proc_sample(proxy.pid)))
            time.sleep(5)
        stop.set()
        for t in threads:
            t.join(15)
        stats = emulator.token_requests()
    finally:
        for p in (proxy, minter, emulator.proc):
            p.send_signal(signal.SIGTERM)
        for p in (proxy, minter, emulator.proc):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()

    failed = [r for r in results if not r[2]]
    lat = sorted(r[1] for r in results)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0
    # The first minute is start-up (the first token, the TLS code faulted in); flatness is judged after it.
    settled = [(t, s) for t, s in samples if t >= 60] or samples
    rss = [(t, s[0]) for t, s in settled]
    fds = [(t, s[1]) for t, s in settled]
    report = f"""# azwi-proxy soak

{a.duration} s at {a.rate} requests/s over 4 keep-alive connections; the emulator as Entra ID with tokens of 240 s
refreshed after 60 s, faults on this schedule: {'; '.join(events)}.
Machine: {os.cpu_count()} cores (shared). Token requests the emulator answered: {json.dumps(stats.get('token_requests', stats))}.

| measure | value |
|---|---|
| requests | {len(results)} |
| failed requests | {len(failed)} |
| latency p50 / p99 / max | {pct(0.5):.2f} / {pct(0.99):.2f} / {pct(1.0):.2f} ms |
| RSS after 60 s / at the end | {rss[0][1]} / {rss[-1][1]} KiB |
| RSS slope after 60 s | {slope_per_minute(rss):+.2f} KiB/min |
| open descriptors after 60 s / at the end | {fds[0][1]} / {fds[-1][1]} |
| descriptor slope after 60 s | {slope_per_minute(fds):+.3f} /min |
"""
    if failed:
        report += "\nFirst failures (seconds into the run, status): " + ", ".join(
            f"{t:.1f} s {s}" for t, _, _, s in failed[:10]) + "\n"
    print(report)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
